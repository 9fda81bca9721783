"""Where scenarios are kept: a folder of JSON files beside the dataset, or the dataset's store.

Both keepers have the same methods (:class:`Scenarios`): ``list``, ``get``,
``save``, ``create``, ``replace``, ``delete`` and ``as_actor``, and the same
checks (:func:`~layers.planning.scenarios.parse_scenario`, and
:func:`~layers.planning.changes.apply_changes` against a base dataset when
given, so a scenario that does not apply is never stored).

- :class:`ScenarioStore`: one JSON file per scenario in a folder beside the
  dataset (``district.scenarios/``, :func:`scenario_dir_for`), written
  atomically, so they survive a restart of the service.
- :class:`StoredScenarios`: the scenario documents of a
  :class:`~layers.store.Store`; every write is a store transaction with an
  audit entry naming its actor.  The store keeps the documents and knows
  nothing of what is in them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from geo.errors import NotFoundError
from geo.files import write_atomic
from layers.dataset import Dataset
from layers.planning.changes import apply_changes
from layers.planning.scenarios import Scenario, check_scenario_id, new_scenario_id, now_iso, parse_scenario
from layers.store import Snapshot, Store

#: Fields of a scenario a client cannot set: its id and timestamps.
_FIXED = ("id", "created_at", "updated_at")


class Scenarios(Protocol):
    """What the service needs of a keeper of scenarios (:class:`ScenarioStore`, :class:`StoredScenarios`)."""

    def as_actor(self, actor: str) -> Scenarios: ...
    def list(self) -> list[Scenario]: ...
    def get(self, scenario_id: str) -> Scenario: ...
    def save(self, scenario: Scenario) -> Scenario: ...
    def create(self, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario: ...
    def replace(self, scenario_id: str, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario: ...
    def delete(self, scenario_id: str) -> None: ...


def checked_scenario(data: Mapping[str, Any], *, scenario_id: str | None = None, base: Dataset | None = None) -> Scenario:
    """A scenario from a client's JSON (its id and timestamps ignored), checked against ``base`` when given.

    Raises
    ------
    InvalidValueError
        The scenario does not parse, or a change does not apply to the base's centres.
    """
    scenario = parse_scenario({k: v for k, v in data.items() if k not in _FIXED}, scenario_id=scenario_id)
    if base is not None:
        apply_changes(base["centers"], scenario.changes, dataset=base)
    return scenario


def _sorted(scenarios: list[Scenario]) -> list[Scenario]:
    return sorted(scenarios, key=lambda s: (s.created_at, s.id))


# ---------------------------------------------------------------------------
# a folder of JSON files


def scenario_dir_for(dataset_path: str | os.PathLike[str]) -> Path:
    """The folder of a dataset's scenarios: ``district.gpkg`` -> ``district.scenarios/`` beside it."""
    p = Path(dataset_path)
    return p.parent / f"{p.stem if p.suffix else p.name}.scenarios"


