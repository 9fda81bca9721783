"""Applying a scenario's changes to the centres, in order, over a base dataset.

:func:`apply_changes` gives the centres with the changes applied (the input
is never changed):

- Changes apply in order; a later change may refer to a centre an earlier one
  added.  Centre ids must exist when a change refers to them.
- Added centres are ``existing`` unless given another status: in the
  scenario's world they are open.  A ``status`` change (say ``planned`` ->
  ``existing``) opens a planned centre.
- Every changed centre carries ``scenario_change`` (``added``, ``moved``,
  ``level``, ``status``, comma-joined when several); removed ones are gone.
- Added and moved centres must lie near the district (:data:`MAX_OUTSIDE_M`,
  catches swapped longitude and latitude) and get their ``community`` and
  ``subdistrict`` from the boundary polygons when not given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.crs import WGS84
from geo.errors import InvalidValueError
from layers.dataset import Dataset
from layers.i18n import text
from layers.planning.scenarios import CenterChange, ChangeOp
from layers.schema import CenterStatus
from layers.units import assign_to_polygons

#: Farthest an added or moved centre may lie outside the dataset's extent (metres).
MAX_OUTSIDE_M = 10_000.0


def apply_changes(
    centers: gpd.GeoDataFrame, changes: Iterable[CenterChange], *, dataset: Dataset | None = None
) -> gpd.GeoDataFrame:
    """The centres with the changes applied, in order (a new frame; ``centers`` is not changed).

    Parameters
    ----------
    centers
        Centres in EPSG:4326 with ``id``, ``name``, ``level``, ``status``.
    changes
        The scenario's changes.
    dataset
        When given, added and moved centres must lie within
        :data:`MAX_OUTSIDE_M` of its extent (catches swapped lon/lat).

    Returns
    -------
    GeoDataFrame
        EPSG:4326, removed centres dropped, ``scenario_change`` on each row.

    Raises
    ------
    InvalidValueError
        A change names a centre that does not exist (or no longer does), an
        added id already exists, or a point lies far outside the district.
    """
    frame = centers.copy()
    frame["scenario_change"] = ""
    ids = frame["id"].astype(str).tolist()
    rows: dict[str, dict[str, Any]] = {
        i: r for i, r in zip(ids, frame.drop(columns=frame.geometry.name).to_dict("records"), strict=True)
    }
    geoms: dict[str, Any] = dict(zip(ids, frame.geometry.to_numpy(), strict=True))
    order = list(ids)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    box, to_metric = _extent(dataset)
    added = 0
    for i, ch in enumerate(changes):
        where = f"changes[{i}]"
        if ch.op is ChangeOp.add:
            added += 1
            cid = ch.center_id or _fresh_id(rows, added)
            if cid in rows:
                msg = f"`{where}.center_id`: a centre `{cid}` already exists"
                raise InvalidValueError(msg, field=f"{where}.center_id")
            _check_inside(ch, where, box, to_metric)
            row: dict[str, Any] = {c: None for c in columns}
            row.update(
                id=cid,
                name=ch.name or text("scenario.new_center", "zh", n=added),
                level=ch.level,
                status=ch.status or CenterStatus.existing.value,
                community=ch.community,
                scenario_change="added",
            )
            if "capacity" in row:
                row["capacity"] = np.nan
            if "subdistrict" in row:
                row["subdistrict"] = ""
            rows[cid] = row
            geoms[cid] = shapely.Point(ch.lon, ch.lat)
            order.append(cid)
            continue
        if ch.center_id not in rows:
            msg = f"`{where}.center_id`: no centre `{ch.center_id}` in the dataset (or it was removed before)"
            raise InvalidValueError(msg, field=f"{where}.center_id")
        row = rows[ch.center_id]
        if ch.op is ChangeOp.remove:
            del rows[ch.center_id]
            order.remove(ch.center_id)
            continue
        tag = {ChangeOp.move: "moved", ChangeOp.level: "level", ChangeOp.status: "status"}[ch.op]
        if ch.op is ChangeOp.move:
            _check_inside(ch, where, box, to_metric)
            geoms[ch.center_id] = shapely.Point(ch.lon, ch.lat)
        elif ch.op is ChangeOp.level:
            row["level"] = ch.level
        else:
            row["status"] = ch.status
        tags = [t for t in str(row.get("scenario_change") or "").split(",") if t]
        if tag not in tags:
            tags.append(tag)
        row["scenario_change"] = ",".join(tags)
    out = gpd.GeoDataFrame(
        pd.DataFrame([rows[i] for i in order], columns=columns), geometry=[geoms[i] for i in order], crs=WGS84
    )
    return _fill_admin(out, dataset)


def _fill_admin(centers: gpd.GeoDataFrame, dataset: Dataset | None) -> gpd.GeoDataFrame:
    """Blank ``community`` / ``subdistrict`` of added or moved centres from the boundary polygons."""
    if dataset is None or not dataset.has("boundary"):
        return centers
    touched = centers["scenario_change"].astype(str).str.contains("added|moved", regex=True).to_numpy()
    if not touched.any():
        return centers
    boundary = dataset["boundary"]
    out = centers.copy()
    for level in ("community", "subdistrict"):
        polys = boundary[boundary["level"] == level]
        if not len(polys):
            continue
        if level not in out.columns:
            out[level] = ""
        names = assign_to_polygons(out[touched], polys, metric_crs=dataset.metric_crs, column="name").to_numpy()
        current = out.loc[touched, level].fillna("").astype(str).to_numpy()
        moved = out.loc[touched, "scenario_change"].astype(str).str.contains("moved").to_numpy()
        out.loc[touched, level] = np.where((current == "") | moved, names, current)
    return out


def _fresh_id(rows: Mapping[str, Any], n: int) -> str:
    cid = f"SCN{n:02d}"
    while cid in rows:
        n += 1
        cid = f"SCN{n:02d}"
    return cid


def _extent(dataset: Dataset | None) -> tuple[shapely.Geometry | None, Transformer | None]:
    if dataset is None:
        return None, None
    frames = [dataset.layers[n] for n in ("boundary", "roads", "compounds", "centers") if dataset.has(n)]
    if not frames:
        return None, None
    b = np.vstack([f.total_bounds for f in frames])
    to_metric = Transformer.from_crs(WGS84, dataset.metric_crs, always_xy=True)
    x0, y0 = to_metric.transform(b[:, 0].min(), b[:, 1].min())
    x1, y1 = to_metric.transform(b[:, 2].max(), b[:, 3].max())
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), to_metric


def _check_inside(ch: CenterChange, where: str, box: shapely.Geometry | None, to_metric: Transformer | None) -> None:
    if box is None or to_metric is None:
        return
    x, y = to_metric.transform(ch.lon, ch.lat)
    d = shapely.distance(box, shapely.Point(x, y))
    if not np.isfinite(d) or d > MAX_OUTSIDE_M:
        msg = (
            f"`{where}`: ({ch.lon}, {ch.lat}) lies {d / 1000:.0f} km outside the district; "
            "give longitude, latitude in WGS84"
        )
        raise InvalidValueError(msg, field=f"{where}.lon")
