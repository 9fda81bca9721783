"""The served dataset's what-if scenarios, opened on first use.

Kept in the dataset's store when it has one
(:class:`~layers.planning.scenario_store.StoredScenarios`), else as JSON files beside
the dataset (:class:`~layers.planning.scenario_store.ScenarioStore`, in
``settings.scenario_dir`` when set, else ``<dataset>.scenarios/``).  Both kinds
have the same methods (``list``, ``get``, ``create``, ``replace``,
``delete``, ``as_actor``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.settings import Settings
from layers.planning.scenario_store import ScenarioStore, StoredScenarios, scenario_dir_for
from layers.store import Store


class ServedScenarios:
    """Where the served dataset's scenarios are kept.

    Parameters
    ----------
    settings
        Deployment settings (the dataset path, an optional ``scenario_dir``).
    store
        Opens the dataset's store; ``None`` for a dataset held in memory.
    dataset_path
        The served dataset's file, if it has one (may load it).
    """

    def __init__(self, settings: Settings, *, store: Callable[[], Store] | None, dataset_path: Callable[[], Path | None]) -> None:
        self.settings = settings
        self._store = store
        self._dataset_path = dataset_path
        self._scenarios: Any = None
        self._lock = threading.Lock()

    def use(self, scenarios: Any) -> None:
        """Keep scenarios in ``scenarios`` (a :class:`~layers.planning.scenario_store.ScenarioStore` or store-backed one)."""
        self._scenarios = scenarios

    def get(self) -> Any:
        """The scenarios (opened on first use)."""
        if self._scenarios is None:
            with self._lock:
                if self._scenarios is None:
                    self._scenarios = self._open()
        return self._scenarios

    def _open(self) -> Any:
        if self._store is not None:
            return StoredScenarios(self._store())
        folder = getattr(self.settings, "scenario_dir", None)
        if not folder:
            folder = scenario_dir_for(self._dataset_path() or Path(self.settings.dataset))
        return ScenarioStore(folder)
