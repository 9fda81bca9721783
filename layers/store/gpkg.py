"""The GeoPackage store: the dataset's own ``.gpkg`` file, SQLite underneath, WAL mode.

How a write stays whole
-----------------------
Every write is one SQLite transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) on
the dataset file, so a crash, an exception or ``kill -9`` in the middle
leaves the previous state: SQLite's write-ahead log ignores frames of a
transaction that never committed.  ``BEGIN IMMEDIATE`` takes the file's one
write lock at the start, so writers from several threads or processes queue
(up to ``busy_timeout_s``) instead of overwriting each other; readers in WAL
mode are never blocked and see the last committed state.

How layers are written
----------------------
A whole layer is written by GDAL (through pyogrio) into a scratch GeoPackage
beside the dataset, then copied into the dataset inside the transaction:
its table definition, rows, R-tree spatial index rows, triggers and its rows
in the GeoPackage's own tables (``gpkg_contents``, ``gpkg_geometry_columns``,
``gpkg_extensions``, ``gpkg_ogr_contents``).  GDAL thus stays the authority
on GeoPackage encoding (column types, geometry blobs, spatial index, metadata)
and the file stays an ordinary GeoPackage that QGIS, GDAL and
:func:`layers.dataset.read_dataset` open, while SQLite gives the atomicity: a
kill while GDAL writes the scratch file does not touch the dataset; a kill
during the copy rolls back.  One-feature edits write the GeoPackage geometry
blob directly (``GP`` header, envelope, ISO WKB from shapely); the file's
R-tree triggers call ``ST_IsEmpty``/``ST_MinX``..., which this module
registers on its connections as GDAL does on its own.

The store's own tables start with ``dj_`` (``dj_schema`` holds the applied
migrations); the dataset's meta values are also mirrored into the ``meta``
table that :func:`layers.dataset.write_dataset` writes, in the same
transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.errors import InputError, InvalidValueError
from geo.files import OutputExistsError, atomic_output
from layers.store.base import DERIVED_REVISION, Json, Session, Store, adopt_layers, now_utc
from layers.store.frames import check_layer_name, frame_from_columns

T = TypeVar("T")

#: Bytes of the envelope after the 8-byte header, by envelope code (GeoPackage 1.2, 2.1.3).
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
#: Scratch files older than this (seconds) are left-overs of a killed writer and removed on open.
_STALE_SCRATCH_S = 3600.0
#: GeoPackage column type of each kind.
_DECLARED = {"bool": "BOOLEAN", "int": "INTEGER", "float": "REAL", "text": "TEXT", "datetime": "DATETIME", "blob": "BLOB"}
#: How long the checkpoint after a write waits for readers before leaving it to a later write (s).
_CHECKPOINT_WAIT_S = 0.2


def _q(name: str) -> str:
    """An SQLite identifier, quoted."""
    return '"' + str(name).replace('"', '""') + '"'


# ---------------------------------------------------------------------------
# GeoPackage geometry blobs
# ---------------------------------------------------------------------------


def gpkg_wkb(blob: bytes | None) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob (``None`` stays ``None``)."""
    if blob is None:
        return None
    b = bytes(blob)
    if b[:2] != b"GP":
        return b
    return b[8 + _ENVELOPE_BYTES.get((b[3] >> 1) & 0x07, 0) :]


def gpkg_decode(blobs: Sequence[bytes | None]) -> np.ndarray:
    """Shapely geometries from GeoPackage blobs (one vectorised WKB parse)."""
    wkbs = np.array([gpkg_wkb(b) for b in blobs], dtype=object)
    if not len(wkbs):
        return np.array([], dtype=object)
    return shapely.from_wkb(wkbs)


def gpkg_blob(geom: shapely.Geometry | None, srs_id: int = 4326) -> bytes | None:
    """A GeoPackage geometry blob: ``GP`` header (little-endian, envelope unless a point) and ISO WKB."""
    if geom is None:
        return None
    empty = bool(geom.is_empty)
    wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
    if empty or shapely.get_type_id(geom) == 0:
        code, envelope = 0, b""
    else:
        minx, miny, maxx, maxy = geom.bounds
        code, envelope = 1, struct.pack("<4d", minx, maxx, miny, maxy)
    flags = 0x01 | (code << 1) | (0x10 if empty else 0)
    return b"GP" + bytes([0, flags]) + struct.pack("<i", srs_id) + envelope + wkb


