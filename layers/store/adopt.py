"""Adopt a legacy ``NAME.built.gpkg`` into the dataset's own store, once.

Earlier versions served a second "built" copy beside each dataset and kept
edits, tokens, scenarios and the audit log there.  A dataset is now one store:
:func:`adopt_built_copy` merges such a copy into it in one transaction — the
newer of the two states wins for the layers, tokens, audit entries, scenarios
and import reports of the copy are added, nothing is dropped — and records the
adoption in the store's meta values so it happens only once.  The copy itself
is left where it is (another process may still have it open); it is no longer
used.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from layers.store.base import AuditAction, Store, Transaction

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
    from layers.dataset import read_dataset

    copy = Path(copy).resolve()
    if not copy.is_file() or (store.path is not None and copy == store.path.resolve()):
        return None
    key = f"{copy}|{os.stat(copy).st_ino}"
    if any(isinstance(d, dict) and d.get("key") == key for d in store.get_meta().get(ADOPTED) or []):
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
