"""The walking network of the map layers: one builder, one cache, and where compounds join it.

- :func:`walking_network` builds the network of a dataset's walkable roads
  in its metric CRS; it is the only place in :mod:`layers` that builds one.
- :class:`WalkingNetworks` keeps built networks in a small LRU keyed by the
  roads' content and the CRS (:func:`roads_key`), so the same roads are
  built once however many frames or copies hold them, and an edited road
  network is never served its old network.
- :data:`SHARED_NETWORKS` is the process's one instance, made here at
  import: the served dataset's edits (:mod:`api.editing`), its scenarios
  (:mod:`layers.planning.scenario_coverage`) and the incremental update
  (:func:`layers.update.update_after_edit`) share it, so an edit and a
  scenario on the same roads build the network once.  A build or a batch
  task needs no cache: it builds once with :func:`walking_network` and
  passes the network on.
- :func:`access_points`: where a compound joins the network (its gates, else
  where its perimeter meets the walkable roads, else a point inside its
  polygon); :func:`compound_points`: the first of them, one per compound.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import WGS84
from geo.geometry import interior_points
from geo.network import APART_REASONS, WalkNetwork, build_walk_network, road_levels

__all__ = [
    "MIN_CONNECTED_SHARE",
    "NETWORK_CACHE_SIZE",
    "SHARED_NETWORKS",
    "WalkingNetworks",
    "access_points",
    "compound_points",
    "fragmented_cause",
    "gated",
    "network_counts",
    "perimeter_entrances",
    "roads_key",
    "walking_network",
]

#: Walking networks kept by :data:`SHARED_NETWORKS` (a large city's network holds a few hundred MB).
NETWORK_CACHE_SIZE = 4


def _walkable(roads: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The roads a pedestrian may use (``walkable`` honoured); no roads: an empty frame."""
    if roads is None:
        return gpd.GeoDataFrame(geometry=[], crs=WGS84)
    if "walkable" in roads.columns:
        return roads[roads["walkable"].astype(bool)]
    return roads


def walking_network(roads: gpd.GeoDataFrame | None, *, metric_crs: CRS) -> WalkNetwork:
    """The walking network of the walkable roads (EPSG:4326 in), built in ``metric_crs``.

    Roads with ``walkable`` false are left out; rivers are never part of it,
    so the network crosses a river only along a road (a bridge).  ``None``
    (no roads layer) gives an empty network: every point is far from a road.
    """
    return build_walk_network(_walkable(roads).to_crs(metric_crs))


def roads_key(roads: gpd.GeoDataFrame, *, metric_crs: CRS) -> str:
    """A fingerprint of what a walking network is built from: the walkable roads, their CRS and ``metric_crs``.

    Two frames with the same walkable lines in the same order and CRS have
    the same key; moving a vertex, adding, removing or reordering a road,
    flipping ``walkable`` or changing a road's ``bridge``, ``tunnel`` or
    ``layer`` (which crossings connect) changes it.  Costs about 25 ms per 200,000 roads
    (a network takes seconds to build).
    """
    walk = _walkable(roads)
    geoms = walk.geometry.to_numpy()
    types = shapely.get_type_id(geoms).astype(np.int8)
    h = hashlib.blake2b(digest_size=16)
    for part in (
        CRS.from_user_input(metric_crs).to_string(),
        CRS.from_user_input(walk.crs).to_string() if walk.crs is not None else "",
    ):
        h.update(part.encode() + b"\0")
    h.update(types.tobytes())
    h.update(shapely.get_num_coordinates(geoms).astype(np.int64).tobytes())
    h.update(shapely.get_coordinates(geoms).tobytes())
    levels = road_levels(walk)
    for flags in (levels.bridge, levels.tunnel, levels.layer):
        h.update(np.ascontiguousarray(flags).tobytes())
    others = geoms[(types != shapely.GeometryType.LINESTRING) & (types >= 0)]
    if len(others):  # multi-part lines: where the parts split is in their WKB
        h.update(b"".join(shapely.to_wkb(others)))
    return h.hexdigest()


