"""The area a map page opens on: the district, or one community or subdistrict named in the query."""

from __future__ import annotations

import numpy as np

from api.maps.options import MapOptions
from api.state.dataset import DatasetState
from geo.chinacoords import wgs84_to_gcj02
from geo.errors import NotFoundError

Bounds = tuple[float, float, float, float]
#: China, for a dataset with nothing to fit.
CHINA: Bounds = (73.5, 18.0, 135.0, 53.5)


def _finite_bounds(b: np.ndarray) -> Bounds | None:
    if b is None or len(b) != 4 or not np.all(np.isfinite(b)):
        return None
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


def focus_bounds(state: DatasetState, opts: MapOptions) -> tuple[Bounds, dict[str, str] | None]:
    """WGS84 bounds the page opens on, and the community/subdistrict in focus.

    Raises
    ------
    NotFoundError
        Naming ``community`` or ``subdistrict`` when no boundary polygon or
        compound carries that name.
    """
    ds = state.dataset()
    boundary, compounds = ds["boundary"], ds["compounds"]
    for field, name in (("community", opts.community), ("subdistrict", opts.subdistrict)):
        if not name:
            continue
        hit = boundary[(boundary["level"] == field) & (boundary["name"] == name)] if len(boundary) else boundary
        if len(hit):
            return _finite_bounds(hit.total_bounds) or (0, 0, 0, 0), {"name": name, "level": field}
        if field in compounds.columns:
            inside = compounds[compounds[field].astype(str) == name]
            if len(inside):
                return _finite_bounds(inside.total_bounds) or (0, 0, 0, 0), {"name": name, "level": field}
        known = sorted(set(boundary.loc[boundary["level"] == field, "name"].astype(str))) if len(boundary) else []
        if not known and field in compounds.columns:
            known = sorted(set(compounds[field].astype(str)) - {""})
        msg = f"`{field}` {name!r} is not in the dataset" + (f"; {field} names: {', '.join(known[:20])}" if known else "")
        raise NotFoundError(msg, field=field)
    district = boundary[boundary["level"] == "district"] if len(boundary) else boundary
    for frame in (district, boundary, compounds, ds["roads"]):
        b = _finite_bounds(frame.total_bounds) if len(frame) else None
        if b:
            return b, None
    return CHINA, None


def shift_bounds(bounds: Bounds, basemap: str) -> Bounds:
    """``bounds`` in the basemap's coordinates (GCJ-02 for AMap, else unchanged)."""
    if basemap != "amap":
        return bounds
    lon, lat = wgs84_to_gcj02(np.array([bounds[0], bounds[2]]), np.array([bounds[1], bounds[3]]))
    return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])
