"""The PostGIS store: one PostgreSQL schema per dataset, through psycopg 3.

Layout
------
Each layer is a table ``<schema>.<layer>`` with ``fid bigserial`` (row
order), one column per attribute (``boolean``, ``bigint``, ``double
precision``, ``text``, ``timestamptz``, ``bytea``) and ``geom
geometry(Geometry, 4326)`` with a GIST index; ``centers`` and ``compounds``
have a unique index on ``id``.  The store's own tables (``dj_*``) sit in the
same schema; ``dj_schema`` lists the applied migrations, numbered, each
applied once in its own transaction under an advisory lock, so several
service processes may start at once.  The schema and the ``postgis``
extension are created on first use.

Transactions
------------
Every write is one transaction that starts by bumping the revision row
(``UPDATE dj_revision``), which serialises the writers of one dataset; reads
run in ``REPEATABLE READ READ ONLY`` transactions (one snapshot).  Layers are
rewritten with ``DELETE`` + ``COPY`` into the existing table (columns added or
dropped as needed) rather than ``DROP``/``CREATE``, because a dropped and
re-created table is not MVCC-safe: a reader's older snapshot would see it empty.
A client killed mid-write leaves an open transaction the server rolls back
when the connection drops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from geo.errors import InputError, InvalidValueError
from layers.store.base import Json, Session, Store, now_utc
from layers.store.frames import VERSIONED_LAYERS, check_layer_name, frame_from_columns, python_values

#: SQL type of each column kind.
PG_TYPES: dict[str, str] = {
    "bool": "boolean",
    "int": "bigint",
    "float": "double precision",
    "text": "text",
    "datetime": "timestamptz",
    "blob": "bytea",
}


def _kind_of(pg_type: str) -> str:
    t = pg_type.lower()
    if t == "boolean":
        return "bool"
    if t in ("bigint", "integer", "smallint"):
        return "int"
    if t in ("double precision", "real") or t.startswith("numeric"):
        return "float"
    if t.startswith("timestamp") or t == "date":
        return "datetime"
    if t == "bytea":
        return "blob"
    return "text"


def _pg_sql(text: str) -> str:
    """Shared SQL (``?`` placeholders) for psycopg (``%s``)."""
    return text.replace("%", "%%").replace("?", "%s")


def _pg_param(value: Any) -> Any:
    if isinstance(value, Json):
        return Jsonb(value.value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_pg_param(p) for p in params)


def _geometry_type(geoms: np.ndarray) -> str:
    """``POINT``, ``POLYGON`` ... when every geometry has that type, else ``GEOMETRY`` (as GDAL declares it)."""
    types = {t for t in shapely.get_type_id(geoms[pd.notna(geoms)]).tolist() if t >= 0}
    names = {0: "POINT", 1: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING", 6: "MULTIPOLYGON"}
    return names.get(types.pop(), "GEOMETRY") if len(types) == 1 else "GEOMETRY"


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class PgSession(Session):
    """One PostgreSQL transaction in the dataset's schema."""

    def __init__(self, store: PostGISStore, conn: psycopg.Connection[Any], write: bool) -> None:
        self.store = store
        self.conn = conn
        self.write = write
        self.schema = store.schema
        self._geometry_types: dict[str, str] = {}

    # -- SQL -----------------------------------------------------------------------------------

    def exec(self, sql_text: str, params: Sequence[Any] = ()) -> int:
        """See :meth:`Session.exec`."""
        return self.conn.execute(_pg_sql(sql_text), _params(params)).rowcount  # type: ignore[arg-type]

    def query(self, sql_text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """See :meth:`Session.query`."""
        return self.conn.execute(_pg_sql(sql_text), _params(params)).fetchall()  # type: ignore[arg-type]

    def executemany(self, sql_text: str, rows: Iterable[Sequence[Any]]) -> None:
        """See :meth:`Session.executemany`."""
        rows = [_params(r) for r in rows]
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(_pg_sql(sql_text), rows)  # type: ignore[arg-type]

    def load_json(self, value: Any) -> Any:
        """``jsonb`` arrives as Python data already."""
        return value

    def _table(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(name))

    # -- catalogue -----------------------------------------------------------------------------

    def layer_names(self) -> list[str]:
        """See :meth:`Session.layer_names`: the schema's tables but the store's own."""
        rows = self.conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            (self.schema,),
        ).fetchall()
        out = []
        for (name,) in rows:
            if str(name).startswith("dj_"):
                continue
            try:
                out.append(check_layer_name(str(name)))
            except ValueError:
                continue
        return out

    def _columns(self, name: str) -> list[tuple[str, str]]:
        return [
            (str(n), str(t))
            for n, t in self.conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (self.schema, name),
            ).fetchall()
        ]

    def _has_geometry(self, name: str) -> bool:
        return any(n == "geom" for n, _ in self._columns(name))

    def layer_kinds(self, name: str) -> dict[str, str] | None:
        """See :meth:`Session.layer_kinds`; column order as written (kept in ``dj_layers``)."""
        cols = self._columns(name)
        if not cols:
            return None
        kinds = {n: _kind_of(t) for n, t in cols if n not in ("fid", "geom")}
        row = self.conn.execute("SELECT kinds FROM dj_layers WHERE name = %s", (name,)).fetchone()
        order = [c for c, _ in row[0]] if row else []
        if set(order) == set(kinds):
            return {c: kinds[c] for c in order}
        return kinds

    def geometry_type(self, name: str) -> str | None:
        """See :meth:`Session.geometry_type`."""
        if name in self._geometry_types:
            return self._geometry_types[name]
        if not self._has_geometry(name):
            return None
        row = self.conn.execute("SELECT geometry_type FROM dj_layers WHERE name = %s", (name,)).fetchone()
        return str(row[0]) if row and row[0] else "GEOMETRY"

    def count_rows(self, name: str) -> int:
        """See :meth:`Session.count_rows`."""
        return int(self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table(name))).fetchone()[0])  # type: ignore[index]

    # -- whole layers --------------------------------------------------------------------------

    def read_layer(
        self, name: str, *, bbox: tuple[float, float, float, float] | None = None, ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """See :meth:`Session.read_layer` (the bbox goes through the GIST index)."""
        kinds = self.layer_kinds(name) or {}
        has_geom = self._has_geometry(name)
        cols = list(kinds)
        select = [sql.Identifier(c) for c in cols]
        if has_geom:
            select.append(sql.SQL("ST_AsBinary({})").format(sql.Identifier("geom")))
        where: list[sql.Composable] = []
        params: list[Any] = []
        if ids is not None:
            where.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier("id")))
            params.append([str(i) for i in ids])
        if bbox is not None and has_geom:
            where.append(sql.SQL("geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"))
            params += [float(v) for v in bbox]
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(select or [sql.SQL("fid")]), self._table(name))
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        query += sql.SQL(" ORDER BY fid")
        with self.conn.cursor(binary=True) as cur:
            rows = cur.execute(query, params).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in select]
        geometry = None
        if has_geom:
            geometry = shapely.from_wkb(np.array([None if b is None else bytes(b) for b in columns[-1]], dtype=object))
            if not len(rows):
                geometry = np.array([], dtype=object)
        return frame_from_columns(cols, [kinds[c] for c in cols], columns[: len(cols)], geometry)

    def _ensure_table(self, name: str, kinds: Mapping[str, str], has_geom: bool) -> bool:
        """Create the table, or bring an existing one to these columns; whether it was created."""
        existing = self._columns(name)
        if not existing:
            defs = [sql.SQL("fid bigserial PRIMARY KEY")]
            defs += [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(PG_TYPES[k])) for c, k in kinds.items()]
            if has_geom:
                defs.append(sql.SQL("geom geometry(Geometry, 4326)"))
            self.conn.execute(sql.SQL("CREATE TABLE {} ({})").format(self._table(name), sql.SQL(", ").join(defs)))
            return True
        have = {n: _kind_of(t) for n, t in existing if n not in ("fid", "geom")}
        for col, kind in have.items():
            if kinds.get(col) != kind:
                self.conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(self._table(name), sql.Identifier(col)))
        for col, kind in kinds.items():
            if have.get(col) != kind:
                self.conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(self._table(name), sql.Identifier(col), sql.SQL(PG_TYPES[kind]))
                )
        if has_geom and not any(n == "geom" for n, _ in existing):
            self.conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN geom geometry(Geometry, 4326)").format(self._table(name)))
        return False

    def _ensure_indexes(self, name: str, kinds: Mapping[str, str], has_geom: bool) -> None:
        if has_geom:
            self.conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING GIST (geom)").format(
                    sql.Identifier(f"{name}_geom_gist"[:63]), self._table(name)
                )
            )
        if "id" in kinds:
            unique = sql.SQL("UNIQUE ") if name in VERSIONED_LAYERS else sql.SQL("")
            self.conn.execute(
                sql.SQL("CREATE {}INDEX IF NOT EXISTS {} ON {} (id)").format(
                    unique, sql.Identifier(f"{name}_id_idx"[:63]), self._table(name)
                )
            )

    def replace_layer(self, name: str, frame: pd.DataFrame, kinds: Mapping[str, str]) -> None:
        """See :meth:`Session.replace_layer`: ``DELETE`` + ``COPY`` into the (created or adjusted) table."""
        has_geom = hasattr(frame, "geometry") and getattr(frame, "_geometry_column_name", None) in frame.columns
        created = self._ensure_table(name, kinds, has_geom)
        if not created:
            self.conn.execute(sql.SQL("DELETE FROM {}").format(self._table(name)))
        cols = list(kinds)
        values = [python_values(frame[c], kinds[c]) for c in cols]
        targets = [sql.Identifier(c) for c in cols]
        if has_geom:
            geoms = frame.geometry.to_numpy()
            ewkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
            values.append([None if g is None else str(g) for g in ewkb])
            targets.append(sql.Identifier("geom"))
            self._geometry_types[name] = _geometry_type(geoms)
        if len(frame) and targets:
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(self._table(name), sql.SQL(", ").join(targets))
            with self.conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in zip(*values, strict=True):
                    copy.write_row(row)
        self._ensure_indexes(name, kinds, has_geom)
        if created:
            self.conn.execute(sql.SQL("ANALYZE {}").format(self._table(name)))

    def drop_layer(self, name: str) -> None:
        """See :meth:`Session.drop_layer`."""
        self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._table(name)))

    # -- single rows ---------------------------------------------------------------------------

    def add_column(self, name: str, column: str, kind: str) -> None:
        """See :meth:`Session.add_column`."""
        self.conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(self._table(name), sql.Identifier(column), sql.SQL(PG_TYPES[kind]))
        )

    def insert_row(self, name: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """See :meth:`Session.insert_row`."""
        targets = [sql.Identifier(c) for c in values]
        slots = [sql.SQL("%s")] * len(values)
        params = [_pg_param(v) for v in values.values()]
        if self._has_geometry(name):
            targets.append(sql.Identifier("geom"))
            slots.append(sql.SQL("ST_GeomFromWKB(%s, 4326)"))
            params.append(None if geometry is None else shapely.to_wkb(geometry))
        self.conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                self._table(name), sql.SQL(", ").join(targets), sql.SQL(", ").join(slots)
            ),
            params,
        )

    def update_row(self, name: str, feature_id: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """See :meth:`Session.update_row`."""
        sets = [sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values]
        params = [_pg_param(v) for v in values.values()]
        if self._has_geometry(name):
            sets.append(sql.SQL("geom = ST_GeomFromWKB(%s, 4326)"))
            params.append(None if geometry is None else shapely.to_wkb(geometry))
        params.append(feature_id)
        self.conn.execute(
            sql.SQL("UPDATE {} SET {} WHERE id = %s").format(self._table(name), sql.SQL(", ").join(sets)), params
        )

    def delete_row(self, name: str, feature_id: str) -> None:
        """See :meth:`Session.delete_row`."""
        self.conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(self._table(name)), (feature_id,))

    def delete_rows(self, name: str, column: str, values: Sequence[str]) -> int:
        """See :meth:`Session.delete_rows`."""
        cur = self.conn.execute(
            sql.SQL("DELETE FROM {} WHERE {}::text = ANY(%s)").format(self._table(name), sql.Identifier(column)),
            ([str(v) for v in values],),
        )
        return int(cur.rowcount)


