"""A thread-safe least-recently-used mapping, the one every in-memory cache of the service uses."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class LRU:
    """A thread-safe least-recently-used mapping with a fixed number of entries.

    With ``max_bytes``, values are ``bytes`` and their total length is also
    kept under that budget (rendered tiles).
    """

    def __init__(self, maxsize: int, *, max_bytes: int | None = None) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        """The value for ``key`` (marked as recently used), else ``None``."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value``; the least recently used entry goes when full."""
        if self.maxsize <= 0:
            return
        size = len(value) if self.max_bytes is not None else 0
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None and self.max_bytes is not None:
                self.nbytes -= len(old)
            self._data[key] = value
            self.nbytes += size
            while self._data and (len(self._data) > self.maxsize or (self.max_bytes is not None and self.nbytes > self.max_bytes)):
                _, gone = self._data.popitem(last=False)
                if self.max_bytes is not None:
                    self.nbytes -= len(gone)

    def items(self) -> list[tuple[Hashable, Any]]:
        """A snapshot of the entries, least recently used first."""
        with self._lock:
            return list(self._data.items())

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._data)
