"""The PostGIS store: one PostgreSQL schema per dataset, through psycopg 3.

Layout
------
The layers are tables in the dataset's schema
(:class:`~layers.store.postgis_session.PgSession` writes and reads them); the
store's own tables (``dj_*``) sit in the same schema; ``dj_schema`` lists the
applied migrations, numbered, applied in one transaction under an advisory
lock, so several service processes may start at once.  The schema and the
``postgis`` extension are created on first use.

Transactions
------------
Every write is one transaction that starts by bumping the revision row
(``UPDATE dj_revision``), which serialises the writers of one dataset; reads
run in ``REPEATABLE READ READ ONLY`` transactions (one snapshot).  A client
killed mid-write leaves an open transaction the server rolls back when the
connection drops.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from geo.errors import InputError, InvalidValueError
from layers.store.migrations import ROLES_CHECK, Migration, apply_migrations
from layers.store.postgis_session import PgSession
from layers.store.store import Store


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


#: Numbered migrations: (version, what, statements with ``{s}`` for the quoted schema).  Never edit one that shipped.
MIGRATIONS: list[Migration] = [
    (
        1,
        "store tables",
        [
            "CREATE TABLE {s}.dj_revision (id integer PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL, "
            "changed_at timestamptz NOT NULL)",
            "INSERT INTO {s}.dj_revision (id, revision, changed_at) VALUES (1, 0, now())",
            "CREATE TABLE {s}.dj_meta (key text PRIMARY KEY, value jsonb)",
            "CREATE TABLE {s}.dj_layers (name text PRIMARY KEY, kinds jsonb NOT NULL, geometry_type text, "
            "revision bigint NOT NULL, updated_at timestamptz NOT NULL)",
            "CREATE TABLE {s}.dj_versions (layer text NOT NULL, feature_id text NOT NULL, version bigint NOT NULL, "
            "digest text, deleted boolean NOT NULL DEFAULT false, PRIMARY KEY (layer, feature_id))",
            "CREATE TABLE {s}.dj_audit (seq bigserial PRIMARY KEY, at timestamptz NOT NULL, actor text NOT NULL, "
            "action text NOT NULL, layer text, feature_id text, version bigint, revision bigint NOT NULL, "
            "before jsonb, after jsonb)",
            "CREATE INDEX dj_audit_feature ON {s}.dj_audit (layer, feature_id)",
            "CREATE FUNCTION {s}.dj_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'dj_audit is append-only'; END $$",
            "CREATE TRIGGER dj_audit_no_change BEFORE UPDATE OR DELETE ON {s}.dj_audit "
            "FOR EACH ROW EXECUTE FUNCTION {s}.dj_audit_append_only()",
            "CREATE TRIGGER dj_audit_no_truncate BEFORE TRUNCATE ON {s}.dj_audit "
            "FOR EACH STATEMENT EXECUTE FUNCTION {s}.dj_audit_append_only()",
            f"CREATE TABLE {{s}}.dj_tokens (id text PRIMARY KEY, name text, role text NOT NULL CHECK ({ROLES_CHECK}), "
            "hash text NOT NULL, created_at timestamptz NOT NULL, created_by text, revoked_at timestamptz)",
            "CREATE TABLE {s}.dj_scenarios (id text PRIMARY KEY, doc jsonb NOT NULL, created_at timestamptz NOT NULL, "
            "updated_at timestamptz NOT NULL)",
            "CREATE TABLE {s}.dj_import_reports (id bigserial PRIMARY KEY, at timestamptz NOT NULL, actor text, "
            "report jsonb NOT NULL)",
        ],
    ),
    (
        2,
        "token revision",
        [
            "CREATE TABLE {s}.dj_token_revision (id integer PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL, "
            "nonce text NOT NULL)",
            "INSERT INTO {s}.dj_token_revision (id, revision, nonce) "
            "VALUES (1, 0, md5(random()::text || clock_timestamp()::text))",
            "CREATE FUNCTION {s}.dj_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE {s}.dj_token_revision SET revision = revision + 1 WHERE id = 1; RETURN NULL; END $$",
            "CREATE TRIGGER dj_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {s}.dj_tokens "
            "FOR EACH STATEMENT EXECUTE FUNCTION {s}.dj_tokens_changed()",
        ],
    ),
]


class PostGISStore(Store):
    """A store in one schema of a PostGIS database (schema, tables and extension created on first use).

    Parameters
    ----------
    url
        ``postgresql://user:password@host:port/database`` (libpq URL).
    schema
        The dataset's schema (lower-case letters, digits, ``_``).
    """

    backend = "postgis"

    def __init__(self, url: str, *, schema: str) -> None:
        super().__init__()
        if not schema or not schema.replace("_", "a").isalnum() or not schema[0].isalpha() or schema != schema.lower():
            msg = f"`schema` must be lower-case letters, digits and _ (starting with a letter); got {schema!r}"
            raise InvalidValueError(msg, field="schema")
        self.url = url
        self.schema = schema
        self._migrate()

    @property
    def location(self) -> str:
        """The URL without password, and the schema."""
        return f"{redact(self.url)}#{self.schema}"

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.url, autocommit=True, application_name="dangjian-map", connect_timeout=10)
        except psycopg.OperationalError as exc:
            msg = f"cannot connect to the database {redact(self.url)}: {str(exc).strip()}"
            raise InputError(msg, field="database_url") from exc
        path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]  # type: ignore[index]
        conn.execute(
            sql.SQL("SET search_path TO {}, {}").format(sql.Identifier(self.schema), sql.SQL(path))
        )
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def _acquire(self) -> psycopg.Connection[Any]:
        """A connection from the pool unless the server closed it, else a new one."""
        self._check_open()
        conn = self._pooled()
        return conn if conn is not None and not conn.closed else self._connect()

    def _begin_sql(self, write: bool) -> str:
        return "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def _in_transaction(self, conn: psycopg.Connection[Any]) -> bool:
        return not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE

    def _new_session(self, conn: psycopg.Connection[Any], write: bool) -> PgSession:
        return PgSession(self, conn, write)

    # -- migrations ----------------------------------------------------------------------------

    def _migrate(self) -> None:
        s = f'"{self.schema}"'  # the schema, quoted (its name is checked to need no escaping)
        with self._session(write=True) as session:
            session.exec("SELECT pg_advisory_xact_lock(hashtext(?))", (f"dangjian:{self.schema}",))
            if not session.query("SELECT 1 FROM pg_extension WHERE extname = 'postgis'"):
                try:
                    session.exec("SAVEPOINT ext")
                    session.exec("CREATE EXTENSION IF NOT EXISTS postgis")
                except psycopg.Error as exc:
                    msg = (
                        f"the database {redact(self.url)} lacks the PostGIS extension and this user cannot create it "
                        f"({str(exc).strip()}); as a superuser run: CREATE EXTENSION postgis;"
                    )
                    raise InputError(msg, field="database_url") from exc
            session.exec(f"CREATE SCHEMA IF NOT EXISTS {s}")
            session.exec(
                f"CREATE TABLE IF NOT EXISTS {s}.dj_schema (version integer PRIMARY KEY, "
                "applied_at timestamptz NOT NULL, note text)"
            )
            apply_migrations(
                session,
                [(version, note, [st.replace("{s}", s) for st in statements]) for version, note, statements in MIGRATIONS],
                table=f"{s}.dj_schema",
                where=f"schema {self.schema}",
                field="database_url",
            )

    def drop(self) -> None:
        """Remove the dataset's schema and everything in it (tests, and deleting a dataset)."""
        conn = self._connect()
        try:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
        finally:
            conn.close()
        self.close()
