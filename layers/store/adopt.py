"""Taking in, once, what earlier versions left beside or inside a dataset.

- A dataset file without the store's tables (:func:`adopt_file`, the
  GeoPackage store's first migration): its layers are registered (every
  feature of ``centers`` and ``compounds`` at version 1), its ``meta`` table
  is copied into the meta values, and the scenario documents an earlier
  version kept as JSON files in ``NAME.scenarios/`` beside it are stored as
  they are.
- A legacy ``NAME.built.gpkg`` (:func:`adopt_built_copy`): earlier versions
  served a second "built" copy beside each dataset and kept edits, tokens,
  scenarios and the audit log there.  It is merged into the store in one
  transaction — the newer of the two states wins for the layers, tokens,
  audit entries, scenarios and import reports of the copy are added, nothing
  is dropped — and the adoption is recorded in the store's meta values so it
  happens only once.  The copy itself is left where it is (another process
  may still have it open); it is no longer used.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from layers.dataset import read_dataset
from layers.store.frames import VERSIONED_LAYERS, row_digests, storage_frame
from layers.store.records import DERIVED_REVISION, AuditAction, Json, now_utc
from layers.store.session import Session
from layers.store.store import Store
from layers.store.transaction import Transaction

#: Meta key listing the copies adopted so far.
ADOPTED = "adopted_copies"


def legacy_copy(dataset: Path) -> Path:
    """Where an earlier version kept the built copy of ``dataset``: ``NAME.built.gpkg`` beside it."""
    base = dataset if dataset.is_dir() else dataset.with_suffix("")
    return base.parent / f"{base.name}.built.gpkg"


def _last_change(path: Path) -> float:
    """The newest modification time of a GeoPackage and its write-ahead log (s)."""
    times = [p.stat().st_mtime for p in (path, Path(f"{path}-wal")) if p.exists()]
    return max(times, default=0.0)


def _rows(conn: sqlite3.Connection, table: str, columns: str) -> list[tuple[Any, ...]]:
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if table not in have:
        return []
    return conn.execute(f"SELECT {columns} FROM {table}").fetchall()  # noqa: S608 - fixed names


def _service_rows(copy: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The service tables of the copy, read in one read transaction."""
    with closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True, timeout=60)) as conn:
        conn.execute("BEGIN")
        return {
            "dj_tokens": _rows(conn, "dj_tokens", "id, name, role, hash, created_at, created_by, revoked_at"),
            "dj_audit": _rows(conn, "dj_audit", "at, actor, action, layer, feature_id, version, revision, before, after"),
            "dj_scenarios": _rows(conn, "dj_scenarios", "id, doc, created_at, updated_at"),
            "dj_import_reports": _rows(conn, "dj_import_reports", "at, actor, report"),
            "dj_versions": _rows(conn, "dj_versions", "layer, feature_id, version, digest, deleted"),
        }


def last_change(path: Path) -> float:
    """The newest modification time of a GeoPackage and its write-ahead log (s; 0 when absent)."""
    return _last_change(Path(path))


def adopt_built_copy(store: Store, copy: Path, *, actor: str, store_changed: float | None = None) -> dict[str, Any] | None:
    """Merge the legacy built copy ``copy`` into ``store`` (a GeoPackage store), unless adopted already.

    Parameters
    ----------
    store
        The dataset's store.
    copy
        The ``NAME.built.gpkg`` an earlier version wrote beside the dataset.
    actor
        Who adopts, for the audit log.
    store_changed
        When the dataset file last changed before this process opened it (s
        since the epoch; opening a file of an earlier version migrates it);
        default: its modification time now.

    Returns
    -------
    dict or None
        What was adopted (``newer``: whether the copy's layers won; counts of
        tokens, audit entries, scenarios), ``None`` when there was nothing to do.
    """
    copy = Path(copy).resolve()
    if not copy.is_file() or (store.path is not None and copy == store.path.resolve()):
        return None
    key = f"{copy}|{os.stat(copy).st_ino}"
    with store.snapshot() as snap:
        adopted = snap.get_meta().get(ADOPTED) or []
    if any(isinstance(d, dict) and d.get("key") == key for d in adopted):
        return None
    if store_changed is None:
        store_changed = 0.0 if store.path is None else _last_change(store.path)
    newer = _last_change(copy) > store_changed
    rows = _service_rows(copy)
    built = read_dataset(copy) if newer else None
    with store.transaction(actor=actor) as tx:
        done = tx.get_meta().get(ADOPTED) or []
        if any(isinstance(d, dict) and d.get("key") == key for d in done):
            return None  # another process adopted it meanwhile
        if built is not None:
            tx.import_dataset(built, replace=False)
            _keep_versions(tx, rows["dj_versions"])
        counts = _merge_service_rows(tx, rows)
        summary = {"key": key, "path": str(copy), "newer": newer, **counts}
        tx.set_meta({ADOPTED: [*done, summary]})
        tx.record(AuditAction.note, after={"adopted": summary})
    return summary


