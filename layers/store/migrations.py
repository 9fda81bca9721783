"""Migrations of the store's own tables, applied once each, in order, by both backends.

Each backend lists its numbered migrations as ``(version, what, statements)``
in its own SQL (:data:`layers.store.gpkg.MIGRATIONS`,
:data:`layers.store.postgis.MIGRATIONS`); the applied ones are rows of
``dj_schema``.  :func:`apply_migrations` runs those not applied yet inside
the backend's migration transaction, and refuses a store a newer version
wrote.  Never edit a migration that shipped; add the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from geo.errors import InvalidValueError
from layers.store.records import now_utc
from layers.store.session import Session

#: One migration: its number, what it does, its statements.
Migration = tuple[int, str, list[str]]

#: The roles a token may have, as the first migration of both backends checks them (shipped: never edit).
ROLES_CHECK = "role IN ('viewer', 'planner', 'editor', 'admin')"


def apply_migrations(
    session: Session,
    migrations: Sequence[Migration],
    *,
    table: str,
    where: str,
    field: str,
    adopt: Callable[[Session], None] | None = None,
) -> None:
    """Run the migrations ``table`` (the store's ``dj_schema``) does not list yet, and list them.

    Parameters
    ----------
    session
        A write session on the store (its migration transaction).
    migrations
        Every migration of the backend, in order.
    table
        The ``dj_schema`` table, as the statements name it.
    where, field
        The store and the setting it came from, for the error.
    adopt
        Run after the first migration made the tables: takes in what the
        store held before (the GeoPackage's layers and meta values).

    Raises
    ------
    InvalidValueError
        A newer version of dangjian-map wrote the store.
    """
    done = int(session.query(f"SELECT coalesce(max(version), 0) FROM {table}")[0][0])
    latest = migrations[-1][0]
    if done > latest:
        msg = f"{where} was written by a newer dangjian-map (store schema {done} > {latest})"
        raise InvalidValueError(msg, field=field)
    for version, note, statements in migrations:
        if version <= done:
            continue
        for statement in statements:
            session.exec(statement)
        if version == 1 and adopt is not None:
            adopt(session)
        session.exec(f"INSERT INTO {table} (version, applied_at, note) VALUES (?, ?, ?)", (version, now_utc(), note))
