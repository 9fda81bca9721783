"""Clipping an import to an area: ``--bbox`` degrees, the imported boundary (``--clip boundary``), or a polygon file.

Roads and rivers are cut at the edge; compounds, centres and gates are kept
whole when their interior point lies inside; boundaries when they touch it.
With both a bbox and a clip area, what lies inside both is kept.  The rows
dropped are counted in the import report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.errors import InputError
from layers.importing.coords import to_wgs84_checked
from layers.importing.options import ImportOptions, nothing
from layers.importing.report import ImportReport
from layers.importing.sources import read_source


def _boundary_mask(layers: dict[str, gpd.GeoDataFrame]) -> Any:
    """The imported boundary's districts (or all its areas when none is a district), as one shape."""
    b = layers.get("boundary")
    if b is None or not len(b):
        msg = "`clip`: the import has no boundary layer to clip to"
        raise InputError(msg, field="clip")
    districts = b[b["level"] == "district"] if (b["level"] == "district").any() else b
    return shapely.union_all(districts.geometry.to_numpy())


def _file_mask(path: Path, options: ImportOptions, scratch: Path) -> Any:
    """The polygons of a clip file (any format the importer reads), in WGS84, as one valid shape."""
    if not path.exists():
        msg = f"`clip`: `{path}` does not exist"
        raise InputError(msg, field="clip")
    raws = read_source(path, path.name, options=ImportOptions(encoding=options.encoding), scratch=scratch, progress=nothing)
    polys = []
    for raw in raws:
        frame, _ = to_wgs84_checked(raw, raw.frame, None, ImportReport())
        g = frame.geometry.to_numpy()
        polys.extend(g[np.isin(shapely.get_type_id(g), [3, 6])])
    if not polys:
        msg = f"`clip`: `{path.name}` holds no polygon"
        raise InputError(msg, field="clip")
    return shapely.make_valid(shapely.union_all(polys))


def clip_mask(options: ImportOptions, layers: dict[str, gpd.GeoDataFrame], scratch: Path) -> Any:
    """The area to keep (EPSG:4326): ``--bbox`` and ``--clip`` intersected, ``None`` when neither is given.

    Raises
    ------
    InputError
        ``--clip boundary`` without an imported boundary, or a clip file that is missing or holds no polygon.
    """
    masks = []
    if options.bbox is not None:
        masks.append(shapely.box(*options.bbox))
    if options.clip:
        if str(options.clip).lower() == "boundary":
            masks.append(_boundary_mask(layers))
        else:
            masks.append(_file_mask(Path(options.clip), options, scratch))
    if not masks:
        return None
    mask = masks[0]
    for m in masks[1:]:
        mask = shapely.intersection(mask, m)
    return mask


def clip_layer(frame: gpd.GeoDataFrame, layer: str, mask: Any) -> tuple[gpd.GeoDataFrame, int]:
    """Keep what lies inside ``mask`` (EPSG:4326): lines are cut, compounds and points kept whole by their interior point.

    Returns the clipped frame and the number of rows dropped.
    """
    if mask is None or not len(frame):
        return frame, 0
    geoms = frame.geometry.to_numpy()
    shapely.prepare(mask)
    if layer in {"roads", "rivers"}:
        keep = shapely.intersects(mask, geoms)
        out = frame.loc[keep].copy()
        cut = shapely.intersection(out.geometry.to_numpy(), mask)
        family = [1, 5] if layer == "roads" else [1, 3, 5, 6]
        cut = np.asarray(
            [g if shapely.get_type_id(g) in family else _family_parts(g, family) for g in cut], dtype=object
        )
        out[out.geometry.name] = gpd.GeoSeries(cut, index=out.index, crs=frame.crs)
        ok = ~(shapely.is_missing(cut) | shapely.is_empty(cut))
        out = out.loc[ok]
    elif layer == "boundary":
        keep = shapely.intersects(mask, geoms)
        out = frame.loc[keep]
    else:
        keep = shapely.contains(mask, shapely.point_on_surface(geoms))
        out = frame.loc[keep]
    return out.reset_index(drop=True), len(frame) - len(out)


def _family_parts(geom: Any, family: list[int]) -> Any:
    parts = shapely.get_parts(geom)
    parts = parts[np.isin(shapely.get_type_id(parts), family)]
    if not len(parts):
        return None
    return shapely.line_merge(shapely.union_all(parts)) if set(shapely.get_type_id(parts).tolist()) <= {1, 5} else shapely.union_all(parts)