# ---------------------------------------------------------------------------
# migrations
# ---------------------------------------------------------------------------

_ROLES_CHECK = "role IN ('viewer', 'planner', 'editor', 'admin')"

#: Numbered migrations: (version, what, statements with ``{s}`` for the quoted schema).  Never edit one that shipped.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
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
            f"CREATE TABLE {{s}}.dj_tokens (id text PRIMARY KEY, name text, role text NOT NULL CHECK ({_ROLES_CHECK}), "
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
SCHEMA_VERSION = MIGRATIONS[-1][0]


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
        conn = self._connect()
        s = sql.Identifier(self.schema).as_string(conn)
        try:
            conn.execute("BEGIN")
            try:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"dangjian:{self.schema}",))
                if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
                    try:
                        conn.execute("SAVEPOINT ext")
                        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                    except psycopg.Error as exc:
                        msg = (
                            f"the database {redact(self.url)} lacks the PostGIS extension and this user cannot create it "
                            f"({str(exc).strip()}); as a superuser run: CREATE EXTENSION postgis;"
                        )
                        raise InputError(msg, field="database_url") from exc
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {s}.dj_schema (version integer PRIMARY KEY, "
                    "applied_at timestamptz NOT NULL, note text)"
                )
                done = conn.execute(f"SELECT coalesce(max(version), 0) FROM {s}.dj_schema").fetchone()[0]  # type: ignore[index]
                if done > SCHEMA_VERSION:
                    msg = f"schema {self.schema} was written by a newer dangjian-map (store schema {done} > {SCHEMA_VERSION})"
                    raise InvalidValueError(msg, field="database_url")
                for version, note, statements in MIGRATIONS:
                    if version <= done:
                        continue
                    for statement in statements:
                        conn.execute(statement.replace("{s}", s))  # type: ignore[arg-type]
                    conn.execute(
                        f"INSERT INTO {s}.dj_schema (version, applied_at, note) VALUES (%s, %s, %s)",  # type: ignore[arg-type]
                        (version, now_utc(), note),
                    )
            except BaseException:
                if not conn.closed:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def drop(self) -> None:
        """Remove the dataset's schema and everything in it (tests, and deleting a dataset)."""
        conn = self._connect()
        try:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
        finally:
            conn.close()
        self.close()
