"""One-feature writes of a transaction: create, update and delete a feature of ``centers`` or ``compounds``.

A mixin of :class:`~layers.store.transaction.Transaction` (it keeps no
state of its own).  A feature is validated like an import
(:func:`layers.dataset.prepare_layer`), its geometry must be longitude/latitude,
its version is checked against the one the caller read (``If-Match``) and moves
only when an editable column or the geometry changed; every write leaves one
audit entry with the feature before and after.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from geo.crs import WGS84
from geo.errors import FeatureExistsError, GeometryError, InvalidValueError, VersionConflictError
from layers.dataset import prepare_layer
from layers.schema import LAYER_SPECS
from layers.store.frames import check_versioned, column_kind, python_values, row_digests, storage_frame
from layers.store.records import AuditAction, FeatureRef, StoredFeature

if TYPE_CHECKING:
    from layers.store.transaction import Transaction


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


class FeatureWrites:
    """The one-feature writes of a :class:`~layers.store.transaction.Transaction`."""

    def _validated_row(self: Transaction, layer: str, properties: Mapping[str, Any], geometry: shapely.Geometry) -> gpd.GeoDataFrame:
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

    def _row_values(self: Transaction, layer: str, row: gpd.GeoDataFrame, given: Iterable[str]) -> dict[str, Any]:
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

    def _next_id(self: Transaction, layer: str) -> str:
        prefix = LAYER_SPECS[layer].id_prefix
        pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
        numbers = [m.group(1) for (fid,) in self._s.query("SELECT feature_id FROM dj_versions WHERE layer = ?", (layer,))
                   if (m := pattern.match(str(fid)))]
        n = max((int(x) for x in numbers), default=0) + 1
        width = max(4, max((len(x) for x in numbers), default=0))
        return f"{prefix}{n:0{width}d}"

    def create_feature(self: Transaction, layer: str, properties: Mapping[str, Any], geometry: Any) -> FeatureRef:
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

    def _current(self: Transaction, layer: str, feature_id: str, expected_version: int | None) -> StoredFeature:
        """The stored feature to change, if ``layer`` is versioned and the feature is at ``expected_version``."""
        check_versioned(layer)
        current = self.get_feature(layer, str(feature_id))
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
        current = self._current(layer, feature_id, expected_version)
        feature_id = current.id
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

    def delete_feature(self: Transaction, layer: str, feature_id: str, *, expected_version: int | None) -> FeatureRef:
        """Delete one feature; its id is not reused by assigned ids.

        Returns
        -------
        FeatureRef
            ``version`` is the deleted feature's tombstone version (one more than it had).

        Raises
        ------
        NotFoundError, VersionConflictError
            As :meth:`update_feature`: no such feature, a stale ``expected_version``.
        """
        current = self._current(layer, feature_id, expected_version)
        feature_id = current.id
        self._s.delete_row(layer, feature_id)
        version = current.version + 1
        self._set_versions(layer, [(feature_id, version, None, True)])
        self._touch_layer(layer)
        self.record(AuditAction.delete, layer=layer, feature_id=feature_id, version=version, before=current.to_geojson())
        return FeatureRef(layer=layer, id=feature_id, version=version, revision=self.revision)