class WalkingNetworks:
    """Built walking networks, the most recently used ``capacity`` of them, keyed by :func:`roads_key`.

    Thread-safe: lookups and evictions hold a lock; a network is built
    outside it (two threads asking for the same new roads at once may both
    build it, and one result is kept).

    Parameters
    ----------
    capacity
        Networks kept; the least recently used goes first.
    """

    def __init__(self, capacity: int = NETWORK_CACHE_SIZE) -> None:
        if capacity < 1:
            msg = f"`capacity` must be at least 1; got {capacity}"
            raise ValueError(msg)
        self.capacity = capacity
        self._networks: OrderedDict[str, WalkNetwork] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, roads: gpd.GeoDataFrame, *, metric_crs: CRS) -> WalkNetwork:
        """The walking network of ``roads`` in ``metric_crs``: kept, else built by :func:`walking_network` and kept."""
        key = roads_key(roads, metric_crs=metric_crs)
        with self._lock:
            net = self._networks.get(key)
            if net is not None:
                self._networks.move_to_end(key)
                return net
        net = walking_network(roads, metric_crs=metric_crs)
        with self._lock:
            self._networks[key] = net
            self._networks.move_to_end(key)
            while len(self._networks) > self.capacity:
                self._networks.popitem(last=False)
        return net

    def __len__(self) -> int:
        """Networks kept now."""
        return len(self._networks)

    def clear(self) -> None:
        """Drop every kept network (e.g. when the served dataset is replaced)."""
        with self._lock:
            self._networks.clear()


#: The process's one cache of walking networks (see the module docstring for who shares it).
SHARED_NETWORKS = WalkingNetworks()


#: Below this share of the road length in its largest connected piece the build warns.
MIN_CONNECTED_SHARE = 0.9


def fragmented_cause(counts: dict[str, Any]) -> str:
    """The catalogue key of the likely cause of a network in pieces: crossings kept apart by their levels, else gaps."""
    return "summary.network_cause.levels" if sum(counts["apart"].values()) else "summary.network_cause.gaps"


def network_counts(net: WalkNetwork) -> dict[str, Any]:
    """What the walking network's build found: junctions added, crossings kept apart by reason, the largest piece's share of the length."""
    r = net.report
    return {
        "junctions_added": int(r["junctions_added"]),
        "apart": {reason: int(r["apart_" + reason]) for reason in APART_REASONS},
        "largest_piece_share": round(net.largest_piece_share, 6),
    }


#: How far (m) a road may be from a compound's perimeter for the compound to be entered from it.
ACCESS_REACH_M = 30.0
#: At most this many perimeter entrances per compound (the nearest roads first).
MAX_ENTRANCES = 4
#: Entrances of one compound closer than this along its perimeter (m) count as one.
ENTRANCE_SPACING_M = 30.0


