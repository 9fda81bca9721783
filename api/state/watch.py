"""When the served dataset may be behind its store: its file replaced, or another process wrote a revision.

The file's stamp (modification time and size) and the store's revision are
compared at most every ``settings.reload_check_s`` seconds; after a write
through the store (:meth:`RevisionWatch.invalidate`) the next request looks
at once.
"""

from __future__ import annotations

import time
from pathlib import Path

from api.settings import Settings
from layers.store import Store

#: A file's modification time (ns) and size.
Stamp = tuple[int, int]


def file_stamp(path: Path) -> Stamp | None:
    """The stamp of ``path`` (``None`` when it cannot be read)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class RevisionWatch:
    """What the served dataset was read from and when it was last compared with it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path: Path | None = None
        self.stamp: Stamp | None = None
        self.checked = 0.0
        self.stale = False

    def stamp_of(self, path: Path) -> Stamp | None:
        """The stamp of a dataset file (``None`` when the store is a database)."""
        return None if self.settings.database_url else file_stamp(path)

    def served(self, *, path: Path | None, stamp: Stamp | None) -> None:
        """A dataset read from ``path`` as it was at ``stamp`` is served from now on."""
        self.path = path
        self.stamp = stamp
        self.checked = time.monotonic()

    def current_stamp(self) -> Stamp | None:
        """The served file's stamp now (after a commit of this process moved it), else the one it was read at."""
        if self.path is not None and not self.settings.database_url:
            return file_stamp(self.path)
        return self.stamp

    def invalidate(self) -> None:
        """Compare with the store on the next request."""
        self.stale = True

    def due(self) -> bool:
        """Whether it is time to compare again (and note that it was done)."""
        if self.settings.reload_check_s <= 0:
            return False
        now = time.monotonic()
        if now - self.checked < self.settings.reload_check_s:
            return False
        self.checked = now
        return True

    def changed(self, store: Store | None, revision: int | None) -> bool:
        """Whether the file was replaced or ``store`` moved past ``revision``."""
        if self.path is not None and not self.settings.database_url:
            stamp = file_stamp(self.path)
            if stamp is not None and stamp != self.stamp:
                return True
        if revision is not None and store is not None:
            return store.revision() != revision
        return False
