"""The walking network: build once, then coverage, service areas and distance matrices.

Everything works in a metric projected CRS (metres) and on plain arrays; no
files, no web.  The public names below are the package's API; the modules
hold one concern each:

- :mod:`~geo.network.segments`: road lines checked and cut into straight segments;
- :mod:`~geo.network.graph`: the :class:`WalkNetwork` type and :func:`build_walk_network`;
- :mod:`~geo.network.contacts`: where segments cross or touch;
- :mod:`~geo.network.junctions`: roads split where they end on or cross another on the same level;
- :mod:`~geo.network.attach`: points joined to the nearest edge by an access leg;
- :mod:`~geo.network.paths`: multi-source and per-source shortest walks;
- :mod:`~geo.network.coverage`: :func:`walk_coverage` of targets by sources;
- :mod:`~geo.network.route`: :func:`walk_route`, the path of one walk (a compound to its centre);
- :mod:`~geo.network.matrix`: origin-destination walking metres;
- :mod:`~geo.network.areas` and :mod:`~geo.network.buffer`: service-area polygons;
- :mod:`~geo.network.tiling` and :mod:`~geo.network.partition`: one pass split
  into tiles with a halo, exact within the cut-off.
"""

from geo.network.areas import group_service_areas, service_areas, union_service_areas
from geo.network.attach import REASON_FAR, REASON_OK, Attachment, attach_points
from geo.network.coverage import REASON_DISCONNECTED, REASON_NO_SOURCES, NetworkCoverage, group_coverage, walk_coverage
from geo.network.graph import WalkNetwork, build_walk_network
from geo.network.junctions import APART_REASONS, JunctionCounts, road_levels, road_segments
from geo.network.matrix import distance_matrix
from geo.network.partition import (
    REASON_BEYOND_CUTOFF,
    PartitionedCoverage,
    TileResult,
    TilingOptions,
    merge_tiles,
    partitioned_walk_coverage,
    run_tile,
)
from geo.network.route import WalkRoute, walk_route
from geo.network.tiling import DEFAULT_TILES, TilePlan, TileTask, halo_m, plan_tiles, tile_tasks

__all__ = [
    "APART_REASONS",
    "DEFAULT_TILES",
    "REASON_BEYOND_CUTOFF",
    "REASON_DISCONNECTED",
    "REASON_FAR",
    "REASON_NO_SOURCES",
    "REASON_OK",
    "Attachment",
    "JunctionCounts",
    "NetworkCoverage",
    "PartitionedCoverage",
    "TilePlan",
    "TileResult",
    "TileTask",
    "TilingOptions",
    "WalkNetwork",
    "WalkRoute",
    "attach_points",
    "build_walk_network",
    "distance_matrix",
    "group_service_areas",
    "halo_m",
    "merge_tiles",
    "partitioned_walk_coverage",
    "plan_tiles",
    "road_levels",
    "road_segments",
    "run_tile",
    "service_areas",
    "tile_tasks",
    "union_service_areas",
    "group_coverage",
    "walk_coverage",
    "walk_route",
]
