"""OpenStreetMap service centres: which mapped features are centres, their level, and one centre per facility.

A centre that is on the map is open: it comes in as ``existing``, so a
district imported from OpenStreetMap starts from the coverage it has.
Centres are features tagged ``amenity=community_centre``, ``social_facility``,
``social_centre`` or ``townhall``; ``office=government`` named like a
party-mass, community or subdistrict office; and anything named (or
officially named) a party-mass service centre (党群服务中心, 党群服务站,
党建服务中心), whatever its tags (:data:`~layers.importing.osm_files.PARTY_CENTRE_NAME`).

The same facility is often mapped twice, as a node and as its building: a
node inside or within :attr:`~layers.importing.options.OSMOptions.centre_merge_m`
(30 m) of a centre building with compatible tags is merged into it.  Tags are
compatible when the names agree (one empty, equal, or one containing the
other once the generic words 党群, 服务, 中心 ... are set aside) and the kinds
agree (the same ``amenity``/``office``, a party-mass centre's name on either,
or both named alike).  A building becomes a point: the merged node when it lies
inside, else a point inside the building.  The level comes from the tags by
:attr:`~layers.importing.options.OSMOptions.centre_levels`, first match wins.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, metric_crs
from layers.importing.options import DEFAULT_OSM, OSMOptions, split_rule
from layers.importing.osm_files import CENTER_AMENITIES, PARTY_CENTRE_NAME

#: ``office=government`` is a centre only when named like one of these offices.
_GOVERNMENT_NAME = re.compile(r"党群|党建|社区|居委|街道|便民服务|服务中心|服务站")

#: Generic words set aside when two names are compared (what is left names the place).
_GENERIC_WORDS = re.compile(r"[\s()（）·\-]|党群|党建|党员|综合|便民|服务|中心|站|活动|室|办事处")

_COLUMNS = ("name", "level", "status", "amenity", "osm_ref")


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[column].astype("string").fillna("").str.strip().astype(object)


def centre_levels(tags: pd.DataFrame, rules: tuple[tuple[str, str], ...], default: str) -> np.ndarray:
    """The level of each centre: the first rule (``key~regex`` or ``key=value``) its tags match, else ``default``."""
    conditions = []
    levels = []
    for rule, level in rules:
        key, op, pattern = split_rule(rule)
        value = _text(tags, key).astype("string")
        hit = value.str.contains(pattern, regex=True) if op == "~" else value == pattern.strip()
        conditions.append(hit.fillna(False).to_numpy(dtype=bool))
        levels.append(level)
    if not conditions:
        return np.full(len(tags), default, dtype=object)
    return np.select(conditions, levels, default=default).astype(object)


def _core(name: str) -> str:
    return _GENERIC_WORDS.sub("", name)


def _compatible(node: pd.Series, building: pd.Series) -> bool:
    """Whether a node and a building name the same facility (see the module's docstring)."""
    a, b = _core(node["name"]), _core(building["name"])
    names = not a or not b or a in b or b in a
    kinds = node["kind"] == building["kind"] or node["party"] or building["party"] or bool(a and b)
    return bool(names and kinds)


def _centre_candidates(raw: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """The features that are centres, with ``name``, ``kind`` (amenity or office) and ``party``; and how many are not."""
    names = _text(raw, "name")
    party = (names.str.contains(PARTY_CENTRE_NAME) | _text(raw, "official_name").str.contains(PARTY_CENTRE_NAME)).to_numpy(dtype=bool)
    amenity = raw["amenity"].isin(CENTER_AMENITIES).to_numpy(dtype=bool)
    government = (raw["office"] == "government").to_numpy(dtype=bool) & names.str.contains(_GOVERNMENT_NAME).to_numpy(dtype=bool)
    keep = amenity | government | party
    sel = raw.loc[keep].reset_index(drop=True)
    sel["name"] = names[keep].to_numpy()
    sel["kind"] = sel["amenity"].where(sel["amenity"].isin(CENTER_AMENITIES), sel["office"]).fillna("party").astype(str).to_numpy()
    sel["party"] = party[keep]
    return sel, int((~keep).sum())


def _merge_targets(sel: gpd.GeoDataFrame, merge_m: float) -> np.ndarray:
    """Per centre, the building it merges into (its position in ``sel``), or -1."""
    target = np.full(len(sel), -1)
    type_ids = shapely.get_type_id(sel.geometry.to_numpy())
    is_area = np.isin(type_ids, [3, 6])
    if not is_area.any() or is_area.all():
        return target
    metric = sel.geometry.to_crs(metric_crs(sel)).to_numpy()
    areas = np.flatnonzero(is_area)
    nodes = np.flatnonzero(type_ids == 0)
    n_idx, a_idx = shapely.STRtree(metric[areas]).query(metric[nodes], predicate="dwithin", distance=merge_m)
    # A loop over the near pairs only: nodes within 30 m of a centre building, a handful per district.
    best = np.full(len(sel), np.inf)
    for n, a in zip(nodes[n_idx], areas[a_idx], strict=True):
        if not _compatible(sel.iloc[n], sel.iloc[a]):
            continue
        gap = float(shapely.distance(metric[n], metric[a]))
        if gap < best[n]:
            best[n], target[n] = gap, a
    return target


def _one_per_facility(sel: gpd.GeoDataFrame, target: np.ndarray) -> gpd.GeoDataFrame:
    """Nodes merged into their buildings; every centre one row with a point (a node inside its building, else a point inside)."""
    geoms = sel.geometry.to_numpy().copy()
    names = sel["name"].to_numpy().copy()
    kinds = sel["kind"].to_numpy().copy()
    refs = sel["osm_ref"].astype(str).to_numpy().copy()
    areas = np.isin(shapely.get_type_id(geoms), [3, 6])
    points = shapely.point_on_surface(geoms)
    for a in np.unique(target[target >= 0]):
        merged = np.flatnonzero(target == a)
        inside = [n for n in merged if shapely.contains(geoms[a], geoms[n])]
        if inside:
            points[a] = geoms[inside[0]]
        if not names[a]:
            names[a] = next((names[n] for n in merged if names[n]), "")
        if kinds[a] == "party":
            kinds[a] = kinds[merged[0]]
        refs[a] = ";".join([refs[a], *refs[merged]])
    keep = target < 0
    out = sel.loc[keep, ["name", "official_name", "amenity", "office", "building", "osm_ref"]].copy()
    out["name"], out["kind"], out["osm_ref"] = names[keep], kinds[keep], refs[keep]
    out["was_area"] = areas[keep]
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry=gpd.GeoSeries(points[keep], crs=WGS84))


def osm_centers(raw: gpd.GeoDataFrame, *, options: OSMOptions = DEFAULT_OSM) -> tuple[gpd.GeoDataFrame, int, int]:
    """Mapped service centres as existing centres, one per facility, their level from their tags.

    Returns
    -------
    (centres, left out, merged)
        The layer (``name``, ``level``, ``status`` = ``existing``, ``amenity``
        (or ``office``; empty when only the name says centre), ``osm_ref``: several joined by ``;`` when a node was merged into its
        building), the number of features that are no centre, and the number
        of nodes merged into a building.
    """
    if not len(raw):
        return gpd.GeoDataFrame({c: [] for c in _COLUMNS}, geometry=gpd.GeoSeries([], crs=WGS84)), 0, 0
    sel, skipped = _centre_candidates(raw)
    target = _merge_targets(sel, options.centre_merge_m) if len(sel) else np.zeros(0, int)
    one = _one_per_facility(sel, target)
    unnamed = one["name"] == ""
    one.loc[unnamed, "name"] = "OSM " + one.loc[unnamed, "osm_ref"].astype(str)
    out = gpd.GeoDataFrame(
        {
            "name": one["name"].to_numpy(dtype=object),
            "level": centre_levels(one, options.centre_levels, options.centre_default_level),
            "status": np.full(len(one), "existing", dtype=object),
            "amenity": one["kind"].where(one["kind"] != "party", "").to_numpy(dtype=object),
            "osm_ref": one["osm_ref"].to_numpy(dtype=object),
        },
        geometry=one.geometry,
    )
    return out, skipped, int((target >= 0).sum())