class ScenarioStore:
    """Scenarios of one dataset, one JSON file each in a folder, written atomically.

    Parameters
    ----------
    root
        The folder (created on the first write).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    @classmethod
    def beside(cls, dataset_path: str | os.PathLike[str]) -> ScenarioStore:
        """The store in :func:`scenario_dir_for` the dataset."""
        return cls(scenario_dir_for(dataset_path))

    def _file(self, scenario_id: str) -> Path:
        return self.root / f"{check_scenario_id(scenario_id)}.json"

    def as_actor(self, actor: str) -> ScenarioStore:
        """The same store (JSON files keep no audit log, so the actor is not recorded)."""
        return self

    def list(self) -> list[Scenario]:
        """Every stored scenario, oldest first (unreadable files are skipped)."""
        if not self.root.is_dir():
            return []
        out = []
        for f in sorted(self.root.glob("*.json")):
            try:
                out.append(parse_scenario(json.loads(f.read_text("utf-8")), scenario_id=f.stem))
            except (ValueError, OSError):
                continue
        return _sorted(out)

    def get(self, scenario_id: str) -> Scenario:
        """The scenario ``scenario_id``; :class:`NotFoundError` if there is none."""
        f = self._file(scenario_id)
        if not f.is_file():
            msg = f"no scenario `{scenario_id}`"
            raise NotFoundError(msg, field="scenario")
        return parse_scenario(json.loads(f.read_text("utf-8")), scenario_id=scenario_id)

    def save(self, scenario: Scenario) -> Scenario:
        """Write the scenario (replacing one with the same id), atomically."""
        f = self._file(scenario.id)
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)  # the store's own folder, made on the first write
            write_atomic(f, json.dumps(scenario.as_dict(), ensure_ascii=False, indent=1), field="scenario")
        return scenario

    def create(self, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario:
        """Parse, check against ``base`` (when given) and store a new scenario with a fresh id."""
        scenario = checked_scenario(data, base=base)
        while self._file(scenario.id).exists():
            scenario.id = new_scenario_id()
        return self.save(scenario)

    def replace(self, scenario_id: str, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario:
        """Replace the name, description and changes of a stored scenario."""
        old = self.get(scenario_id)
        new = checked_scenario(data, scenario_id=scenario_id, base=base)
        new.created_at = old.created_at
        new.updated_at = now_iso()
        return self.save(new)

    def delete(self, scenario_id: str) -> None:
        """Delete a stored scenario; :class:`NotFoundError` if there is none."""
        f = self._file(scenario_id)
        with self._lock:
            if not f.is_file():
                msg = f"no scenario `{scenario_id}`"
                raise NotFoundError(msg, field="scenario")
            f.unlink()


# ---------------------------------------------------------------------------
# the dataset's store


def _exists(snap: Snapshot, scenario_id: str) -> bool:
    try:
        snap.get_scenario(scenario_id)
    except NotFoundError:
        return False
    return True


class StoredScenarios:
    """The scenarios of one store, written as ``actor``.

    Parameters
    ----------
    store
        The dataset's store.
    actor
        Who writes, for the audit log (use :meth:`as_actor` per request).
    """

    def __init__(self, store: Store, *, actor: str = "system") -> None:
        self.store = store
        self.actor = actor

    def as_actor(self, actor: str) -> StoredScenarios:
        """The same scenarios, written as ``actor``."""
        return StoredScenarios(self.store, actor=actor)

    def list(self) -> list[Scenario]:
        """Every stored scenario, oldest first (documents that no longer parse are skipped)."""
        out = []
        with self.store.snapshot() as snap:
            docs = snap.list_scenarios()
        for doc in docs:
            try:
                out.append(parse_scenario(doc, scenario_id=str(doc.get("id") or "") or None))
            except ValueError:
                continue
        return _sorted(out)

    def get(self, scenario_id: str) -> Scenario:
        """The scenario ``scenario_id``; :class:`NotFoundError` if there is none."""
        check_scenario_id(scenario_id)
        with self.store.snapshot() as snap:
            doc = snap.get_scenario(scenario_id)
        return parse_scenario(doc, scenario_id=scenario_id)

    def save(self, scenario: Scenario) -> Scenario:
        """Write the scenario (replacing one with the same id)."""
        check_scenario_id(scenario.id)
        with self.store.transaction(actor=self.actor) as tx:
            tx.put_scenario(scenario.id, scenario.as_dict())
        return scenario

    def create(self, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario:
        """Parse, check against ``base`` (when given) and store a new scenario with a fresh id."""
        scenario = checked_scenario(data, base=base)
        with self.store.transaction(actor=self.actor) as tx:
            while _exists(tx, scenario.id):
                scenario.id = new_scenario_id()
            tx.put_scenario(scenario.id, scenario.as_dict())
        return scenario

    def replace(self, scenario_id: str, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario:
        """Replace the name, description and changes of a stored scenario (its creation time stays)."""
        check_scenario_id(scenario_id)
        new = checked_scenario(data, scenario_id=scenario_id, base=base)
        with self.store.transaction(actor=self.actor) as tx:
            old = parse_scenario(tx.get_scenario(scenario_id), scenario_id=scenario_id)
            new.created_at = old.created_at
            tx.put_scenario(scenario_id, new.as_dict())
        return new

    def delete(self, scenario_id: str) -> None:
        """Delete a stored scenario; :class:`NotFoundError` if there is none."""
        check_scenario_id(scenario_id)
        with self.store.transaction(actor=self.actor) as tx:
            tx.delete_scenario(scenario_id)
