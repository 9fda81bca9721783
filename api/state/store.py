"""The served dataset's store: opened on first use, seeded with a dataset handed over, closed at shutdown."""

from __future__ import annotations

import threading
from pathlib import Path

from api.settings import Settings
from geo.errors import DatasetNotFoundError
from layers.dataset import Dataset
from layers.rebuild import build_in_store, build_state
from layers.store import Store


class StoreHandle:
    """The store of the served dataset, or none for a dataset held in memory.

    Parameters
    ----------
    settings
        Deployment settings (:meth:`Settings.open_store`).
    store
        An open store to serve (default: ``settings.open_store()`` on first use).
    memory
        The dataset is held in memory, without a store: nothing can be written.
    """

    def __init__(self, settings: Settings, store: Store | None = None, *, memory: bool = False) -> None:
        self.settings = settings
        self.memory = memory
        self._store = store
        self._lock = threading.Lock()

    @property
    def opened(self) -> Store | None:
        """The store if it is open (opens nothing)."""
        return self._store

    def get(self) -> Store:
        """The store, opened on first use.

        Raises
        ------
        DatasetNotFoundError
            The service serves an in-memory dataset, or the dataset file is missing.
        """
        if self._store is None:
            if self.memory:
                msg = "this service serves a dataset held in memory, without a store; nothing can be written"
                raise DatasetNotFoundError(msg, field="dataset")
            with self._lock:
                if self._store is None:
                    path = Path(self.settings.dataset)
                    if not self.settings.database_url and not path.is_file():
                        msg = f"dataset not found: {path}"
                        raise DatasetNotFoundError(msg, field="dataset")
                    self._store = self.settings.open_store()
        return self._store

    def seed(self, dataset: Dataset) -> None:
        """Import ``dataset`` into the store when it holds none, then build it there unless its build is current."""
        store = self.get()
        with self._lock:
            with store.snapshot() as snap:
                empty = not snap.has_layer("compounds")
            if empty:
                with store.transaction(actor="system:serve") as tx:
                    if not tx.has_layer("compounds"):  # another worker may have seeded it meanwhile
                        tx.import_dataset(dataset)
            with store.snapshot() as snap:
                state = build_state(snap)
            if state != "current":
                build_in_store(store, actor="system:serve", fallback=self.settings.build_params())

    def close(self) -> None:
        """Close the store (app shutdown)."""
        if self._store is not None:
            self._store.close()
