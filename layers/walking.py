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
  a point inside its polygon).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import WGS84
from geo.geometry import interior_points
from geo.network import WalkNetwork, build_walk_network, road_levels

__all__ = [
    "NETWORK_CACHE_SIZE",
    "SHARED_NETWORKS",
    "WalkingNetworks",
    "access_points",
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


def access_points(
    compounds: gpd.GeoDataFrame, gates: gpd.GeoDataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Access points of compounds: their gates, else a point inside the polygon.

    Parameters
    ----------
    compounds
        Compounds with ``id`` in any CRS.
    gates
        Optional gates (points, same CRS) with a ``compound`` column naming a
        compound ``id``; gates naming no known compound are ignored.

    Returns
    -------
    (points, owner)
        Shapely points and, for each, the position of its compound in ``compounds``.
    """
    pts = interior_points(compounds.geometry.to_numpy())
    owner = np.arange(len(compounds))
    if gates is None or not len(gates):
        return pts, owner
    pos = pd.Series(np.arange(len(compounds)), index=compounds["id"].astype(str).to_numpy())
    gate_owner = pos.reindex(gates["compound"].astype(str).to_numpy()).to_numpy()
    known = ~np.isnan(gate_owner)
    has_gate = np.zeros(len(compounds), dtype=bool)
    has_gate[gate_owner[known].astype(int)] = True
    return (
        np.concatenate([gates.geometry.to_numpy()[known], pts[~has_gate]]),
        np.concatenate([gate_owner[known].astype(int), owner[~has_gate]]),
    )
