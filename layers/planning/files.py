"""Files of site suggestions: candidate points read in, chosen sites written out.

- :func:`read_candidates`: any vector format pyogrio reads, or CSV with
  longitude/latitude columns (English or Chinese headings).
- :func:`write_suggestion`: the sites as GeoJSON, a GeoPackage (with the
  newly covered and the uncoverable compounds) or a CSV table.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geo.crs import WGS84
from geo.errors import InputError, InvalidValueError
from geo.files import atomic_output
from layers.planning.suggestion import SiteSuggestion
from layers.reports.formats import defused_frame

_LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度")


def read_candidates(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Candidate points from a file: any vector format pyogrio reads, or CSV with lon/lat columns.

    CSV columns may be named ``lon``/``lat``, ``lng``, ``longitude``/``latitude``,
    ``x``/``y`` or ``经度``/``纬度`` (WGS84 degrees); ``id`` and ``name`` are kept.

    Raises
    ------
    InputError
        The file cannot be read or a CSV has no coordinate columns.
    """
    p = Path(path)
    if not p.exists():
        msg = f"candidates file `{p}` does not exist"
        raise InputError(msg, field="candidates")
    if p.suffix.lower() in (".csv", ".txt"):
        try:
            table = pd.read_csv(p, encoding="utf-8-sig")
        except Exception as exc:
            msg = f"cannot read `{p}` as CSV: {exc}"
            raise InputError(msg, field="candidates") from exc
        lower = {str(c).strip().lower(): c for c in table.columns}
        lon = next((lower[n] for n in _LON_NAMES if n in lower), None)
        lat = next((lower[n] for n in _LAT_NAMES if n in lower), None)
        if lon is None or lat is None:
            msg = f"candidates CSV `{p.name}` needs lon and lat columns; has {', '.join(map(str, table.columns))}"
            raise InputError(msg, field="candidates")
        x = pd.to_numeric(table[lon], errors="coerce")
        y = pd.to_numeric(table[lat], errors="coerce")
        bad = (x.isna() | y.isna()).to_numpy()
        if bad.any():
            rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:3])
            msg = f"candidates CSV `{p.name}`: lon/lat are not numbers on lines {rows}"
            raise InputError(msg, field="candidates")
        rest = table.drop(columns=[lon, lat])
        return gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(x, y), crs=WGS84)
    try:
        return pyogrio.read_dataframe(p, use_arrow=False)
    except Exception as exc:
        msg = f"cannot read candidates `{p}`: {exc}"
        raise InputError(msg, field="candidates") from exc


def write_suggestion(result: SiteSuggestion, path: str | os.PathLike[str], *, lang: str = "zh") -> Path:
    """Write the sites: ``.geojson``/``.json`` (points), ``.gpkg`` (layers ``sites``,
    ``newly_covered`` and ``uncoverable`` compounds) or ``.csv`` (the table, UTF-8 with BOM).

    The file is written under a temporary name and moved into place when
    complete (:func:`geo.files.atomic_output`); its folder must exist.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg", ".csv"):
        msg = f"sites file must end in .geojson, .json, .gpkg or .csv; got `{target.name}`"
        raise InvalidValueError(msg, field="output")
    with atomic_output(target) as tmp:
        if suffix in (".geojson", ".json"):
            tmp.write_text(result.sites.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
        elif suffix == ".csv":
            tmp.write_bytes(defused_frame(result.table(lang)).to_csv(index=False).encode("utf-8-sig"))
        else:
            sites = result.sites.copy()
            pyogrio.write_dataframe(sites, tmp, layer="sites", driver="GPKG")
            c = result.compounds
            keep = [col for col in ("id", "name", "community", "households", "new_site", "walk_min", "flags") if col in c]
            newly = c[c["newly_covered"]][[*keep, "geometry"]]
            if len(newly):
                pyogrio.write_dataframe(newly, tmp, layer="newly_covered", driver="GPKG")
            ids = set(result.uncoverable["id"])
            lost = c[c["id"].astype(str).isin(ids)][[*keep, "geometry"]]
            if len(lost):
                pyogrio.write_dataframe(lost, tmp, layer="uncoverable", driver="GPKG")
    return target
