"""The storage interface: one :class:`Store` over two backends (GeoPackage, PostGIS).

A store holds one dataset: its layers (GeoDataFrames in EPSG:4326), a version
per feature of ``centers`` and ``compounds``, the dataset's meta values,
scenarios, import reports, access tokens (hashed) and an append-only audit
log.  A *revision* counter goes up by one with every write transaction; the
service uses it for ETags and to drop cached tiles.  A separate *token
revision* moves with every change of the tokens only: a store checks it on
every :meth:`Store.verify_token` and answers a token from its cache only while
it has not moved, so a revocation by any process counts on the next request.

Reads go through a :class:`Snapshot` (one consistent view), writes through a
:class:`Transaction`::

    with store.transaction(actor="token:3fa9c2d1") as tx:
        ref = tx.update_feature("centers", "S0003", properties={"status": "existing"}, expected_version=2)
        tx.write_layer("compounds", recomputed)      # same transaction: all or nothing

Everything inside one ``with`` block commits together or not at all (an
exception, a crash or a kill leaves the previous state).  Writers are
serialised per dataset, so a version check inside a transaction cannot race.
The convenience methods on :class:`Store` (``store.update_feature(...)``) each
run one transaction.

Backends implement :class:`Session` (one database transaction: SQL plus
layer tables); everything else lives here, written once.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from geo.crs import WGS84, metric_crs
from geo.errors import (
    DatasetNotFoundError,
    FeatureExistsError,
    GeometryError,
    InvalidValueError,
    NotFoundError,
    VersionConflictError,
)
from layers.dataset import Dataset, empty_layer, prepare_layer
from layers.schema import INPUT_LAYERS, LAYER_SPECS
from layers.store.frames import (
    VERSIONED_LAYERS,
    check_layer_name,
    check_versioned,
    coerce_series,
    column_kind,
    feature_json,
    jsonable,
    python_values,
    row_digests,
    storage_frame,
)
from layers.store.tokens import (
    Role,
    TokenCheck,
    TokenChecks,
    check_secret,
    hash_secret,
    new_token,
    parse_role,
    split_token,
)

#: Ids listed per kind (added, changed, removed) in the audit entry of a whole-layer write.
AUDIT_ID_LIMIT = 100
_SCENARIO_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: Called with the open transaction just before it commits (tests use it to fail or kill mid-write).
_before_commit: Callable[[Transaction], None] | None = None


#: Meta key: the revision at which the derived layers (coverage, circles, units ...) were last made to
#: agree with the centres and compounds: by importing a built dataset, or by an edit that recomputed them.
#: A feature written through the store alone moves the revision past it.
DERIVED_REVISION = "derived_revision"


class AuditAction(StrEnum):
    """What an audit entry records."""

    create = "create"
    update = "update"
    delete = "delete"
    replace_layer = "replace_layer"
    delete_layer = "delete_layer"
    import_dataset = "import_dataset"
    replace_rows = "replace_rows"
    meta = "meta"
    scenario_put = "scenario_put"
    scenario_delete = "scenario_delete"
    import_report = "import_report"
    token_create = "token_create"
    token_revoke = "token_revoke"
    note = "note"


@dataclass(frozen=True)
class FeatureRef:
    """Where a write left a feature: its id, its version and the dataset's revision."""

    layer: str
    id: str
    version: int
    revision: int


@dataclass(frozen=True)
class StoredFeature:
    """One feature as stored.

    Attributes
    ----------
    layer, id
        Where it lives.
    version
        Goes up by one with every change of its editable columns or geometry
        (0 for layers without versions).
    properties
        Column values as plain Python (``id`` left out).
    geometry
        Shapely geometry, EPSG:4326.
    """

    layer: str
    id: str
    version: int
    properties: dict[str, Any]
    geometry: shapely.Geometry | None

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Feature with ``id`` and ``version``."""
        return feature_json(self.id, self.properties, self.geometry, self.version)


@dataclass(frozen=True)
class LayerInfo:
    """A stored layer: name, rows, geometry type, whether it is versioned, the revision of its last change."""

    name: str
    rows: int
    geometry_type: str | None
    versioned: bool
    revision: int
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log (never changed once written)."""

    seq: int
    at: str
    actor: str
    action: str
    layer: str | None
    feature_id: str | None
    version: int | None
    revision: int
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "layer": self.layer,
            "feature_id": self.feature_id,
            "version": self.version,
            "revision": self.revision,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: str
    role: Role
    name: str
    created_at: str
    created_by: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """Whether the token still opens doors."""
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "id": self.id,
            "role": self.role.value,
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class NewToken:
    """A token just created: the plaintext (shown once, never stored) and what is stored about it."""

    token: str
    info: TokenInfo = field(repr=False)


@dataclass(frozen=True)
class Json:
    """A value to store in a JSON column (each backend adapts it)."""

    value: Any


def now_utc() -> datetime:
    """The current time, UTC, to the microsecond."""
    return datetime.now(UTC)