def _keep_versions(tx: Transaction, versions: list[tuple[Any, ...]]) -> None:
    """Feature versions at least as high as the copy's (clients' ETags stay valid or move forward)."""
    tx._s.executemany(  # noqa: SLF001 - the store package's own session
        "INSERT INTO dj_versions (layer, feature_id, version, digest, deleted) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (layer, feature_id) DO UPDATE SET version = max(dj_versions.version, excluded.version)",
        [(str(a), str(b), int(c), d, bool(e)) for a, b, c, d, e in versions],
    )


def _merge_service_rows(tx: Transaction, rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    session = tx._s  # noqa: SLF001 - the store package's own session
    known = {str(r[0]) for r in session.query("SELECT id FROM dj_tokens")}
    tokens = [r for r in rows["dj_tokens"] if str(r[0]) not in known]
    session.executemany(
        "INSERT INTO dj_tokens (id, name, role, hash, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        tokens,
    )
    # a revocation in either copy holds
    revoked = [(r[6], str(r[0])) for r in rows["dj_tokens"] if r[6]]
    session.executemany("UPDATE dj_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", revoked)
    session.executemany(
        "INSERT INTO dj_audit (at, actor, action, layer, feature_id, version, revision, before, after) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows["dj_audit"],
    )
    have = {str(r[0]) for r in session.query("SELECT id FROM dj_scenarios")}
    scenarios = [r for r in rows["dj_scenarios"] if str(r[0]) not in have]
    session.executemany("INSERT INTO dj_scenarios (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)", scenarios)
    session.executemany(
        "INSERT INTO dj_import_reports (at, actor, report) VALUES (?, ?, ?)",
        rows["dj_import_reports"],
    )
    return {
        "tokens": len(tokens),
        "revoked": len(revoked),
        "audit": len(rows["dj_audit"]),
        "scenarios": len(scenarios),
        "import_reports": len(rows["dj_import_reports"]),
    }


def adopt_file(session: Session, path: Path) -> None:
    """First open of the dataset file ``path`` (in its first migration): register its layers, copy its ``meta`` table and scenario files."""
    _adopt_layers(session)
    if session.layer_kinds("meta") is None:
        # A registered attribute table also keeps GDAL from listing the dj_ tables as layers.
        session.meta_written({})
    else:
        for key, value in session.query('SELECT "key", "value" FROM "meta"'):
            try:
                parsed = json.loads(value) if value is not None else None
            except ValueError:
                parsed = value
            session.exec("INSERT OR REPLACE INTO dj_meta (key, value) VALUES (?, ?)", (str(key), Json(parsed)))
        kinds = session.layer_kinds("compounds") or {}
        built = session.query("SELECT 1 FROM dj_meta WHERE key = 'built_at'") and "covered" in kinds and session.layer_kinds("units") is not None
        if built:
            # written whole by `dangjian build`: its derived layers agree with its centres and compounds as they are
            session.exec("INSERT OR REPLACE INTO dj_meta (key, value) VALUES (?, ?)", (DERIVED_REVISION, Json(0)))
    folder = path.parent / f"{path.stem}.scenarios"  # where versions before the store kept a file's scenarios
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


def _adopt_layers(session: Session) -> None:
    """Register layers a store finds on first open: kinds, and version 1 for every feature of ``centers``/``compounds``."""
    at = now_utc()
    for name in session.layer_names():
        kinds = session.layer_kinds(name) or {}
        session.exec(
            "INSERT INTO dj_layers (name, kinds, geometry_type, revision, updated_at) VALUES (?, ?, ?, 0, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, Json([[c, k] for c, k in kinds.items()]), session.geometry_type(name), at),
        )
        if name not in VERSIONED_LAYERS or "id" not in kinds:
            continue
        frame = session.read_layer(name)
        table, _ = storage_frame(name, frame)
        digests = row_digests(table, name)  # type: ignore[arg-type]
        session.executemany(
            "INSERT INTO dj_versions (layer, feature_id, version, digest, deleted) VALUES (?, ?, 1, ?, ?) "
            "ON CONFLICT (layer, feature_id) DO NOTHING",
            [(name, str(f), d, False) for f, d in zip(table["id"], digests, strict=True)],
        )