def _bounds(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """``(minx, maxx, miny, maxy)`` of a blob, from its envelope or its WKB; ``None`` when empty."""
    if blob is None:
        return None
    b = bytes(blob)
    if b[:2] != b"GP":
        return None
    flags = b[3]
    if flags & 0x10:
        return None
    code = (flags >> 1) & 0x07
    if code:
        return struct.unpack_from("<4d" if flags & 0x01 else ">4d", b, 8)
    geom = shapely.from_wkb(b[8:])
    if geom is None or geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return minx, maxx, miny, maxy


def _st_is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return 1 if _bounds(blob) is None else 0


def _st_bound(i: int) -> Any:
    def get(blob: bytes | None) -> float | None:
        b = _bounds(blob)
        return None if b is None else float(b[i])

    return get


# ---------------------------------------------------------------------------
# kinds of SQLite declared types
# ---------------------------------------------------------------------------


def _kind_of(declared: str) -> str:
    d = (declared or "").upper()
    if d.startswith("BOOL"):
        return "bool"
    if "INT" in d:
        return "int"
    if any(t in d for t in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "float"
    if d.startswith("DATE"):
        return "datetime"
    if d.startswith("BLOB"):
        return "blob"
    return "text"


def _sqlite_param(value: Any) -> Any:
    if isinstance(value, Json):
        return json.dumps(value.value, ensure_ascii=False)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo else value
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_sqlite_param(p) for p in params)


# ---------------------------------------------------------------------------
# the session
# ---------------------------------------------------------------------------


class GpkgSession(Session):
    """One SQLite transaction on the dataset file."""

    def __init__(self, store: GeoPackageStore, conn: sqlite3.Connection, write: bool) -> None:
        self.store = store
        self.conn = conn
        self.write = write

    # -- SQL -----------------------------------------------------------------------------------

    def exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """See :meth:`Session.exec`."""
        return self.conn.execute(sql, _params(params)).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """See :meth:`Session.query`."""
        return self.conn.execute(sql, _params(params)).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """See :meth:`Session.executemany`."""
        self.conn.executemany(sql, (_params(r) for r in rows))

    # -- layer catalogue -----------------------------------------------------------------------

    def _tables(self, conn: sqlite3.Connection | None = None) -> set[str]:
        c = conn or self.conn
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def layer_names(self) -> list[str]:
        """See :meth:`Session.layer_names`."""
        rows = self.conn.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type IN ('features', 'attributes')"
        ).fetchall()
        tables = self._tables()
        out = []
        for (name,) in rows:
            if name == "meta" or name not in tables:
                continue
            try:
                out.append(check_layer_name(name))
            except ValueError:
                continue
        return out

    def _table_info(self, name: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(f"PRAGMA table_info({_q(name)})").fetchall()

    def _geometry_column(self, name: str) -> str | None:
        row = self.conn.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (name,)
        ).fetchone()
        return str(row[0]) if row else None

    def _key_column(self, name: str) -> str:
        for _, col, _, _, _, pk in self._table_info(name):
            if pk == 1:
                return str(col)
        return "rowid"

    def layer_kinds(self, name: str) -> dict[str, str] | None:
        """See :meth:`Session.layer_kinds`."""
        info = self._table_info(name)
        if not info:
            return None
        geom = self._geometry_column(name)
        return {str(col): _kind_of(decl) for _, col, decl, _, _, pk in info if pk != 1 and col != geom}

    def geometry_type(self, name: str) -> str | None:
        """See :meth:`Session.geometry_type`."""
        row = self.conn.execute(
            "SELECT geometry_type_name FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (name,)
        ).fetchone()
        return str(row[0]) if row else None

    def count_rows(self, name: str) -> int:
        """See :meth:`Session.count_rows`."""
        return int(self.conn.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0])

    # -- whole layers --------------------------------------------------------------------------

    def read_layer(
        self, name: str, *, bbox: tuple[float, float, float, float] | None = None, ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """See :meth:`Session.read_layer`."""
        kinds = self.layer_kinds(name) or {}
        geom = self._geometry_column(name)
        key = self._key_column(name)
        cols = list(kinds)
        select = [_q(c) for c in cols] + ([_q(geom)] if geom else [])
        sql = f"SELECT {', '.join(select) or key} FROM {_q(name)}"
        where: list[str] = []
        params: list[Any] = []
        if ids is not None:
            where.append(f'"id" IN ({", ".join("?" * len(ids))})')
            params += [str(i) for i in ids]
        rtree = f"rtree_{name}_{geom}" if geom else None
        use_rtree = bbox is not None and rtree is not None and rtree in self._tables()
        if use_rtree:
            assert bbox is not None
            where.append(f"{_q(key)} IN (SELECT id FROM {_q(rtree)} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)")
            params += [bbox[0], bbox[2], bbox[1], bbox[3]]
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_q(key)}"
        rows = self.conn.execute(sql, params).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in select]
        geometry = gpkg_decode(columns[-1]) if geom else None
        frame = frame_from_columns(cols, [kinds[c] for c in cols], columns[: len(cols)], geometry)
        if bbox is not None and geometry is not None and not use_rtree and len(frame):
            b = shapely.bounds(geometry)
            keep = (b[:, 2] >= bbox[0]) & (b[:, 0] <= bbox[2]) & (b[:, 3] >= bbox[1]) & (b[:, 1] <= bbox[3])
            frame = frame.loc[keep].reset_index(drop=True)
        return frame

    def replace_layer(self, name: str, frame: pd.DataFrame, kinds: Mapping[str, str]) -> None:
        """See :meth:`Session.replace_layer`: GDAL writes a scratch GeoPackage, copied in inside the transaction."""
        scratch = self.store._scratch_path()
        try:
            pyogrio.write_dataframe(frame, scratch, layer=name, driver="GPKG", promote_to_multi=False)
            self._copy_layer_from(scratch, name)
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with suppress(OSError):
                    os.unlink(f"{scratch}{suffix}")

    def _copy_layer_from(self, scratch: Path, name: str) -> None:
        """Copy table ``name`` of a GDAL-written GeoPackage into the dataset: definition, rows, index, metadata."""
        src = sqlite3.connect(f"file:{scratch}?mode=ro", uri=True)
        try:
            master = src.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
            by_name = {(t, n): sql for t, n, _, sql in master}
            row = src.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (name,)).fetchone()
            rtree = f"rtree_{name}_{row[0]}" if row else None
            self.drop_layer(name)
            c = self.conn
            c.execute(by_name[("table", name)])
            width = len(src.execute(f"PRAGMA table_info({_q(name)})").fetchall())
            c.executemany(
                f"INSERT INTO {_q(name)} VALUES ({', '.join('?' * width)})", src.execute(f"SELECT * FROM {_q(name)}")
            )
            if rtree and ("table", rtree) in by_name:
                c.execute(by_name[("table", rtree)])
                c.executemany(
                    f"INSERT INTO {_q(rtree)} VALUES (?, ?, ?, ?, ?)",
                    src.execute(f"SELECT id, minx, maxx, miny, maxy FROM {_q(rtree)}"),
                )
            for kind, _, table, sql in master:
                if table == name and kind in ("index", "trigger"):
                    c.execute(sql)
            mine = self._tables()
            meta_tables = sorted(
                (n for t, n, _, _ in master if t == "table" and n.startswith("gpkg_") and n != "gpkg_spatial_ref_sys"),
                key=lambda n: (n != "gpkg_contents", n),
            )
            for table in meta_tables:
                src_cols = [r[1] for r in src.execute(f"PRAGMA table_info({_q(table)})")]
                if "table_name" not in src_cols:
                    continue
                if table not in mine:
                    c.execute(by_name[("table", table)])
                dst_cols = {r[1] for r in c.execute(f"PRAGMA table_info({_q(table)})")}
                cols = [col for col in src_cols if col in dst_cols]
                listed = ", ".join(_q(col) for col in cols)
                rows = src.execute(f"SELECT {listed} FROM {_q(table)} WHERE table_name = ?", (name,)).fetchall()
                c.executemany(f"INSERT OR REPLACE INTO {_q(table)} ({listed}) VALUES ({', '.join('?' * len(cols))})", rows)
            srs = src.execute(
                "SELECT * FROM gpkg_spatial_ref_sys WHERE srs_id IN "
                "(SELECT srs_id FROM gpkg_contents WHERE table_name = ? AND srs_id IS NOT NULL)",
                (name,),
            ).fetchall()
            srs_cols = [r[1] for r in src.execute("PRAGMA table_info(gpkg_spatial_ref_sys)")]
            dst_srs = {r[1] for r in c.execute("PRAGMA table_info(gpkg_spatial_ref_sys)")}
            keep = [i for i, col in enumerate(srs_cols) if col in dst_srs]
            listed = ", ".join(_q(srs_cols[i]) for i in keep)
            c.executemany(
                f"INSERT OR IGNORE INTO gpkg_spatial_ref_sys ({listed}) VALUES ({', '.join('?' * len(keep))})",
                [tuple(r[i] for i in keep) for r in srs],
            )
            if any(r[1] == "id" for r in c.execute(f"PRAGMA table_info({_q(name)})")):
                c.execute(f"CREATE INDEX IF NOT EXISTS {_q(f'dj_ix_{name}_id')} ON {_q(name)} (\"id\")")
        finally:
            src.close()

    def drop_layer(self, name: str) -> None:
        """See :meth:`Session.drop_layer`: the table, its R-tree and its rows in the ``gpkg_*`` tables."""
        c = self.conn
        tables = self._tables()
        if name in tables:
            geom = self._geometry_column(name)
            if geom:
                c.execute(f"DROP TABLE IF EXISTS {_q(f'rtree_{name}_{geom}')}")
            c.execute(f"DROP TABLE {_q(name)}")
        for table in sorted(t for t in tables if t.startswith("gpkg_") and t != "gpkg_spatial_ref_sys"):
            cols = {r[1] for r in c.execute(f"PRAGMA table_info({_q(table)})")}
            if "table_name" in cols and table != "gpkg_contents":
                c.execute(f"DELETE FROM {_q(table)} WHERE lower(table_name) = lower(?)", (name,))
        if "gpkg_contents" in tables:
            c.execute("DELETE FROM gpkg_contents WHERE lower(table_name) = lower(?)", (name,))

    # -- single rows ---------------------------------------------------------------------------

    def _touch_contents(self, name: str, geometry: shapely.Geometry | None) -> None:
        """``last_change`` and the extent of the layer in ``gpkg_contents``."""
        self.conn.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE lower(table_name) = lower(?)",
            (name,),
        )
        if geometry is None or geometry.is_empty:
            return
        minx, miny, maxx, maxy = (float(v) for v in geometry.bounds)
        self.conn.execute(
            "UPDATE gpkg_contents SET "
            "min_x = CASE WHEN min_x IS NULL OR min_x > ? THEN ? ELSE min_x END, "
            "min_y = CASE WHEN min_y IS NULL OR min_y > ? THEN ? ELSE min_y END, "
            "max_x = CASE WHEN max_x IS NULL OR max_x < ? THEN ? ELSE max_x END, "
            "max_y = CASE WHEN max_y IS NULL OR max_y < ? THEN ? ELSE max_y END "
            "WHERE lower(table_name) = lower(?)",
            (minx, minx, miny, miny, maxx, maxx, maxy, maxy, name),
        )

    def add_column(self, name: str, column: str, kind: str) -> None:
        """See :meth:`Session.add_column` (GeoPackage declared types, as GDAL writes them)."""
        self.conn.execute(f"ALTER TABLE {_q(name)} ADD COLUMN {_q(column)} {_DECLARED[kind]}")

    def insert_row(self, name: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """See :meth:`Session.insert_row`."""
        geom = self._geometry_column(name)
        cols = [_q(c) for c in values] + ([_q(geom)] if geom else [])
        params = [*values.values(), *([gpkg_blob(geometry)] if geom else [])]
        self.conn.execute(
            f"INSERT INTO {_q(name)} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", _params(params)
        )
        self._touch_contents(name, geometry)

    def update_row(self, name: str, feature_id: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """See :meth:`Session.update_row`."""
        geom = self._geometry_column(name)
        sets = [f"{_q(c)} = ?" for c in values] + ([f"{_q(geom)} = ?"] if geom else [])
        params = [*values.values(), *([gpkg_blob(geometry)] if geom else []), feature_id]
        self.conn.execute(f'UPDATE {_q(name)} SET {", ".join(sets)} WHERE "id" = ?', _params(params))
        self._touch_contents(name, geometry)

    def delete_row(self, name: str, feature_id: str) -> None:
        """See :meth:`Session.delete_row`."""
        self.conn.execute(f'DELETE FROM {_q(name)} WHERE "id" = ?', (feature_id,))
        self._touch_contents(name, None)

    def delete_rows(self, name: str, column: str, values: Sequence[str]) -> int:
        """See :meth:`Session.delete_rows` (in chunks below SQLite's parameter limit)."""
        gone = 0
        values = [str(v) for v in values]
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            gone += self.conn.execute(
                f"DELETE FROM {_q(name)} WHERE CAST({_q(column)} AS TEXT) IN ({', '.join('?' * len(chunk))})", chunk
            ).rowcount
        self._touch_contents(name, None)
        return gone

    def meta_written(self, meta: Mapping[str, Any]) -> None:
        """Mirror the meta values into the ``meta`` table :func:`layers.dataset.read_meta` reads."""
        table = pd.DataFrame(
            {
                "key": pd.Series(list(meta), dtype=object),
                "value": pd.Series([json.dumps(v, ensure_ascii=False) for v in meta.values()], dtype=object),
            }
        )
        self.replace_layer("meta", table, {"key": "text", "value": "text"})


# ---------------------------------------------------------------------------
# migrations
# ---------------------------------------------------------------------------

_ROLES_CHECK = "role IN ('viewer', 'planner', 'editor', 'admin')"

#: Numbered migrations: (version, what, statements).  Never edit one that shipped; add the next.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
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
            f"CREATE TABLE dj_tokens (id TEXT PRIMARY KEY, name TEXT, role TEXT NOT NULL CHECK ({_ROLES_CHECK}), "
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
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _adopt_legacy(session: GpkgSession, path: Path) -> None:
    """First open of a dataset file: register its layers, copy its ``meta`` table and scenario files."""
    adopt_layers(session)
    if "meta" not in session._tables():
        # A registered attribute table also keeps GDAL from listing the dj_ tables as layers.
        session.meta_written({})
    else:
        for key, value in session.conn.execute('SELECT "key", "value" FROM "meta"'):
            try:
                parsed = json.loads(value) if value is not None else None
            except ValueError:
                parsed = value
            session.exec("INSERT OR REPLACE INTO dj_meta (key, value) VALUES (?, ?)", (str(key), Json(parsed)))
        kinds = session.layer_kinds("compounds") or {}
        built = session.query("SELECT 1 FROM dj_meta WHERE key = 'built_at'") and "covered" in kinds and "units" in session._tables()
        if built:
            # written whole by `dangjian build`: its derived layers agree with its centres and compounds as they are
            session.exec("INSERT OR REPLACE INTO dj_meta (key, value) VALUES (?, ?)", (DERIVED_REVISION, Json(0)))
    from layers.planning.scenario_store import scenario_dir_for

    folder = scenario_dir_for(path)
    if folder.is_dir():
        for f in sorted(folder.glob("*.json")):
            try:
                doc = json.loads(f.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(doc, dict):
                continue
            at = str(doc.get("created_at") or now_utc().isoformat())
            session.exec(
                "INSERT OR IGNORE INTO dj_scenarios (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (f.stem, Json(doc), at, str(doc.get("updated_at") or at)),
            )


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


# ---------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------


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
        conn.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
        for i, fn in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
            conn.create_function(fn, 1, _st_bound(i), deterministic=True)
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
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS dj_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, note TEXT)"
                )
                done = conn.execute("SELECT coalesce(max(version), 0) FROM dj_schema").fetchone()[0]
                if done > SCHEMA_VERSION:
                    msg = f"{self._path} was written by a newer dangjian-map (store schema {done} > {SCHEMA_VERSION})"
                    raise InvalidValueError(msg, field="dataset")
                session = GpkgSession(self, conn, True)
                for version, note, statements in MIGRATIONS:
                    if version <= done:
                        continue
                    for sql in statements:
                        conn.execute(sql)
                    if version == 1:
                        _adopt_legacy(session, self._path)
                    session.exec(
                        "INSERT INTO dj_schema (version, applied_at, note) VALUES (?, ?, ?)", (version, now_utc(), note)
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()
