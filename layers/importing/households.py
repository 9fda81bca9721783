"""Households of residential areas estimated from the buildings inside them, and checked against plausible densities.

A compound's homes are the residential buildings whose interior point lies in
it.  Each home gives households from the first of (its ``households_source``):

``given``
    ``building:flats``, the number of dwellings mapped.
``levels``
    footprint x ``building:levels`` / floor area per household.
``height``
    footprint x (``height`` / 3 m per storey, at least 1) / floor area per household.
``default``
    footprint x the default storeys of its building type
    (:data:`DEFAULT_STOREYS`); a generic ``building=yes`` or ``residential`` is a
    house of 2 storeys below :data:`HOUSE_FOOTPRINT_M2` (250 m²) and a block of
    6 above, and a ``yes`` below :data:`MIN_HOME_FOOTPRINT_M2` (40 m²) is a shed,
    no home.

A compound's ``households_source`` is the source of most of its households;
one with no mapped home gets its site area x the floor area ratio instead
(``area``).  Every estimate is at least
:attr:`~layers.importing.options.OSMOptions.min_households`.

Plausible densities: GB 50180-2018 *城市居住区规划设计标准*, table 4.0.2
(居住街坊用地与建筑控制指标), gives the plot ratio (住宅用地容积率) of a
residential block by the average storeys of its homes; the largest over the
climate zones (III, IV, V) is used as the upper bound of each class:

==============================  ==========  =============  =============================
class (average storeys)         plot ratio  used as bound  households/ha at 100 m²/hh
==============================  ==========  =============  =============================
低层 low-rise (1-3)              1.0-1.2     1.2            120
多层I类 multi-storey (4-6)       1.1-1.6     1.6            160
多层II类 mid-high-rise (7-9)     1.5-2.1     2.1            210
高层I类 high-rise (10-18)        1.8-2.8     2.8            280
高层II类 high-rise (19-26, more)  2.5-3.1     3.1            310
==============================  ==========  =============  =============================

A compound estimated from buildings is implausibly dense above its class's
bound x :data:`DENSITY_TOLERANCE` (1.25: OSM areas are often drawn tighter
than a block's plot), and implausibly sparse below
:data:`SPARSE_HH_PER_HA` (5 households/ha, not from the standard: its homes
are most likely not all mapped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.importing.options import DEFAULT_OSM, OSMOptions

#: Buildings counted as homes and their storeys when neither ``building:levels`` nor ``height`` is mapped
#: (``None``: a generic type, storeys by footprint).
DEFAULT_STOREYS: dict[str, float | None] = {
    "apartments": 6.0,
    "dormitory": 5.0,
    **dict.fromkeys(("house", "detached", "semidetached_house", "terrace"), 2.0),
    "bungalow": 1.0,
    **dict.fromkeys(("residential", "yes"), None),
}

#: A generic home smaller than this footprint (m²) is a house of 2 storeys, a larger one a block of 6.
HOUSE_FOOTPRINT_M2 = 250.0
_HOUSE_STOREYS, _BLOCK_STOREYS = 2.0, 6.0
#: A ``building=yes`` smaller than this footprint (m²) is a shed, garage or kiosk, no home.
MIN_HOME_FOOTPRINT_M2 = 40.0
#: Metres per storey when only ``height`` is mapped.
STOREY_HEIGHT_M = 3.0

#: GB 50180-2018 table 4.0.2: (most average storeys, class, largest plot ratio over the climate zones).
DENSITY_CLASSES: tuple[tuple[float, str, float], ...] = (
    (3.0, "low_rise", 1.2),
    (6.0, "multi_storey", 1.6),
    (9.0, "mid_high_rise", 2.1),
    (18.0, "high_rise", 2.8),
    (np.inf, "super_high_rise", 3.1),
)
#: How far above the class's plot ratio bound a compound may be before it is implausible.
DENSITY_TOLERANCE = 1.25
#: Below this many households per hectare a compound's homes are most likely not all mapped.
SPARSE_HH_PER_HA = 5.0

SOURCES = ("given", "levels", "height", "default")


@dataclass(frozen=True)
class HouseholdEstimate:
    """Per compound: households, where they came from and the average storeys of its homes (NaN without homes)."""

    households: np.ndarray
    source: np.ndarray
    storeys: np.ndarray


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    text = frame[column].astype("string").str.extract(r"([0-9]+(?:\.[0-9]+)?)", expand=False)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    return np.where(values > 0, values, np.nan)


@dataclass(frozen=True)
class _Homes:
    """Residential buildings (metric CRS): footprint (m²), storeys, the source of their households (index into SOURCES), flats."""

    geoms: np.ndarray
    footprint: np.ndarray
    storeys: np.ndarray
    source: np.ndarray
    flats: np.ndarray


def _homes(buildings: gpd.GeoDataFrame, metric: Any) -> _Homes:
    """The buildings that are homes, with their storeys from levels, height or the default of their type."""
    homes = buildings[buildings["building"].isin(list(DEFAULT_STOREYS))]
    homes = homes[homes.geom_type.isin(["Polygon", "MultiPolygon"])]
    geoms = homes.geometry.to_crs(metric).to_numpy()
    footprint = shapely.area(geoms)
    keep = ~((homes["building"] == "yes").to_numpy() & (footprint < MIN_HOME_FOOTPRINT_M2))
    homes, geoms, footprint = homes[keep], geoms[keep], footprint[keep]
    levels = _numbers(homes, "building:levels")
    by_height = np.maximum(np.round(_numbers(homes, "height") / STOREY_HEIGHT_M), 1.0)
    typed = homes["building"].map(DEFAULT_STOREYS).to_numpy(dtype=float)
    default = np.where(np.isnan(typed), np.where(footprint < HOUSE_FOOTPRINT_M2, _HOUSE_STOREYS, _BLOCK_STOREYS), typed)
    storeys = np.where(~np.isnan(levels), levels, np.where(~np.isnan(by_height), by_height, default))
    flats = _numbers(homes, "building:flats")
    source = np.where(~np.isnan(flats), 0, np.where(~np.isnan(levels), 1, np.where(~np.isnan(by_height), 2, 3)))
    return _Homes(geoms=geoms, footprint=footprint, storeys=storeys, source=source, flats=np.nan_to_num(flats))


def estimate_households(
    compounds: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    metric: Any,
    options: OSMOptions = DEFAULT_OSM,
) -> HouseholdEstimate:
    """Households of compounds from the homes inside (see the module's docstring for the order of sources).

    Parameters
    ----------
    compounds
        Compound polygons (EPSG:4326).
    buildings
        OSM buildings with ``building``, ``building:levels``, ``height`` and
        ``building:flats`` (EPSG:4326; missing tags as missing columns).
    metric
        Metric CRS for areas (m²).
    options
        Floor area per household (m²), floor area ratio for compounds without
        mapped homes, the smallest estimate.

    Returns
    -------
    HouseholdEstimate
        Whole households (at least ``options.min_households``); the source
        (``given``, ``levels``, ``height``, ``default`` or ``area``); the
        footprint-weighted average storeys of the homes (NaN without homes).
    """
    comp_m = compounds.to_crs(metric)
    n = len(compounds)
    by_source = np.zeros((n, len(SOURCES)))
    footprint_sum = np.zeros(n)
    storey_area = np.zeros(n)
    homes = _homes(buildings, metric) if len(buildings) else None
    if homes is not None and len(homes.geoms):
        b_idx, c_idx = comp_m.sindex.query(shapely.point_on_surface(homes.geoms), predicate="within")
        floor = homes.footprint * homes.storeys
        hh = np.where(homes.source == 0, homes.flats, floor / options.floor_area_per_household_m2)
        np.add.at(by_source, (c_idx, homes.source[b_idx]), hh[b_idx])
        np.add.at(footprint_sum, c_idx, homes.footprint[b_idx])
        np.add.at(storey_area, c_idx, floor[b_idx])
    from_homes = by_source.sum(axis=1)
    has_homes = footprint_sum > 0
    site = comp_m.geometry.area.to_numpy()
    by_area = site * options.floor_area_ratio / options.floor_area_per_household_m2
    households = np.maximum(np.round(np.where(has_homes, from_homes, by_area)), options.min_households).astype("int64")
    source_names = np.asarray(SOURCES, dtype=object)[np.argmax(by_source, axis=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        storeys_mean = np.where(has_homes, storey_area / footprint_sum, np.nan)
    return HouseholdEstimate(
        households=households, source=np.where(has_homes, source_names, "area").astype(object), storeys=storeys_mean
    )


def density_bounds(storeys: np.ndarray, options: OSMOptions = DEFAULT_OSM) -> tuple[np.ndarray, np.ndarray]:
    """Per compound, its GB 50180 class and the most households per hectare plausible for it (x the tolerance)."""
    limits = np.array([c[0] for c in DENSITY_CLASSES])
    pos = np.minimum(np.searchsorted(limits, np.round(np.nan_to_num(storeys, nan=1.0), 1), side="left"), len(limits) - 1)
    names = np.array([c[1] for c in DENSITY_CLASSES], dtype=object)[pos]
    ratio = np.array([c[2] for c in DENSITY_CLASSES])[pos]
    return names, ratio * 10_000.0 / options.floor_area_per_household_m2 * DENSITY_TOLERANCE


@dataclass(frozen=True)
class Densities:
    """Estimated compounds' households per hectare, GB 50180 class and bound; the implausible ones (positions)."""

    per_ha: np.ndarray
    classes: np.ndarray
    bounds: np.ndarray
    dense: np.ndarray
    sparse: np.ndarray


def check_densities(compounds: gpd.GeoDataFrame, *, metric: Any, options: OSMOptions = DEFAULT_OSM) -> Densities:
    """Compounds estimated from buildings that are denser than their GB 50180 class allows or sparser than 5/ha.

    Parameters
    ----------
    compounds
        The compounds layer with ``households``, ``households_estimated``,
        ``households_source`` and ``storeys`` (EPSG:4326).
    metric
        Metric CRS for the site areas (ha).
    options
        The floor area per household the bounds are converted with (m²).
    """
    site_ha = compounds.geometry.to_crs(metric).area.to_numpy() / 10_000.0
    households = pd.to_numeric(compounds["households"], errors="coerce").to_numpy(dtype=float)
    storeys = pd.to_numeric(compounds["storeys"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_ha = np.where(site_ha > 0, households / site_ha, np.nan)
    classes, bounds = density_bounds(storeys, options)
    estimated = compounds["households_estimated"].fillna(False).to_numpy(dtype=bool)
    checked = estimated & (compounds["households_source"] != "area").to_numpy() & np.isfinite(per_ha) & np.isfinite(storeys)
    return Densities(
        per_ha=per_ha,
        classes=classes,
        bounds=bounds,
        dense=np.flatnonzero(checked & (per_ha > bounds)),
        sparse=np.flatnonzero(checked & (per_ha < SPARSE_HH_PER_HA)),
    )