def iso(value: Any) -> str | None:
    """A timestamp from either backend as ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


# ---------------------------------------------------------------------------
# backends implement this
# ---------------------------------------------------------------------------


class Session(ABC):
    """One database transaction of a backend: SQL on the store's tables and the layer tables.

    SQL given to :meth:`exec`, :meth:`query` and :meth:`executemany` uses ``?``
    placeholders; parameters may be ``str``, ``int``, ``float``, ``bool``,
    ``None``, :class:`datetime` and :class:`Json`.
    """

    write: bool

    @abstractmethod
    def exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it touched."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query; its rows."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""

    @abstractmethod
    def layer_names(self) -> list[str]:
        """Names of the stored layers (not the store's own tables, not ``meta``)."""

    @abstractmethod
    def layer_kinds(self, name: str) -> dict[str, str] | None:
        """Attribute columns of a layer and their kinds, in table order; ``None`` when there is no such layer."""

    @abstractmethod
    def geometry_type(self, name: str) -> str | None:
        """The layer's declared geometry type (``POINT``, ``GEOMETRY`` ...), ``None`` without geometry."""

    @abstractmethod
    def count_rows(self, name: str) -> int:
        """Rows in a layer."""

    @abstractmethod
    def read_layer(
        self, name: str, *, bbox: tuple[float, float, float, float] | None = None, ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """A layer in table order (GeoDataFrame in EPSG:4326), optionally only rows whose bbox meets ``bbox`` or with these ``id``."""

    @abstractmethod
    def replace_layer(self, name: str, frame: pd.DataFrame, kinds: Mapping[str, str]) -> None:
        """Replace (or create) a whole layer with a frame from :func:`~layers.store.frames.storage_frame`."""

    @abstractmethod
    def drop_layer(self, name: str) -> None:
        """Remove a layer if it exists."""

    @abstractmethod
    def add_column(self, name: str, column: str, kind: str) -> None:
        """Add an empty attribute column of ``kind`` to a layer."""

    @abstractmethod
    def insert_row(self, name: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """Append one row (values are plain Python, one per column of :meth:`layer_kinds`)."""

    @abstractmethod
    def update_row(self, name: str, feature_id: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """Replace every value and the geometry of the row with this ``id``."""

    @abstractmethod
    def delete_row(self, name: str, feature_id: str) -> None:
        """Delete the row with this ``id``."""

    @abstractmethod
    def delete_rows(self, name: str, column: str, values: Sequence[str]) -> int:
        """Delete the rows whose ``column`` (as text) is one of ``values``; how many went."""

    def load_json(self, value: Any) -> Any:
        """A JSON column's value as Python data (JSON text here; backends with a JSON type override)."""
        return None if value is None else json.loads(value)

    def meta_written(self, meta: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Called after the meta values changed (the GeoPackage mirrors them into its ``meta`` table)."""


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


def _to_geometry(geometry: Any, layer: str) -> shapely.Geometry:
    """A shapely geometry from a shapely object or a GeoJSON geometry mapping, checked to be lon/lat."""
    if isinstance(geometry, shapely.Geometry):
        geom = geometry
    elif isinstance(geometry, Mapping):
        try:
            geom = shape(geometry)
        except Exception as exc:  # shapely raises several types for bad GeoJSON
            msg = f"layer `{layer}`: `geometry` is not a GeoJSON geometry: {exc}"
            raise GeometryError(msg, field="geometry") from exc
    else:
        msg = f"layer `{layer}`: `geometry` is required (a GeoJSON geometry); got {geometry!r}"
        raise GeometryError(msg, field="geometry")
    if geom.is_empty:
        msg = f"layer `{layer}`: `geometry` is empty"
        raise GeometryError(msg, field="geometry")
    minx, miny, maxx, maxy = geom.bounds
    if not (np.isfinite([minx, miny, maxx, maxy]).all() and -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        msg = f"layer `{layer}`: `geometry` must be longitude/latitude degrees (WGS84); its extent is {geom.bounds!r}"
        raise GeometryError(msg, field="geometry")
    return geom


class Snapshot:
    """A consistent read-only view of a store (see :meth:`Store.snapshot`)."""

    def __init__(self, store: Store, session: Session) -> None:
        self.store = store
        self._s = session
        self._revision: int | None = None

    @property
    def revision(self) -> int:
        """The dataset revision this view sees."""
        if self._revision is None:
            self._revision = int(self._s.query("SELECT revision FROM dj_revision WHERE id = 1")[0][0])
        return self._revision

    def token_revision(self) -> tuple[str, int]:
        """The token revision this view sees: ``(nonce, counter)``.

        The counter moves with every change of ``dj_tokens`` (create, revoke,
        or any other write: a trigger moves it, in the writing transaction);
        the nonce is drawn when the store's tables are made, so a file replaced
        by another store's never shows a revision seen before.
        """
        rows = self._s.query("SELECT nonce, revision FROM dj_token_revision WHERE id = 1")
        return str(rows[0][0]), int(rows[0][1])

    # -- layers --------------------------------------------------------------------------------

    def list_layers(self) -> list[LayerInfo]:
        """Every stored layer, in name order."""
        revisions = {str(n): int(r) for n, r in self._s.query("SELECT name, revision FROM dj_layers")}
        out = []
        for name in sorted(self._s.layer_names()):
            kinds = self._s.layer_kinds(name) or {}
            out.append(
                LayerInfo(
                    name=name,
                    rows=self._s.count_rows(name),
                    geometry_type=self._s.geometry_type(name),
                    versioned=name in VERSIONED_LAYERS,
                    revision=revisions.get(name, 0),
                    columns=tuple(kinds),
                )
            )
        return out

    def layer_revisions(self) -> dict[str, int]:
        """The revision of each layer's last change."""
        return {str(n): int(r) for n, r in self._s.query("SELECT name, revision FROM dj_layers")}

    def feature_versions(self, layer: str) -> dict[str, int]:
        """The version of every live feature of ``centers`` or ``compounds``."""
        table = self._versions(check_versioned(layer))
        live = table[~table["deleted"]]
        return dict(zip(live["feature_id"].astype(str), live["version"].astype(int), strict=True))

    def derived_current(self) -> bool:
        """Whether the derived layers agree with the centres and compounds as stored.

        True when :data:`DERIVED_REVISION` in the meta values is not older than
        the last change of an input layer (a feature written through the store
        alone, without recomputing, or an import of roads makes it false).
        """
        stamp = self.get_meta().get(DERIVED_REVISION)
        if not isinstance(stamp, int):
            return False
        names = ", ".join(f"'{n}'" for n in INPUT_LAYERS)
        rows = self._s.query(f"SELECT max(revision) FROM dj_layers WHERE name IN ({names})")
        last = rows[0][0] if rows and rows[0][0] is not None else 0
        return stamp >= int(last)

    def has_layer(self, name: str) -> bool:
        """Whether the layer is stored (it may be empty)."""
        return name in self._s.layer_names()

    def columns(self, name: str) -> tuple[str, ...]:
        """The stored columns of a layer (without its geometry); empty when the layer is not stored."""
        return tuple(self._s.layer_kinds(name) or {})

    def _require_layer(self, name: str) -> None:
        check_layer_name(name)
        if not self.has_layer(name):
            msg = f"the store has no layer `{name}` (layers: {', '.join(sorted(self._s.layer_names())) or 'none'})"
            raise NotFoundError(msg, field="layer")

    def read_layer(
        self,
        name: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        versions: bool = False,
        ids: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """A whole layer in EPSG:4326, in stored order.

        Parameters
        ----------
        name
            Layer name.
        bbox
            ``(minlon, minlat, maxlon, maxlat)``: only features whose bounding
            box meets it (through the spatial index).
        ids
            Only the features with these ``id`` values.
        versions
            Add an integer ``version`` column (``centers`` and ``compounds``).

        Raises
        ------
        NotFoundError
            No such layer.
        """
        self._require_layer(name)
        if bbox is not None:
            bbox = tuple(float(v) for v in bbox)  # type: ignore[assignment]
            if len(bbox) != 4 or not np.isfinite(bbox).all() or bbox[0] > bbox[2] or bbox[1] > bbox[3]:
                msg = f"`bbox` must be minlon,minlat,maxlon,maxlat; got {bbox!r}"
                raise InvalidValueError(msg, field="bbox")
        frame = self._s.read_layer(name, bbox=bbox, ids=None if ids is None else [str(i) for i in ids])
        if versions and name in VERSIONED_LAYERS:
            table = self._versions(name)
            live = table[~table["deleted"]].set_index("feature_id")["version"]
            frame["version"] = frame["id"].astype(str).map(live).fillna(0).astype("int64").to_numpy()
        return frame  # type: ignore[return-value]

    def _versions(self, layer: str) -> pd.DataFrame:
        rows = self._s.query("SELECT feature_id, version, digest, deleted FROM dj_versions WHERE layer = ?", (layer,))
        table = pd.DataFrame(rows, columns=["feature_id", "version", "digest", "deleted"])
        table["version"] = table["version"].astype("int64")
        table["deleted"] = table["deleted"].astype(bool)
        table["feature_id"] = table["feature_id"].astype(object)
        return table

    def _version_of(self, layer: str, feature_id: str) -> tuple[int, bool] | None:
        rows = self._s.query(
            "SELECT version, deleted FROM dj_versions WHERE layer = ? AND feature_id = ?", (layer, feature_id)
        )
        return (int(rows[0][0]), bool(rows[0][1])) if rows else None

    def get_feature(self, layer: str, feature_id: str) -> StoredFeature:
        """One feature by its ``id``.

        Raises
        ------
        NotFoundError
            No such layer or no such feature (or it was deleted).
        """
        self._require_layer(layer)
        feature_id = str(feature_id)
        if "id" not in (self._s.layer_kinds(layer) or {}):
            msg = f"layer `{layer}` has no `id` column to find feature `{feature_id}` by"
            raise NotFoundError(msg, field="id")
        frame = self._s.read_layer(layer, ids=[feature_id])
        if not len(frame):
            msg = f"layer `{layer}` has no feature `{feature_id}`"
            raise NotFoundError(msg, field="id")
        row = frame.iloc[0]
        geom_col = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
        props = {str(c): jsonable(row[c]) for c in frame.columns if c not in ("id", geom_col)}
        found = self._version_of(layer, feature_id) if layer in VERSIONED_LAYERS else None
        version = found[0] if found and not found[1] else 0
        geometry = row[geom_col] if geom_col else None
        return StoredFeature(layer=layer, id=feature_id, version=version, properties=props, geometry=geometry)

    # -- meta, scenarios, reports, audit, tokens -----------------------------------------------

    def get_meta(self) -> dict[str, Any]:
        """The dataset's meta values (build parameters, summary ...)."""
        return {str(k): self._s.load_json(v) for k, v in self._s.query("SELECT key, value FROM dj_meta ORDER BY key")}

    def list_scenarios(self) -> list[dict[str, Any]]:
        """Every stored scenario document, oldest first."""
        rows = self._s.query("SELECT doc FROM dj_scenarios ORDER BY created_at, id")
        return [self._s.load_json(d) for (d,) in rows]

    def get_scenario(self, scenario_id: str) -> dict[str, Any]:
        """One scenario document; :class:`NotFoundError` if there is none."""
        rows = self._s.query("SELECT doc FROM dj_scenarios WHERE id = ?", (str(scenario_id),))
        if not rows:
            msg = f"no scenario `{scenario_id}`"
            raise NotFoundError(msg, field="scenario")
        return self._s.load_json(rows[0][0])

    def list_import_reports(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """The latest import reports, newest first: ``{"id", "at", "actor", "report"}``."""
        rows = self._s.query(
            "SELECT id, at, actor, report FROM dj_import_reports ORDER BY id DESC LIMIT ?", (int(limit),)
        )
        return [{"id": int(i), "at": iso(a), "actor": actor, "report": self._s.load_json(r)} for i, a, actor, r in rows]

    def get_import_report(self, report_id: int) -> dict[str, Any]:
        """One import report; :class:`NotFoundError` if there is none."""
        rows = self._s.query("SELECT id, at, actor, report FROM dj_import_reports WHERE id = ?", (int(report_id),))
        if not rows:
            msg = f"no import report `{report_id}`"
            raise NotFoundError(msg, field="report")
        i, a, actor, r = rows[0]
        return {"id": int(i), "at": iso(a), "actor": actor, "report": self._s.load_json(r)}

    def audit(
        self,
        *,
        layer: str | None = None,
        feature_id: str | None = None,
        after_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Audit entries in the order written.

        Parameters
        ----------
        layer, feature_id
            Only entries about this layer / feature.
        after_seq
            Only entries after this sequence number (paging forward); without
            it, the latest ``limit`` entries.
        limit
            At most this many entries.
        """
        where, params = [], []
        if layer is not None:
            where.append("layer = ?")
            params.append(layer)
        if feature_id is not None:
            where.append("feature_id = ?")
            params.append(str(feature_id))
        if after_seq is not None:
            where.append("seq > ?")
            params.append(int(after_seq))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order = "ASC" if after_seq is not None else "DESC"
        rows = self._s.query(
            "SELECT seq, at, actor, action, layer, feature_id, version, revision, before, after "
            f"FROM dj_audit{clause} ORDER BY seq {order} LIMIT ?",
            (*params, int(limit)),
        )
        entries = [
            AuditEntry(
                seq=int(r[0]),
                at=iso(r[1]) or "",
                actor=str(r[2]),
                action=str(r[3]),
                layer=r[4],
                feature_id=r[5],
                version=None if r[6] is None else int(r[6]),
                revision=int(r[7]),
                before=self._s.load_json(r[8]),
                after=self._s.load_json(r[9]),
            )
            for r in rows
        ]
        return sorted(entries, key=lambda e: e.seq)

    def list_tokens(self) -> list[TokenInfo]:
        """Every token ever created (revoked ones too), oldest first; secrets are not stored."""
        rows = self._s.query(
            "SELECT id, role, name, created_at, created_by, revoked_at FROM dj_tokens ORDER BY created_at, id"
        )
        return [_token_info(r) for r in rows]

    # -- the whole dataset ---------------------------------------------------------------------

    def export_dataset(self, *, inputs_only: bool = False) -> Dataset:
        """The stored layers and meta as a :class:`~layers.dataset.Dataset` (absent input layers empty).

        ``inputs_only`` leaves out the derived layers (a build that replaces
        them need not read them).

        Raises
        ------
        DatasetNotFoundError
            The store holds no ``compounds`` layer.
        """
        names = self._s.layer_names()
        if "compounds" not in names:
            msg = f"the store {self.store.location} has no `compounds` layer (layers: {', '.join(sorted(names)) or 'none'})"
            raise DatasetNotFoundError(msg, field="dataset")
        layers: dict[str, gpd.GeoDataFrame] = {}
        for name in INPUT_LAYERS:
            if name in names:
                layers[name] = self._s.read_layer(name)  # type: ignore[assignment]
            elif name != "gates":
                layers[name] = empty_layer(name)
        for name in [] if inputs_only else sorted(names):
            if name not in layers:
                frame = self._s.read_layer(name)
                if isinstance(frame, gpd.GeoDataFrame):
                    layers[name] = frame
        crs = metric_crs(*(layers[n] for n in ("boundary", "roads", "compounds")))
        return Dataset(layers=layers, metric_crs=crs, meta=self.get_meta(), path=self.store.path)


def _token_info(row: Sequence[Any]) -> TokenInfo:
    return TokenInfo(
        id=str(row[0]),
        role=Role(str(row[1])),
        name=str(row[2] or ""),
        created_at=iso(row[3]) or "",
        created_by=str(row[4] or ""),
        revoked_at=iso(row[5]),
    )


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


class Transaction(Snapshot):
    """One write transaction (see :meth:`Store.transaction`); reads inside it see its own writes.

    Attributes
    ----------
    actor
        Who writes (``token:<id>``, ``cli:<user>``, ``system``): goes into the audit log.
    revision
        The dataset revision this transaction creates.
    """

    def __init__(self, store: Store, session: Session, actor: str) -> None:
        super().__init__(store, session)
        if not isinstance(actor, str) or not actor.strip():
            msg = "a write needs an `actor` (who writes), for the audit log"
            raise InvalidValueError(msg, field="actor")
        self.actor = actor.strip()
        self._savepoints = 0
        self._at = now_utc()
        session.exec("UPDATE dj_revision SET revision = revision + 1, changed_at = ? WHERE id = 1", (self._at,))
        self._revision = int(session.query("SELECT revision FROM dj_revision WHERE id = 1")[0][0])

    def set_actor(self, actor: str) -> None:
        """Who the following writes of this transaction are by (one transaction may carry several callers' edits)."""
        if not isinstance(actor, str) or not actor.strip():
            msg = "a write needs an `actor` (who writes), for the audit log"
            raise InvalidValueError(msg, field="actor")
        self.actor = actor.strip()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the transaction that an exception undoes alone (SQL ``SAVEPOINT``), leaving the rest to commit."""
        self._savepoints += 1
        name = f"dj_sp_{self._savepoints}"
        self._s.exec(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._s.exec(f"ROLLBACK TO SAVEPOINT {name}")
            self._s.exec(f"RELEASE SAVEPOINT {name}")
            raise
        self._s.exec(f"RELEASE SAVEPOINT {name}")

    # -- audit ---------------------------------------------------------------------------------

    def record(
        self,
        action: AuditAction | str,
        *,
        layer: str | None = None,
        feature_id: str | None = None,
        version: int | None = None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        """Append one entry to the audit log (the write methods do this themselves)."""
        self._s.exec(
            "INSERT INTO dj_audit (at, actor, action, layer, feature_id, version, revision, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                now_utc(),
                self.actor,
                str(action),
                layer,
                feature_id,
                version,
                self.revision,
                None if before is None else Json(jsonable(before)),
                None if after is None else Json(jsonable(after)),
            ),
        )

    def _touch_layer(self, name: str, kinds: Mapping[str, str] | None = None, geometry_type: str | None = None) -> None:
        if kinds is None:
            if not self._s.exec("UPDATE dj_layers SET revision = ?, updated_at = ? WHERE name = ?", (self.revision, self._at, name)):
                kinds = self._s.layer_kinds(name) or {}
                geometry_type = self._s.geometry_type(name)
            else:
                return
        self._s.exec(
            "INSERT INTO dj_layers (name, kinds, geometry_type, revision, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET kinds = excluded.kinds, geometry_type = excluded.geometry_type, "
            "revision = excluded.revision, updated_at = excluded.updated_at",
            (name, Json([[c, k] for c, k in kinds.items()]), geometry_type, self.revision, self._at),
        )

    def _set_versions(self, layer: str, rows: Iterable[tuple[str, int, str | None, bool]]) -> None:
        self._s.executemany(
            "INSERT INTO dj_versions (layer, feature_id, version, digest, deleted) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (layer, feature_id) DO UPDATE SET version = excluded.version, "
            "digest = excluded.digest, deleted = excluded.deleted",
            [(layer, fid, int(v), d, bool(x)) for fid, v, d, x in rows],
        )

    # -- layers --------------------------------------------------------------------------------

    def write_layer(self, name: str, frame: pd.DataFrame) -> None:
        """Replace a whole layer (create it when new).

        The frame is stored as given (not validated against the layer spec:
        use :func:`layers.dataset.prepare_layer` first for input data), in
        EPSG:4326.  In ``centers`` and ``compounds`` every feature needs a
        unique ``id``; a feature's version goes up only when its editable
        columns or geometry changed, features left out are deleted.

        Raises
        ------
        InvalidValueError
            Bad column names; blank or repeated ids.
        """
        check_layer_name(name)
        table, kinds = storage_frame(name, frame)
        before_rows = self._s.count_rows(name) if self.has_layer(name) else None
        self._s.replace_layer(name, table, kinds)
        geometry_type = self._s.geometry_type(name)
        self._touch_layer(name, kinds, geometry_type)
        after: dict[str, Any] = {"rows": len(table), "columns": list(kinds)}
        if name in VERSIONED_LAYERS:
            after.update(self._version_layer(name, table))  # type: ignore[arg-type]
        self.record(
            AuditAction.replace_layer,
            layer=name,
            before=None if before_rows is None else {"rows": before_rows},
            after=after,
        )

    def _version_layer(self, name: str, table: gpd.GeoDataFrame) -> dict[str, Any]:
        """Bump the versions of changed features of a rewritten layer; what changed, for the audit log."""
        new = pd.DataFrame({"feature_id": table["id"].astype(str).to_numpy(), "digest": row_digests(table, name)})
        old = self._versions(name)
        merged = new.merge(old, on="feature_id", how="left", suffixes=("", "_old"))
        known = merged["version"].notna().to_numpy()
        was_live = known & ~merged["deleted"].fillna(True).astype(bool).to_numpy()
        same = was_live & (merged["digest"].to_numpy() == merged["digest_old"].to_numpy())
        old_version = merged["version"].fillna(0).astype("int64").to_numpy()
        version = np.where(same, old_version, old_version + 1)
        changed = ~same
        rows = list(
            zip(
                merged["feature_id"].to_numpy()[changed],
                version[changed],
                merged["digest"].to_numpy()[changed],
                np.zeros(int(changed.sum()), dtype=bool),
                strict=True,
            )
        )
        gone = old[~old["deleted"] & ~old["feature_id"].isin(new["feature_id"])]
        rows += [(fid, int(v) + 1, None, True) for fid, v in zip(gone["feature_id"], gone["version"], strict=True)]
        self._set_versions(name, rows)
        added = merged["feature_id"].to_numpy()[~was_live]
        modified = merged["feature_id"].to_numpy()[was_live & ~same]
        return {
            "added": len(added),
            "changed": len(modified),
            "removed": len(gone),
            "added_ids": [str(i) for i in added[:AUDIT_ID_LIMIT]],
            "changed_ids": [str(i) for i in modified[:AUDIT_ID_LIMIT]],
            "removed_ids": [str(i) for i in gone["feature_id"].to_numpy()[:AUDIT_ID_LIMIT]],
        }

    def replace_rows(self, name: str, frame: pd.DataFrame, *, key: str = "id", keys: Sequence[str] | None = None) -> None:
        """Replace the rows of some keys of a layer: what an incremental recomputation writes.

        Parameters
        ----------
        name
            An existing layer.
        frame
            The new rows (EPSG:4326), each with a ``key`` among ``keys``.
        key
            The column naming rows.  ``id``: each row is updated in place
            (inserted when new), and rows of ``keys`` missing from ``frame``
            are deleted; another column (``center_id`` of circles): all rows
            of ``keys`` are deleted, then ``frame`` is inserted.
        keys
            The keys replaced (default: those of ``frame``).

        In ``centers`` and ``compounds`` only derived values may change this
        way (coverage, community, unit, grid ...): versions stay as they are,
        so an ``If-Match`` a planner holds stays valid; their digests follow.

        Raises
        ------
        NotFoundError
            No such layer.
        InvalidValueError
            A row's ``key`` is not among ``keys``; bad column names.
        """
        check_layer_name(name)
        self._require_layer(name)
        wanted = [str(k) for k in (keys if keys is not None else frame[key].astype(str).unique())]
        table, given = storage_frame(name, frame) if len(frame) else (frame, {})
        if len(table) and key not in table.columns:
            msg = f"layer `{name}`: the rows need a `{key}` column"
            raise InvalidValueError(msg, field=f"{name}.{key}")
        row_keys = table[key].astype(str).to_numpy() if len(table) else np.array([], dtype=object)
        stray = sorted(set(row_keys) - set(wanted))
        if stray:
            msg = f"layer `{name}`: rows of `{key}` {', '.join(stray[:5])} are not among the keys replaced"
            raise InvalidValueError(msg, field=f"{name}.{key}")
        kinds = dict(self._s.layer_kinds(name) or {})
        added = [col for col in given if col not in kinds]
        for col in added:
            self._s.add_column(name, col, given[col])
            kinds[col] = given[col]
        values = {c: python_values(coerce_series(table[c], k), k) if c in table.columns else [None] * len(table) for c, k in kinds.items()}
        geoms = table.geometry.to_numpy() if isinstance(table, gpd.GeoDataFrame) and len(table) else [None] * len(table)
        rows = [({c: values[c][i] for c in kinds}, geoms[i]) for i in range(len(table))]
        before = self._s.count_rows(name)
        if key == "id":
            present = {str(r[0]) for r in self._s.query(f'SELECT "id" FROM "{name}" WHERE "id" IN ({", ".join("?" * len(wanted))})', wanted)} if wanted else set()
            for (vals, geom), fid in zip(rows, row_keys, strict=True):
                if fid in present:
                    self._s.update_row(name, fid, vals, geom)
                else:
                    self._s.insert_row(name, vals, geom)
            gone = sorted(present - set(row_keys))
            if gone:
                self._s.delete_rows(name, key, gone)
        else:
            self._s.delete_rows(name, key, wanted)
            for vals, geom in rows:
                self._s.insert_row(name, vals, geom)
        if added:
            self._touch_layer(name, kinds, self._s.geometry_type(name))
        else:
            self._touch_layer(name)
        if name in VERSIONED_LAYERS and len(table):
            digests = row_digests(table, name)
            self._s.executemany(
                "UPDATE dj_versions SET digest = ? WHERE layer = ? AND feature_id = ? AND deleted = ?",
                [(d, name, fid, False) for d, fid in zip(digests, row_keys, strict=True)],
            )
        self.record(
            AuditAction.replace_rows,
            layer=name,
            before={"rows": before},
            after={"rows": self._s.count_rows(name), "key": key, "keys": wanted[:AUDIT_ID_LIMIT], "replaced": len(wanted)},
        )

    def delete_layer(self, name: str) -> None:
        """Remove a whole layer (its features' versions become deleted)."""
        self._require_layer(name)
        rows = self._s.count_rows(name)
        self._s.drop_layer(name)
        self._s.exec("DELETE FROM dj_layers WHERE name = ?", (name,))
        if name in VERSIONED_LAYERS:
            old = self._versions(name)
            live = old[~old["deleted"]]
            self._set_versions(name, [(f, int(v) + 1, None, True) for f, v in zip(live["feature_id"], live["version"], strict=True)])
        self.record(AuditAction.delete_layer, layer=name, before={"rows": rows})

    # -- features ------------------------------------------------------------------------------

    def _validated_row(self, layer: str, properties: Mapping[str, Any], geometry: shapely.Geometry) -> gpd.GeoDataFrame:
        """One row checked and normalised like an import (:func:`layers.dataset.prepare_layer`)."""
        kinds = self._s.layer_kinds(layer)
        spec = LAYER_SPECS[layer]
        known = set(kinds or ()) | {"id", *spec.required, *spec.optional}
        for key in properties:
            if key not in known:
                msg = f"layer `{layer}` has no column `{key}` (columns: {', '.join(sorted(known))})"
                raise InvalidValueError(msg, field=str(key))
        frame = gpd.GeoDataFrame(
            {k: pd.Series([v], dtype=object) for k, v in properties.items()},
            geometry=gpd.GeoSeries([geometry], crs=WGS84),
        )
        prepared, report = prepare_layer(frame, layer)
        if report.rejected or len(prepared) != 1:
            reason = report.rejected[0]["reason"] if report.rejected else "unusable"
            msg = f"layer `{layer}`: the geometry cannot be used: {reason}"
            raise GeometryError(msg, field="geometry")
        return prepared

    def _row_values(self, layer: str, row: gpd.GeoDataFrame, given: Iterable[str]) -> dict[str, Any]:
        """One validated row as plain values per table column; spec or given columns the table lacks are added."""
        kinds = dict(self._s.layer_kinds(layer) or {})
        spec = LAYER_SPECS[layer]
        wanted = {*given, "id", *spec.required, *spec.optional}
        added = False
        for col in row.columns:
            if col != row.geometry.name and col not in kinds and col in wanted:
                kinds[col] = column_kind(row[col])
                self._s.add_column(layer, col, kinds[col])
                added = True
        if added:
            self._touch_layer(layer, kinds, self._s.geometry_type(layer))
        return {col: (python_values(row[col], kind)[0] if col in row.columns else None) for col, kind in kinds.items()}

    def _next_id(self, layer: str) -> str:
        prefix = LAYER_SPECS[layer].id_prefix
        pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
        numbers = [m.group(1) for (fid,) in self._s.query("SELECT feature_id FROM dj_versions WHERE layer = ?", (layer,))
                   if (m := pattern.match(str(fid)))]
        n = max((int(x) for x in numbers), default=0) + 1
        width = max(4, max((len(x) for x in numbers), default=0))
        return f"{prefix}{n:0{width}d}"

    def create_feature(self, layer: str, properties: Mapping[str, Any], geometry: Any) -> FeatureRef:
        """Add one feature to ``centers`` or ``compounds``, validated like an import.

        Parameters
        ----------
        layer
            ``centers`` or ``compounds``.
        properties
            Column values; ``id`` optional (assigned as ``S0021`` / ``C0210`` ... when absent).
        geometry
            Shapely geometry or GeoJSON geometry mapping, EPSG:4326.

        Returns
        -------
        FeatureRef
            The id and version (1, or one more than a deleted feature of that id had).

        Raises
        ------
        FeatureExistsError
            A feature with that id exists.
        InvalidValueError, MissingColumnError, GeometryError
            Bad values, unknown columns, a missing required column, an unusable geometry.
        """
        check_versioned(layer)
        props = dict(properties)
        given = props.pop("id", None)
        feature_id = str(given).strip() if given not in (None, "") else self._next_id(layer)
        if not feature_id:
            feature_id = self._next_id(layer)
        found = self._version_of(layer, feature_id)
        if found and not found[1]:
            msg = f"layer `{layer}` already has a feature `{feature_id}`"
            raise FeatureExistsError(msg, field="id", expected=None, current=found[0])
        geom = _to_geometry(geometry, layer)
        row = self._validated_row(layer, {"id": feature_id, **props}, geom)
        version = found[0] + 1 if found else 1
        if self.has_layer(layer):
            self._s.insert_row(layer, self._row_values(layer, row, props), row.geometry.iloc[0])
            self._touch_layer(layer)
        else:
            table, kinds = storage_frame(layer, row)
            self._s.replace_layer(layer, table, kinds)
            self._touch_layer(layer, kinds, self._s.geometry_type(layer))
        self._set_versions(layer, [(feature_id, version, row_digests(row, layer)[0], False)])
        after = self.get_feature(layer, feature_id)
        self.record(AuditAction.create, layer=layer, feature_id=feature_id, version=version, after=after.to_geojson())
        return FeatureRef(layer=layer, id=feature_id, version=version, revision=self.revision)

    def _check_version(self, layer: str, feature_id: str, expected_version: int | None) -> StoredFeature:
        current = self.get_feature(layer, feature_id)
        if expected_version is not None and int(expected_version) != current.version:
            msg = (
                f"feature `{feature_id}` of `{layer}` is at version {current.version}, not {expected_version}: "
                "someone changed it since you read it; reload and try again"
            )
            raise VersionConflictError(msg, field="version", expected=int(expected_version), current=current.version)
        return current

    def update_feature(
        self,
        layer: str,
        feature_id: str,
        *,
        expected_version: int | None,
        properties: Mapping[str, Any] | None = None,
        geometry: Any = None,
    ) -> FeatureRef:
        """Change some properties and/or the geometry of one feature, validated like an import.

        Parameters
        ----------
        layer, feature_id
            The feature.
        expected_version
            The version the caller read (``If-Match``); ``None`` skips the
            check (only for callers that hold no version, e.g. a recomputation).
        properties
            Columns to change (others keep their values); ``id`` cannot change.
        geometry
            New geometry (shapely or GeoJSON mapping), or ``None`` to keep it.

        Returns
        -------
        FeatureRef
            The new version: one more when an editable column or the geometry
            changed, the same when only derived columns (coverage) changed.

        Raises
        ------
        NotFoundError
            No such feature.
        VersionConflictError
            ``expected_version`` is stale.
        """
        check_versioned(layer)
        feature_id = str(feature_id)
        current = self._check_version(layer, feature_id, expected_version)
        patch = dict(properties or {})
        if "id" in patch and str(patch.pop("id")).strip() != feature_id:
            msg = f"the `id` of feature `{feature_id}` cannot change"
            raise InvalidValueError(msg, field="id")
        geom = current.geometry if geometry is None else _to_geometry(geometry, layer)
        row = self._validated_row(layer, {"id": feature_id, **current.properties, **patch}, geom)
        old_digest = self._s.query(
            "SELECT digest FROM dj_versions WHERE layer = ? AND feature_id = ?", (layer, feature_id)
        )[0][0]
        digest = row_digests(row, layer)[0]
        self._s.update_row(layer, feature_id, self._row_values(layer, row, patch), row.geometry.iloc[0])
        after = self.get_feature(layer, feature_id)
        if after.properties == current.properties and shapely.equals_exact(after.geometry, current.geometry, 0):
            return FeatureRef(layer=layer, id=feature_id, version=current.version, revision=self.revision)
        version = current.version + (1 if digest != old_digest else 0)
        self._set_versions(layer, [(feature_id, version, digest, False)])
        self._touch_layer(layer)
        after = StoredFeature(layer, feature_id, version, after.properties, after.geometry)
        self.record(
            AuditAction.update,
            layer=layer,
            feature_id=feature_id,
            version=version,
            before=current.to_geojson(),
            after=after.to_geojson(),
        )
        return FeatureRef(layer=layer, id=feature_id, version=version, revision=self.revision)

    def delete_feature(self, layer: str, feature_id: str, *, expected_version: int | None) -> FeatureRef:
        """Delete one feature; its id is not reused by assigned ids.

        Returns
        -------
        FeatureRef
            ``version`` is the deleted feature's tombstone version (one more than it had).

        Raises
        ------
        NotFoundError
            No such feature.
        VersionConflictError
            ``expected_version`` is stale.
        """
        check_versioned(layer)
        feature_id = str(feature_id)
        current = self._check_version(layer, feature_id, expected_version)
        self._s.delete_row(layer, feature_id)
        version = current.version + 1
        self._set_versions(layer, [(feature_id, version, None, True)])
        self._touch_layer(layer)
        self.record(AuditAction.delete, layer=layer, feature_id=feature_id, version=version, before=current.to_geojson())
        return FeatureRef(layer=layer, id=feature_id, version=version, revision=self.revision)

    # -- meta, scenarios, reports --------------------------------------------------------------

    def set_meta(self, values: Mapping[str, Any], *, replace: bool = False) -> None:
        """Set meta values (JSON data); ``replace`` drops keys not given."""
        before = self.get_meta()
        if replace:
            self._s.exec("DELETE FROM dj_meta")
        self._s.executemany(
            "INSERT INTO dj_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(str(k), Json(jsonable(v))) for k, v in values.items()],
        )
        after = self.get_meta()
        self._s.meta_written(after)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        self.record(AuditAction.meta, before={k: before.get(k) for k in changed}, after={k: after.get(k) for k in changed})

    def put_scenario(self, scenario_id: str, doc: Mapping[str, Any]) -> None:
        """Store (or replace) a scenario document under ``scenario_id`` (letters, digits, ``-``, ``_``)."""
        if not _SCENARIO_ID_RE.match(str(scenario_id)):
            msg = f"no scenario `{scenario_id}` (ids are letters, digits, - and _)"
            raise NotFoundError(msg, field="scenario")
        if not isinstance(doc, Mapping):
            msg = "a scenario must be a JSON object"
            raise InvalidValueError(msg, field="scenario")
        old = self._s.query("SELECT doc, created_at FROM dj_scenarios WHERE id = ?", (scenario_id,))
        before = self._s.load_json(old[0][0]) if old else None
        if old:
            self._s.exec(
                "UPDATE dj_scenarios SET doc = ?, updated_at = ? WHERE id = ?", (Json(jsonable(doc)), self._at, scenario_id)
            )
        else:
            self._s.exec(
                "INSERT INTO dj_scenarios (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (scenario_id, Json(jsonable(doc)), self._at, self._at),
            )
        self.record(AuditAction.scenario_put, feature_id=scenario_id, before=before, after=doc)

    def delete_scenario(self, scenario_id: str) -> None:
        """Delete a scenario; :class:`NotFoundError` if there is none."""
        before = self.get_scenario(scenario_id)
        self._s.exec("DELETE FROM dj_scenarios WHERE id = ?", (str(scenario_id),))
        self.record(AuditAction.scenario_delete, feature_id=str(scenario_id), before=before)

    def add_import_report(self, report: Mapping[str, Any]) -> int:
        """Keep an import report (JSON data); its id."""
        rows = self._s.query(
            "INSERT INTO dj_import_reports (at, actor, report) VALUES (?, ?, ?) RETURNING id",
            (self._at, self.actor, Json(jsonable(report))),
        )
        report_id = int(rows[0][0])
        self.record(AuditAction.import_report, feature_id=str(report_id), after={"report": report_id})
        return report_id

    # -- tokens --------------------------------------------------------------------------------

    def create_token(self, role: Role | str, *, name: str = "") -> NewToken:
        """A new token of ``role``; the plaintext is in the answer only, the store keeps its scrypt hash."""
        role = parse_role(role)
        token_id, secret, plaintext = new_token()
        while self._s.query("SELECT 1 FROM dj_tokens WHERE id = ?", (token_id,)):
            token_id, secret, plaintext = new_token()
        self._s.exec(
            "INSERT INTO dj_tokens (id, name, role, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, str(name), role.value, hash_secret(secret), self._at, self.actor),
        )
        info = TokenInfo(id=token_id, role=role, name=str(name), created_at=iso(self._at) or "", created_by=self.actor)
        self.record(AuditAction.token_create, feature_id=token_id, after={"id": token_id, "role": role.value, "name": name})
        return NewToken(token=plaintext, info=info)

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token by its id; :class:`NotFoundError` if there is none."""
        rows = self._s.query("SELECT id, role, name, created_at, created_by, revoked_at FROM dj_tokens WHERE id = ?", (str(token_id),))
        if not rows:
            msg = f"no token `{token_id}`"
            raise NotFoundError(msg, field="token")
        if rows[0][5] is None:
            self._s.exec("UPDATE dj_tokens SET revoked_at = ? WHERE id = ?", (self._at, str(token_id)))
        self.record(AuditAction.token_revoke, feature_id=str(token_id), before=_token_info(rows[0]).as_dict())

    # -- the whole dataset ---------------------------------------------------------------------

    def import_dataset(self, dataset: Dataset, *, replace: bool = True) -> None:
        """Write every layer and the meta values of a dataset.

        Parameters
        ----------
        dataset
            Layers in EPSG:4326 (an empty ``gates`` layer is skipped).
        replace
            Remove stored layers the dataset does not have, and meta keys it
            does not set.
        """
        names = [n for n, f in dataset.layers.items() if not (n == "gates" and not len(f))]
        for name in names:
            self.write_layer(name, dataset.layers[name])
        if replace:
            for name in self._s.layer_names():
                if name not in names:
                    self.delete_layer(name)
        meta = {k: v for k, v in dataset.meta.items() if k != DERIVED_REVISION}
        if dataset.built:
            meta[DERIVED_REVISION] = self.revision
        self.set_meta(meta, replace=replace)
        self.record(
            AuditAction.import_dataset,
            after={"layers": {n: len(dataset.layers[n]) for n in names}, "source": str(dataset.path or "")},
        )


# ---------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------


#: Idle connections a store keeps for the next session.
POOL_SIZE = 8


class Store(ABC):
    """One dataset's storage: layers, feature versions, meta, scenarios, import reports, audit log, tokens.

    Use :func:`layers.store.open_store` to get one.  Safe to share between
    threads; every method opens its own snapshot or transaction.
    """

    #: ``"gpkg"`` or ``"postgis"``.
    backend: ClassVar[str]

    def __init__(self) -> None:
        self._local = threading.local()
        self._token_checks: TokenChecks[TokenInfo] = TokenChecks()
        self._pool: list[Any] = []
        self._pool_lock = threading.Lock()
        self._closed = False

    # -- what backends provide -----------------------------------------------------------------

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the store is (a path, or a URL without password and the schema)."""

    @property
    def path(self) -> Path | None:
        """The GeoPackage file, for the file backend."""
        return None

    @abstractmethod
    def _connect(self) -> Any:
        """A new database connection (autocommit: sessions issue ``BEGIN`` and ``COMMIT`` themselves)."""

    @abstractmethod
    def _begin_sql(self, write: bool) -> str:
        """The statement opening a read or write transaction (a write one takes the dataset's write lock)."""

    @abstractmethod
    def _in_transaction(self, conn: Any) -> bool:
        """Whether ``conn`` is inside a transaction (``False`` also when it is closed)."""

    @abstractmethod
    def _new_session(self, conn: Any, write: bool) -> Session:
        """The backend's :class:`Session` on ``conn``."""

    def _after_commit(self, conn: Any, write: bool) -> None:  # noqa: B027 - optional hook
        """Called after a transaction committed (the GeoPackage folds its write-ahead log in)."""

    # -- connections ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            msg = f"the store {self.location} is closed"
            raise RuntimeError(msg)

    def _pooled(self) -> Any | None:
        """A connection from the pool, if one is there."""
        with self._pool_lock:
            return self._pool.pop() if self._pool else None

    def _acquire(self) -> Any:
        """A connection: from the pool, else a new one."""
        self._check_open()
        return self._pooled() or self._connect()

    def _release(self, conn: Any, *, ok: bool) -> None:
        """Back into the pool when the session ended well and the connection is idle; else closed."""
        idle = not self._in_transaction(conn)
        with self._pool_lock:
            if ok and idle and not self._closed and len(self._pool) < POOL_SIZE:
                self._pool.append(conn)
                return
        conn.close()

    def _query_once(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One read statement on a pooled connection, outside any explicit transaction (it sees one state)."""
        conn = self._acquire()
        ok = False
        try:
            rows = self._new_session(conn, False).query(sql, params)
            ok = True
            return rows
        finally:
            self._release(conn, ok=ok)

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        """A session in its own database transaction; commits on a normal exit, rolls back otherwise.

        A write session holds the dataset's write lock from its start.
        """
        conn = self._acquire()
        ok = False
        try:
            conn.execute(self._begin_sql(write))
            try:
                yield self._new_session(conn, write)
            except BaseException:
                if self._in_transaction(conn):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            ok = True
            self._after_commit(conn, write)
        finally:
            self._release(conn, ok=ok)

    def close(self) -> None:
        """Close every pooled connection; the store refuses new sessions."""
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"

    # -- sessions ------------------------------------------------------------------------------

    def _check_not_nested(self) -> None:
        if getattr(self._local, "depth", 0):
            msg = "a transaction of this store is already open in this thread: use its `tx` object"
            raise RuntimeError(msg)

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A consistent read-only view for several reads (one database snapshot)."""
        with self._session(write=False) as session:
            yield Snapshot(self, session)

    @contextmanager
    def transaction(self, *, actor: str) -> Iterator[Transaction]:
        """One write transaction: everything done through the yielded object commits together, or nothing does.

        Parameters
        ----------
        actor
            Who writes, for the audit log (``token:<id>``, ``cli:<user>`` ...).
        """
        self._check_not_nested()
        self._local.depth = 1
        try:
            with self._session(write=True) as session:
                tx = Transaction(self, session, actor)
                yield tx
                if _before_commit is not None:
                    _before_commit(tx)
        finally:
            self._local.depth = 0

    # -- reads ---------------------------------------------------------------------------------

    def revision(self) -> int:
        """The dataset revision: goes up by one with every write transaction."""
        with self.snapshot() as snap:
            return snap.revision

    def list_layers(self) -> list[LayerInfo]:
        """See :meth:`Snapshot.list_layers`."""
        with self.snapshot() as snap:
            return snap.list_layers()

    def has_layer(self, name: str) -> bool:
        """See :meth:`Snapshot.has_layer`."""
        with self.snapshot() as snap:
            return snap.has_layer(name)

    def read_layer(
        self, name: str, *, bbox: tuple[float, float, float, float] | None = None, versions: bool = False
    ) -> gpd.GeoDataFrame:
        """See :meth:`Snapshot.read_layer`."""
        with self.snapshot() as snap:
            return snap.read_layer(name, bbox=bbox, versions=versions)

    def get_feature(self, layer: str, feature_id: str) -> StoredFeature:
        """See :meth:`Snapshot.get_feature`."""
        with self.snapshot() as snap:
            return snap.get_feature(layer, feature_id)

    def get_meta(self) -> dict[str, Any]:
        """See :meth:`Snapshot.get_meta`."""
        with self.snapshot() as snap:
            return snap.get_meta()

    def list_scenarios(self) -> list[dict[str, Any]]:
        """See :meth:`Snapshot.list_scenarios`."""
        with self.snapshot() as snap:
            return snap.list_scenarios()

    def get_scenario(self, scenario_id: str) -> dict[str, Any]:
        """See :meth:`Snapshot.get_scenario`."""
        with self.snapshot() as snap:
            return snap.get_scenario(scenario_id)

    def list_import_reports(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """See :meth:`Snapshot.list_import_reports`."""
        with self.snapshot() as snap:
            return snap.list_import_reports(limit=limit)

    def get_import_report(self, report_id: int) -> dict[str, Any]:
        """See :meth:`Snapshot.get_import_report`."""
        with self.snapshot() as snap:
            return snap.get_import_report(report_id)

    def audit(
        self, *, layer: str | None = None, feature_id: str | None = None, after_seq: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """See :meth:`Snapshot.audit`."""
        with self.snapshot() as snap:
            return snap.audit(layer=layer, feature_id=feature_id, after_seq=after_seq, limit=limit)

    def list_tokens(self) -> list[TokenInfo]:
        """See :meth:`Snapshot.list_tokens`."""
        with self.snapshot() as snap:
            return snap.list_tokens()

    def export_dataset(self) -> Dataset:
        """See :meth:`Snapshot.export_dataset` (one consistent snapshot)."""
        with self.snapshot() as snap:
            return snap.export_dataset()

    def verify_token(self, token: str) -> TokenInfo | None:
        """The stored token a plaintext token is, if it is active; else ``None``.

        Every call reads the token revision and the token's row (one
        statement of two primary-key lookups, no transaction).  While the
        revision is the one this store last checked the same token at, the
        answer is the remembered one, right or wrong secret alike; once it has
        moved, the answer is made again from the row, and the scrypt hash (tens
        of milliseconds) runs only when the stored hash is not the one already
        compared with.  Any change of the tokens, by any process or store,
        moves the revision in its transaction, so it counts on the next call.
        """
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        key = TokenChecks.key(token)
        # One statement, so the revision and the row are of one state; both are primary-key lookups.
        [(nonce, counter, *row)] = self._query_once(
            "SELECT r.nonce, r.revision, t.id, t.role, t.name, t.created_at, t.created_by, t.revoked_at, t.hash "
            "FROM dj_token_revision r LEFT JOIN dj_tokens t ON t.id = ? WHERE r.id = 1",
            (token_id,),
        )
        revision = (str(nonce), int(counter))
        known = self._token_checks.get(key)
        if known is not None and known.revision == revision:
            return known.info
        stored: str | None = None
        matches: bool | None = None
        info: TokenInfo | None = None
        if row[0] is not None:
            stored = str(row[6])
            revoked = row[5] is not None
            if known is not None and known.stored == stored and known.matches is not None:
                matches = known.matches
            elif not revoked:
                matches = check_secret(secret, stored)
            if matches and not revoked:
                info = _token_info(row[:6])
        self._token_checks.put(key, TokenCheck(revision=revision, stored=stored, matches=matches, info=info))
        return info

    # -- writes, one transaction each ----------------------------------------------------------

    def write_layer(self, name: str, frame: pd.DataFrame, *, actor: str) -> int:
        """See :meth:`Transaction.write_layer`; the new revision."""
        with self.transaction(actor=actor) as tx:
            tx.write_layer(name, frame)
            return tx.revision

    def delete_layer(self, name: str, *, actor: str) -> int:
        """See :meth:`Transaction.delete_layer`; the new revision."""
        with self.transaction(actor=actor) as tx:
            tx.delete_layer(name)
            return tx.revision

    def create_feature(self, layer: str, properties: Mapping[str, Any], geometry: Any, *, actor: str) -> FeatureRef:
        """See :meth:`Transaction.create_feature`."""
        with self.transaction(actor=actor) as tx:
            return tx.create_feature(layer, properties, geometry)

    def update_feature(
        self,
        layer: str,
        feature_id: str,
        *,
        expected_version: int | None,
        actor: str,
        properties: Mapping[str, Any] | None = None,
        geometry: Any = None,
    ) -> FeatureRef:
        """See :meth:`Transaction.update_feature`."""
        with self.transaction(actor=actor) as tx:
            return tx.update_feature(layer, feature_id, expected_version=expected_version, properties=properties, geometry=geometry)

    def delete_feature(self, layer: str, feature_id: str, *, expected_version: int | None, actor: str) -> FeatureRef:
        """See :meth:`Transaction.delete_feature`."""
        with self.transaction(actor=actor) as tx:
            return tx.delete_feature(layer, feature_id, expected_version=expected_version)

    def set_meta(self, values: Mapping[str, Any], *, actor: str, replace: bool = False) -> int:
        """See :meth:`Transaction.set_meta`; the new revision."""
        with self.transaction(actor=actor) as tx:
            tx.set_meta(values, replace=replace)
            return tx.revision

    def put_scenario(self, scenario_id: str, doc: Mapping[str, Any], *, actor: str) -> int:
        """See :meth:`Transaction.put_scenario`; the new revision."""
        with self.transaction(actor=actor) as tx:
            tx.put_scenario(scenario_id, doc)
            return tx.revision

    def delete_scenario(self, scenario_id: str, *, actor: str) -> int:
        """See :meth:`Transaction.delete_scenario`; the new revision."""
        with self.transaction(actor=actor) as tx:
            tx.delete_scenario(scenario_id)
            return tx.revision

    def add_import_report(self, report: Mapping[str, Any], *, actor: str) -> int:
        """See :meth:`Transaction.add_import_report`; the report's id."""
        with self.transaction(actor=actor) as tx:
            return tx.add_import_report(report)

    def create_token(self, role: Role | str, *, actor: str, name: str = "") -> NewToken:
        """See :meth:`Transaction.create_token`."""
        with self.transaction(actor=actor) as tx:
            return tx.create_token(role, name=name)

    def revoke_token(self, token_id: str, *, actor: str) -> int:
        """See :meth:`Transaction.revoke_token`; the new revision."""
        with self.transaction(actor=actor) as tx:
            tx.revoke_token(token_id)
            return tx.revision

    def import_dataset(self, dataset: Dataset, *, actor: str, replace: bool = True) -> int:
        """See :meth:`Transaction.import_dataset`; the new revision."""
        with self.transaction(actor=actor) as tx:
            tx.import_dataset(dataset, replace=replace)
            return tx.revision


def adopt_layers(session: Session) -> None:
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