def gated(compounds: gpd.GeoDataFrame, gates: gpd.GeoDataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Which compounds have a gate, and for each gate its compound's position (``-1``: no known compound)."""
    has_gate = np.zeros(len(compounds), dtype=bool)
    if gates is None or not len(gates):
        return has_gate, np.zeros(0, dtype=np.int64)
    pos = pd.Series(np.arange(len(compounds)), index=compounds["id"].astype(str).to_numpy())
    gate_owner = pos.reindex(gates["compound"].astype(str).to_numpy()).fillna(-1).to_numpy(dtype=np.int64)
    has_gate[gate_owner[gate_owner >= 0]] = True
    return has_gate, gate_owner


def perimeter_entrances(
    polygons: np.ndarray,
    roads: np.ndarray,
    *,
    reach_m: float = ACCESS_REACH_M,
    max_per_compound: int = MAX_ENTRANCES,
    spacing_m: float = ENTRANCE_SPACING_M,
) -> tuple[np.ndarray, np.ndarray]:
    """Where compounds' perimeters meet the walkable roads: candidate entrances.

    For each road within ``reach_m`` of a polygon, the point of the
    polygon's perimeter nearest to that road (where the road meets or
    crosses the perimeter, distance 0).  Of the candidates of one compound
    within ``spacing_m`` along the perimeter (same ``spacing_m`` bin of the
    perimeter), the nearest to its road is kept; then the
    ``max_per_compound`` nearest.  All in one metric CRS; vectorised.

    Parameters
    ----------
    polygons
        Compound (Multi)Polygons, metres.
    roads
        Walkable road lines, same CRS.

    Returns
    -------
    (points, owner)
        Entrances ordered by compound, nearest road first, and the position
        of each one's compound in ``polygons``.
    """
    polygons = np.asarray(polygons, dtype=object)
    roads = np.asarray(roads, dtype=object)
    if not len(polygons) or not len(roads):
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
    rings = shapely.boundary(polygons)
    ci, rj = shapely.STRtree(roads).query(polygons, predicate="dwithin", distance=reach_m)
    if not len(ci):
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
    legs = shapely.shortest_line(rings[ci], roads[rj])
    pts = shapely.get_point(legs, 0)
    dist = shapely.length(legs)
    along = np.floor(shapely.line_locate_point(rings[ci], pts) / spacing_m).astype(np.int64)
    order = np.lexsort((dist, along, ci))
    ci, along, dist, pts = ci[order], along[order], dist[order], pts[order]
    first = np.ones(len(ci), dtype=bool)
    first[1:] = (ci[1:] != ci[:-1]) | (along[1:] != along[:-1])
    ci, dist, pts = ci[first], dist[first], pts[first]
    order = np.lexsort((dist, ci))
    ci, pts = ci[order], pts[order]
    start = np.flatnonzero(np.r_[True, ci[1:] != ci[:-1]])
    rank = np.arange(len(ci)) - np.repeat(start, np.diff(np.r_[start, len(ci)]))
    keep = rank < max_per_compound
    return pts[keep], ci[keep].astype(np.int64)


def access_points(
    compounds: gpd.GeoDataFrame,
    gates: gpd.GeoDataFrame | None = None,
    *,
    roads: gpd.GeoDataFrame | None = None,
    reach_m: float = ACCESS_REACH_M,
    max_per_compound: int = MAX_ENTRANCES,
) -> tuple[np.ndarray, np.ndarray]:
    """Access points of compounds: their gates, else where the perimeter meets the roads, else a point inside.

    Parameters
    ----------
    compounds
        Compounds with ``id`` in a metric CRS.
    gates
        Optional gates (points, same CRS) with a ``compound`` column naming a
        compound ``id``; gates naming no known compound are ignored.  A
        compound's gates replace its other access points.
    roads
        The roads (any CRS; the walkable ones are used): a compound without
        gates is entered at its :func:`perimeter_entrances`.  ``None``: no
        roads known, a point inside the polygon.
    reach_m, max_per_compound
        See :func:`perimeter_entrances`.

    Returns
    -------
    (points, owner)
        Shapely points ordered by compound (gates, else entrances nearest
        road first, else the inside point) and, for each, the position of
        its compound in ``compounds``.
    """
    polygons = compounds.geometry.to_numpy()
    has_gate, gate_owner = gated(compounds, gates)
    parts_pts = []
    parts_owner = []
    if gates is not None and len(gates):
        known = gate_owner >= 0
        parts_pts.append(gates.geometry.to_numpy()[known])
        parts_owner.append(gate_owner[known])
    entered = has_gate.copy()
    walk = _walkable(roads) if roads is not None else None
    if walk is not None and len(walk) and (~has_gate).any():
        free = np.flatnonzero(~has_gate)
        line_geoms = walk.to_crs(compounds.crs).geometry.to_numpy() if walk.crs is not None else walk.geometry.to_numpy()
        pts, owner = perimeter_entrances(polygons[free], line_geoms, reach_m=reach_m, max_per_compound=max_per_compound)
        parts_pts.append(pts)
        parts_owner.append(free[owner])
        entered[free[owner]] = True
    inside = np.flatnonzero(~entered)
    parts_pts.append(interior_points(polygons[inside]))
    parts_owner.append(inside)
    pts = np.concatenate(parts_pts)
    owner = np.concatenate(parts_owner).astype(np.int64)
    order = np.argsort(owner, kind="stable")
    return pts[order], owner[order]


def compound_points(
    compounds: gpd.GeoDataFrame,
    gates: gpd.GeoDataFrame | None = None,
    *,
    roads: gpd.GeoDataFrame | None = None,
    reach_m: float = ACCESS_REACH_M,
) -> np.ndarray:
    """One access point per compound, the first of :func:`access_points` (a gate, else the entrance nearest a road, else inside).

    Units and grids place a compound by it, so they count it where its coverage is reckoned.
    """
    pts, owner = access_points(compounds, gates, roads=roads, reach_m=reach_m)
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    out = np.empty(len(compounds), dtype=object)
    out[owner[first]] = pts[first]
    return out
