"""The GeoPackage store: the dataset's own ``.gpkg`` file, SQLite underneath, WAL mode.

How a write stays whole
-----------------------
Every write is one SQLite transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) on
the dataset file, so a crash, an exception or ``kill -9`` in the middle
leaves the previous state: SQLite's write-ahead log ignores frames of a
transaction that never committed.  ``BEGIN IMMEDIATE`` takes the file's one
write lock at the start, so writers from several threads or processes queue
(up to ``busy_timeout_s``) instead of overwriting each other; readers in WAL
mode are never blocked and see the last committed state.  After a write the
log is folded back into the file, so the ``.gpkg`` at rest is whole on its own.

Layout
------
This module keeps the file (created, checked, replaced behind the store),
its connections and the store's migrations; the SQL of one transaction is
:class:`~layers.store.gpkg_session.GpkgSession` (whole layers through GDAL,
single rows directly), the geometry blobs are in
:mod:`~layers.store.gpkg_geometry`.  The store's own tables start with ``dj_``
(``dj_schema`` holds the applied migrations); the first migration adopts what
the file held before (:func:`~layers.store.adopt.adopt_file`).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pyogrio

from geo.errors import InputError
from geo.files import OutputExistsError, atomic_output
from layers.store.adopt import adopt_file
from layers.store.gpkg_geometry import register_sql_functions
from layers.store.gpkg_session import GpkgSession
from layers.store.migrations import ROLES_CHECK, Migration, apply_migrations
from layers.store.store import Store

T = TypeVar("T")

#: Scratch files older than this (seconds) are left-overs of a killed writer and removed on open.
_STALE_SCRATCH_S = 3600.0
#: How long the checkpoint after a write waits for readers before leaving it to a later write (s).
_CHECKPOINT_WAIT_S = 0.2

#: Numbered migrations: (version, what, statements).  Never edit one that shipped; add the next.
MIGRATIONS: list[Migration] = [
    (
        1,
        "store tables",
        [
            "CREATE TABLE dj_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, changed_at TEXT NOT NULL)",
            "INSERT INTO dj_revision (id, revision, changed_at) VALUES (1, 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            "CREATE TABLE dj_meta (key TEXT PRIMARY KEY, value TEXT)",
            "CREATE TABLE dj_layers (name TEXT PRIMARY KEY, kinds TEXT NOT NULL, geometry_type TEXT, "
            "revision INTEGER NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE TABLE dj_versions (layer TEXT NOT NULL, feature_id TEXT NOT NULL, version INTEGER NOT NULL, "
            "digest TEXT, deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (layer, feature_id))",
            "CREATE TABLE dj_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, "
            "action TEXT NOT NULL, layer TEXT, feature_id TEXT, version INTEGER, revision INTEGER NOT NULL, "
            "before TEXT, after TEXT)",
            "CREATE INDEX dj_audit_feature ON dj_audit (layer, feature_id)",
            "CREATE TRIGGER dj_audit_no_update BEFORE UPDATE ON dj_audit "
            "BEGIN SELECT RAISE(ABORT, 'dj_audit is append-only'); END",
            "CREATE TRIGGER dj_audit_no_delete BEFORE DELETE ON dj_audit "
            "BEGIN SELECT RAISE(ABORT, 'dj_audit is append-only'); END",
            f"CREATE TABLE dj_tokens (id TEXT PRIMARY KEY, name TEXT, role TEXT NOT NULL CHECK ({ROLES_CHECK}), "
            "hash TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT, revoked_at TEXT)",
            "CREATE TABLE dj_scenarios (id TEXT PRIMARY KEY, doc TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE TABLE dj_import_reports (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT, "
            "report TEXT NOT NULL)",
        ],
    ),
    (
        2,
        "token revision",
        [
            "CREATE TABLE dj_token_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, "
            "nonce TEXT NOT NULL)",
            "INSERT INTO dj_token_revision (id, revision, nonce) VALUES (1, 0, lower(hex(randomblob(16))))",
            *(
                f"CREATE TRIGGER dj_tokens_{event.lower()} AFTER {event} ON dj_tokens "
                "BEGIN UPDATE dj_token_revision SET revision = revision + 1 WHERE id = 1; END"
                for event in ("INSERT", "UPDATE", "DELETE")
            ),
        ],
    ),
]


def new_geopackage(out: Path, fill: Callable[[GeoPackageStore], T]) -> tuple[T | None, bool]:
    """Create the GeoPackage store ``out`` whole: filled under a hidden scratch name, named only once complete.

    The name is taken only while it is free (:func:`geo.files.atomic_output`
    with ``replace=False``), so a file another process may have created and
    opened meanwhile is never swapped under it.

    Parameters
    ----------
    out
        The new dataset file; its folder must exist.
    fill
        Writes the store's content (one or more transactions).

    Returns
    -------
    (result, created)
        What ``fill`` answered, and ``False`` when another process created
        ``out`` meanwhile (then ``out`` is left as that process wrote it).

    Raises
    ------
    OutputError
        The folder of ``out`` does not exist or cannot be written.
    """
    try:
        with atomic_output(out, replace=False) as scratch:
            with GeoPackageStore(scratch) as store:
                result = fill(store)
            wal = Path(f"{scratch}-wal")
            if wal.exists() and wal.stat().st_size:
                msg = f"the new dataset {out} could not be completed: its write-ahead log was not folded in"
                raise RuntimeError(msg)
    except OutputExistsError:
        return None, False
    return result, True


class GeoPackageStore(Store):
    """A store in one GeoPackage file (created when missing; migrated on open).

    Parameters
    ----------
    path
        The dataset's ``.gpkg``.
    busy_timeout_s
        How long a writer waits for another writer's transaction (s).
    """

    backend = "gpkg"

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 60.0) -> None:
        super().__init__()
        self._path = Path(path).resolve()
        self.busy_timeout_s = float(busy_timeout_s)
        self._identity: tuple[int, int] | None = None
        if self._path.is_dir():
            msg = f"`{self._path}` is a folder; a store needs a GeoPackage file (import the folder with `dangjian import` first)"
            raise InputError(msg, field="dataset")
        if not self._path.exists():
            self._create_file()
        self._check_geopackage()
        self._remove_stale_scratch()
        self._open_file()

    # -- file ----------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The file path."""
        return str(self._path)

    @property
    def path(self) -> Path:
        """The GeoPackage file."""
        return self._path

    def _create_file(self) -> None:
        """A new, empty GeoPackage, written beside the target and given its name only if that is still free.

        Never renamed over a file another process may just have created (and opened).
        """
        empty = pd.DataFrame({"key": pd.Series([], dtype=object), "value": pd.Series([], dtype=object)})
        with suppress(OutputExistsError), atomic_output(self._path, replace=False, field="dataset") as scratch:
            pyogrio.write_dataframe(empty, scratch, layer="meta", driver="GPKG")

    def _check_geopackage(self) -> None:
        try:
            conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
            try:
                conn.execute("SELECT count(*) FROM gpkg_contents").fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            msg = f"`{self._path}` is not a GeoPackage: {exc}"
            raise InputError(msg, field="dataset") from exc

    def _scratch_path(self) -> Path:
        fd, name = tempfile.mkstemp(prefix=f".{self._path.stem}.dj-", suffix=".gpkg", dir=self._path.parent)
        os.close(fd)
        os.unlink(name)
        return Path(name)

    def _remove_stale_scratch(self) -> None:
        cutoff = time.time() - _STALE_SCRATCH_S
        for f in self._path.parent.glob(f".{self._path.stem}.dj-*.gpkg*"):
            with suppress(OSError):
                if f.stat().st_mtime < cutoff:
                    f.unlink()

    def _stat_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _open_file(self) -> None:
        """WAL mode and migrations on the file now at the path."""
        self._identity = self._stat_identity()
        conn = self._connect()
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        self._migrate()

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=FULL")
        register_sql_functions(conn)
        return conn

    def _acquire(self) -> sqlite3.Connection:
        """A connection to the file now at the path (the pool starts over when the file was replaced)."""
        self._check_open()
        identity = self._stat_identity()
        if identity is None:
            msg = f"the dataset file {self._path} is gone"
            raise InputError(msg, field="dataset")
        with self._pool_lock:
            replaced = identity != self._identity
            if replaced:
                # The file was replaced behind the store (e.g. by write_dataset): start over on the new one.
                for conn in self._pool:
                    conn.close()
                self._pool.clear()
                self._identity = identity
        if replaced:
            self._open_file()
        return self._pooled() or self._connect()

    def _begin_sql(self, write: bool) -> str:
        return "BEGIN IMMEDIATE" if write else "BEGIN"

    def _in_transaction(self, conn: sqlite3.Connection) -> bool:
        return conn.in_transaction

    def _new_session(self, conn: sqlite3.Connection, write: bool) -> GpkgSession:
        return GpkgSession(self, conn, write)

    def _after_commit(self, conn: sqlite3.Connection, write: bool) -> None:
        if write:
            self._checkpoint(conn)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Fold the write-ahead log into the file and empty it, unless readers are busy (then a later write does).

        An empty log at rest keeps the ``.gpkg`` whole on its own (copy it,
        mail it) and harmless to replace: a non-empty log left beside a file
        that something renamed over would be replayed into the new file.
        """
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_CHECKPOINT_WAIT_S * 1000)}")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            pass
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")

    def close(self) -> None:
        """Close every connection and fold the write-ahead log back into the file."""
        super().close()
        with suppress(sqlite3.Error, OSError):
            conn = self._connect()
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

    # -- migrations ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._session(write=True) as session:
            session.exec(
                "CREATE TABLE IF NOT EXISTS dj_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, note TEXT)"
            )
            apply_migrations(
                session,
                MIGRATIONS,
                table="dj_schema",
                where=str(self._path),
                field="dataset",
                adopt=lambda first: adopt_file(first, self._path),
            )
