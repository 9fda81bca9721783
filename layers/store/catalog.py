"""Which datasets a PostGIS database holds, found without creating anything.

Opening a :class:`~layers.store.postgis.PostGISStore` creates its schema on
first use; listing the datasets, or asking whether one exists, must not.
A dataset's schema is one that holds the store's ``dj_schema`` table.
"""

from __future__ import annotations

from geo.errors import InputError


def postgis_datasets(database_url: str) -> list[str]:
    """Names of the schemas holding a dataset store in the database of ``database_url``, in name order.

    Raises
    ------
    InputError
        The database cannot be reached (the message leaves out the password).
    """
    import psycopg

    from layers.store import _split_url
    from layers.store.postgis import redact

    url, _ = _split_url(database_url)
    try:
        with psycopg.connect(url, autocommit=True, application_name="dangjian-map", connect_timeout=10) as conn:
            rows = conn.execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = 'dj_schema' AND c.relkind IN ('r', 'p') ORDER BY n.nspname"
            ).fetchall()
    except psycopg.OperationalError as exc:
        msg = f"cannot connect to the database {redact(url)}: {str(exc).strip()}"
        raise InputError(msg, field="database_url") from exc
    return [str(r[0]) for r in rows]
