"""The PostGIS backend's :class:`~layers.store.session.Session`: one PostgreSQL transaction in the dataset's schema.

Each layer is a table ``<schema>.<layer>`` with ``fid bigserial`` (row
order), one column per attribute (``boolean``, ``bigint``, ``double
precision``, ``text``, ``timestamptz``, ``bytea``) and ``geom
geometry(Geometry, 4326)`` with a GIST index; ``centers`` and ``compounds``
have a unique index on ``id``.  Layers are rewritten with ``DELETE`` +
``COPY`` into the existing table (columns added or dropped as needed) rather
than ``DROP``/``CREATE``, because a dropped and re-created table is not
MVCC-safe: a reader's older snapshot would see it empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg.types.json import Jsonb

from geo.plain import plain_scalar
from layers.store.frames import VERSIONED_LAYERS, check_layer_name, frame_from_columns, python_values
from layers.store.records import Json
from layers.store.session import Session

if TYPE_CHECKING:
    from layers.store.postgis import PostGISStore

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
    return plain_scalar(value)


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_pg_param(p) for p in params)


def _geometry_type(geoms: np.ndarray) -> str:
    """``POINT``, ``POLYGON`` ... when every geometry has that type, else ``GEOMETRY`` (as GDAL declares it)."""
    types = {t for t in shapely.get_type_id(geoms[pd.notna(geoms)]).tolist() if t >= 0}
    names = {0: "POINT", 1: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING", 6: "MULTIPOLYGON"}
    return names.get(types.pop(), "GEOMETRY") if len(types) == 1 else "GEOMETRY"


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
        if order and set(order) <= set(kinds):  # columns a later write left out stay in the table, unlisted
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
        # A column the new rows lack is kept (NULL, and no longer listed in dj_layers) rather than dropped: DDL
        # takes an exclusive lock that blocks every reader of the layer until the write commits, and a reader
        # that had listed the old columns then fails.  Only a column whose type changes is replaced.
        for col, kind in have.items():
            if col in kinds and kinds[col] != kind:
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
        """See :meth:`Session.add_column`; a column an earlier write left unlisted is emptied and used again."""
        stale = dict(self._columns(name)).get(column)
        if stale is not None and _kind_of(stale) != kind:
            self.conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(self._table(name), sql.Identifier(column)))
            stale = None
        if stale is None:
            self.conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(self._table(name), sql.Identifier(column), sql.SQL(PG_TYPES[kind]))
            )
        else:
            self.conn.execute(sql.SQL("UPDATE {} SET {} = NULL").format(self._table(name), sql.Identifier(column)))

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
