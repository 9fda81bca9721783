"""Households of residential areas estimated from the buildings inside them.

A compound's households are the residential floor area of the buildings whose
interior point lies in it (footprint x ``building:levels``, or the default
storeys of the building type) over the floor area per household; a compound
with no mapped homes gets its site area x the floor area ratio instead.  Every
estimate is at least :attr:`~layers.importing.options.OSMOptions.min_households`.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.importing.options import DEFAULT_OSM, OSMOptions

#: Buildings counted as homes when estimating households, and their default storeys.
RESIDENTIAL_BUILDINGS: dict[str, float] = {
    **dict.fromkeys(("apartments", "residential", "dormitory", "yes"), 6.0),
    **dict.fromkeys(("house", "detached", "semidetached_house", "terrace", "bungalow"), 2.0),
}


def estimate_households(
    compounds: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    metric: Any,
    options: OSMOptions = DEFAULT_OSM,
) -> tuple[np.ndarray, np.ndarray]:
    """Households of compounds from the residential floor area of the buildings inside.

    Parameters
    ----------
    compounds
        Compound polygons (EPSG:4326).
    buildings
        OSM buildings with ``building`` and ``building:levels`` (EPSG:4326).
    metric
        Metric CRS for areas (m²).
    options
        Floor area per household (m²), floor area ratio for compounds without
        mapped buildings.

    Returns
    -------
    (households, source)
        Whole households (at least ``options.min_households``) and, per
        compound, ``"osm_buildings"`` or ``"osm_area"``.
    """
    comp_m = compounds.to_crs(metric)
    floor = np.zeros(len(compounds))
    if len(buildings):
        homes = buildings[buildings["building"].isin(list(RESIDENTIAL_BUILDINGS))]
        homes = homes[homes.geom_type.isin(["Polygon", "MultiPolygon"])]
        if len(homes):
            homes_m = homes.to_crs(metric)
            levels = pd.to_numeric(homes["building:levels"], errors="coerce").to_numpy(dtype=float)
            default = homes["building"].map(RESIDENTIAL_BUILDINGS).to_numpy(dtype=float)
            levels = np.where(np.isfinite(levels) & (levels > 0), levels, default)
            area = homes_m.geometry.area.to_numpy() * levels
            pts = shapely.point_on_surface(homes_m.geometry.to_numpy())
            b_idx, c_idx = comp_m.sindex.query(pts, predicate="within")
            np.add.at(floor, c_idx, area[b_idx])
    from_buildings = floor > 0
    site = comp_m.geometry.area.to_numpy()
    floor = np.where(from_buildings, floor, site * options.floor_area_ratio)
    hh = np.maximum(np.round(floor / options.floor_area_per_household_m2), options.min_households).astype("int64")
    return hh, np.where(from_buildings, "osm_buildings", "osm_area").astype(object)
