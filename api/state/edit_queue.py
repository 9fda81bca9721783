"""Edits waiting for a dataset's edit lock (see :mod:`api.state.editing`)."""

from __future__ import annotations

import threading
from typing import Any


class EditQueue:
    """Edits waiting for a dataset's edit lock, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []

    def put(self, item: Any) -> None:
        """Queue an edit."""
        with self._lock:
            self._items.append(item)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def take(self, limit: int) -> list[Any]:
        """The oldest ``limit`` queued edits, removed from the queue."""
        with self._lock:
            batch, self._items = self._items[:limit], self._items[limit:]
        return batch
