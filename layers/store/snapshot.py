"""Reading a store: :class:`Snapshot`, one consistent read-only view (one database snapshot).

``with store.snapshot() as snap:`` gives one; every read of the service goes
through it: layers (whole, by bounding box or by ids, with feature versions),
single features, the meta values, stored scenario and import-report
documents, the audit log, tokens, and the whole dataset as a
:class:`~layers.dataset.Dataset`.  A :class:`~layers.store.transaction.Transaction`
is a snapshot too, whose reads see its own writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import metric_crs
from geo.errors import DatasetNotFoundError, InvalidValueError, NotFoundError
from geo.plain import jsonable
from layers.dataset import Dataset, empty_layer
from layers.schema import INPUT_LAYERS, OPTIONAL_LAYERS
from layers.store.frames import VERSIONED_LAYERS, check_layer_name, check_versioned
from layers.store.records import DERIVED_REVISION, AuditEntry, LayerInfo, StoredFeature, TokenInfo, iso, token_info
from layers.store.session import Session

if TYPE_CHECKING:
    from layers.store.store import Store


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
        return [token_info(r) for r in rows]

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
            elif name not in OPTIONAL_LAYERS:
                layers[name] = empty_layer(name)
        for name in [] if inputs_only else sorted(names):
            if name not in layers:
                frame = self._s.read_layer(name)
                if isinstance(frame, gpd.GeoDataFrame):
                    layers[name] = frame
        crs = metric_crs(*(layers[n] for n in ("boundary", "roads", "compounds")))
        return Dataset(layers=layers, metric_crs=crs, meta=self.get_meta(), path=self.store.path)
