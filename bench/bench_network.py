"""Benchmark of the walking-network engine against a networkx baseline.

Usage (from the repository root)::

    python -m bench.bench_network --size 100k            # 100k edges, 1k centres, 20k compounds
    python -m bench.bench_network --size 1m --repeat 3   # 1M edges, 10k centres, 200k compounds

The synthetic city is generated once and cached as a GeoPackage in
``bench/out/``.  Each step prints the median of ``--repeat`` runs.  The
baseline, measured in the same run, is the OSMnx isochrone way: a networkx
graph, points snapped to their nearest node (KD-tree), and one
``single_source_dijkstra_path_length`` per centre with that centre's cut-off;
on big cities it runs on a sample of centres and is scaled up linearly
(said in the output).  Peak memory is the process's maximum resident set.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from geo import network as gn
from geo.crs import metric_crs
from geo.network.attach import split_attachment
from geo.network.paths import multi_source
from layers.walking import access_points

SIZES = {
    "10k": (10_000, 100, 2_000),
    "100k": (100_000, 1_000, 20_000),
    "1m": (1_000_000, 10_000, 200_000),
}
#: Walking limits per centre level, metres (4 km/h: 5 min = 333 m, 15 min = 1000 m).
LEVEL_LIMIT_M = {"district": 1000.0, "subdistrict": 1000.0, "community": 1000.0, "compound": 333.0}
OUT = Path(__file__).resolve().parent / "out"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time in seconds of ``repeat`` calls, and the last result."""
    times, res = [], None
    for _ in range(repeat):
        res = None  # let the previous result go before the next run (peak memory)
        t = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), res


def city_path(size: str) -> Path:
    """The cached GeoPackage of a size, generated on first use."""
    edges, centers, compounds = SIZES[size]
    path = OUT / f"city-{size}.gpkg"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.name} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.synth_city",
                str(path),
                "--edges",
                str(edges),
                "--centers",
                str(centers),
                "--compounds",
                str(compounds),
            ],
            check=True,
        )
    return path


def networkx_baseline(
    net: gn.WalkNetwork,
    sxy: np.ndarray,
    txy: np.ndarray,
    limits: np.ndarray,
    sample: int | None,
    *,
    ego: bool,
) -> tuple[float, float, np.ndarray, float]:
    """OSMnx-style coverage: nearest nodes, one cut-off search per centre.

    ``ego=True`` is the OSMnx isochrone example (``nx.ego_graph`` per
    centre, reached nodes = the subgraph's nodes); ``ego=False`` the leaner
    ``single_source_dijkstra_path_length`` with a cut-off.

    Returns (graph build seconds, search seconds scaled to all centres,
    covered flags from the searched centres, fraction of centres searched).
    """
    import networkx as nx
    from scipy.spatial import cKDTree

    t = time.perf_counter()
    g = nx.Graph()
    g.add_weighted_edges_from(zip(net.u.tolist(), net.v.tolist(), net.length_m.tolist(), strict=True), weight="length")
    t_graph = time.perf_counter() - t

    centres = np.arange(len(sxy))
    if sample is not None and sample < len(sxy):
        centres = np.random.default_rng(1).choice(len(sxy), sample, replace=False)
    t = time.perf_counter()
    kd = cKDTree(net.nodes_xy)
    _, s_node = kd.query(sxy[centres])
    _, t_node = kd.query(txy)
    best = np.full(net.n_nodes, np.inf)
    for c, node in zip(centres, s_node, strict=True):
        if ego:
            sub = nx.ego_graph(g, int(node), radius=float(limits[c]), distance="length")
            nodes = np.fromiter(sub.nodes, dtype=np.int64, count=len(sub))
            best[nodes] = 0.0
        else:
            reach = nx.single_source_dijkstra_path_length(g, int(node), cutoff=float(limits[c]), weight="length")
            nodes = np.fromiter(reach.keys(), dtype=np.int64, count=len(reach))
            dists = np.fromiter(reach.values(), dtype=np.float64, count=len(reach))
            np.minimum.at(best, nodes, dists)
    covered = np.isfinite(best[t_node])
    t_search = time.perf_counter() - t
    frac = len(centres) / len(sxy)
    return t_graph, t_search / frac, covered, frac


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description="walking-network benchmark")
    ap.add_argument("--size", choices=sorted(SIZES), default="100k")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--baseline-centres",
        type=int,
        default=1000,
        help="centres searched by the networkx baseline (scaled up to all)",
    )
    ap.add_argument("--no-areas", action="store_true", help="skip service-area polygons")
    ap.add_argument("--no-matrix", action="store_true", help="skip the distance matrix")
    args = ap.parse_args(argv)

    import pyogrio

    path = city_path(args.size)
    rows: list[tuple[str, float, str]] = []

    def row(name: str, seconds: float, note: str = "") -> None:
        rows.append((name, seconds, note))
        print(f"{name:<44} {seconds:8.3f} s  {note}", flush=True)

    try:
        import pyarrow  # noqa: F401

        arrow = True
    except ImportError:
        arrow = False
    t_read, layers = timed(
        lambda: {n: pyogrio.read_dataframe(path, layer=n, use_arrow=arrow) for n in ("roads", "compounds", "centers")},
        1,
    )
    roads, compounds, centers = layers["roads"], layers["compounds"], layers["centers"]
    row(f"read roads+compounds+centres (pyogrio{', arrow' if arrow else ''})", t_read, f"{len(roads)} road lines")
    crs = metric_crs(roads)

    def project() -> tuple[Any, Any, Any]:
        return roads.to_crs(crs), compounds.to_crs(crs), centers.to_crs(crs)

    t_proj, (r_m, c_m, s_m) = timed(project, 1)
    row("reproject to CGCS2000 GK zone", t_proj)
    t_pts, txy = timed(lambda: c_m.representative_point().get_coordinates().to_numpy(), 1)
    row("compound access points (representative_point)", t_pts, f"{len(txy)} compounds")
    sxy = s_m.get_coordinates().to_numpy()
    limits = s_m["level"].map(LEVEL_LIMIT_M).to_numpy(dtype=float)
    walkable = r_m[r_m["walkable"].astype(bool)]

    t_build, net = timed(lambda: gn.build_walk_network(walkable), args.repeat)
    jc = net.junctions
    row(
        "build_walk_network", t_build,
        f"{net.n_nodes} nodes, {net.n_edges} edges; {jc.added} junctions added, {jc.kept_apart} crossings apart",
    )
    t_plain, plain = timed(lambda: gn.build_walk_network(walkable, junctions=False), args.repeat)
    row("  the same without the junction step", t_plain, f"{plain.n_edges} edges")
    row("  junction step (difference)", t_build - t_plain, f"{(t_build - t_plain) / t_plain:.0%} of the plain build")
    t_ent, (ent, _) = timed(lambda: access_points(c_m, roads=walkable), args.repeat)
    row("  compound access points (perimeter entrances)", t_ent, f"{len(ent)} points")
    both = np.concatenate([sxy, txy])
    t_att, att = timed(lambda: gn.attach_points(net, both), args.repeat)
    row("  attach_points (centres + compounds)", t_att, f"{len(both)} points")
    src, _ = split_attachment(att, len(sxy))
    ok = np.flatnonzero(src.attached)
    t_dij, _ = timed(
        lambda: multi_source(net, src.edge[ok], src.along_m[ok], src.offset_m[ok], np.inf), args.repeat
    )
    row("  one multi-source Dijkstra pass (unlimited)", t_dij, f"{len(ok)} sources")
    t_cov, cov = timed(lambda: gn.walk_coverage(net, sxy, txy, limit_m=limits), args.repeat)
    levels = ", ".join(f"{int(v)} m" for v in np.unique(limits))
    row("walk_coverage (per-level limits)", t_cov, f"limits {levels}; covered {cov.covered.mean():.1%}")
    t_cov1, cov1 = timed(lambda: gn.walk_coverage(net, sxy, txy, limit_m=1000.0), args.repeat)
    row("walk_coverage (all 1000 m)", t_cov1, f"covered {cov1.covered.mean():.1%}")
    row("engine total (build + per-level coverage)", t_build + t_cov)

    peak_engine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak resident memory after engine steps':<44} {peak_engine:8.0f} MB", flush=True)

    sample = args.baseline_centres if args.baseline_centres < len(sxy) else None
    uniform = np.full(len(sxy), 1000.0)
    ratios = []
    for ego in (True, False):
        name = "nx.ego_graph (OSMnx isochrone)" if ego else "nx.single_source_dijkstra"
        for lim_name, lims, ours, ours_cov in (("per-level", limits, t_cov, cov), ("1000 m", uniform, t_cov1, cov1)):
            t_graph, t_nx, nx_cov, frac = networkx_baseline(net, sxy, txy, lims, sample, ego=ego)
            note = "" if frac == 1 else f"(searched {frac:.0%} of centres, scaled up)"
            if frac == 1:
                note += f" agrees with engine on {(nx_cov == ours_cov.covered).mean():.1%} of compounds"
            row(f"baseline {name}, {lim_name}", t_nx, note)
            ratios.append((f"{name}, {lim_name}", t_nx / ours, (t_graph + t_nx) / (t_build + ours)))
    row("baseline: networkx graph from edges", t_graph)
    for name, r, r_all in ratios:
        print(f"ratio {name:<48} {r:7.1f} x   (incl. graph build: {r_all:5.1f} x)")

    n_area = min(1000, len(sxy))
    if not args.no_areas:
        rep = max(1, min(3, args.repeat))
        t_sa, sa = timed(lambda: gn.service_areas(net, sxy[:n_area], limits_m=[1000.0]), rep)
        row(f"service_areas {n_area} centres, 1000 m, buffer 50 m", t_sa)
        t_sb, sb = timed(lambda: gn.service_areas(net, sxy[:n_area], limits_m=[333.0, 667.0, 1000.0]), rep)
        row(f"service_areas {n_area} centres, 333/667/1000 m", t_sb)
        levels_s = s_m["level"].to_numpy()[:n_area]
        t_gr, _ = timed(
            lambda: gn.group_service_areas(net, sxy, s_m["level"].to_numpy(), limits_m=[333.0, 667.0, 1000.0]), rep
        )
        row(f"group_service_areas all {len(sxy)} centres per level, 3 bands", t_gr)
        t_un, _ = timed(lambda: gn.union_service_areas(sb, levels_s), 1)
        row(f"union_service_areas (polygon union of the {n_area} x 3 above)", t_un)
    if not args.no_matrix:
        rng = np.random.default_rng(2)
        n_sites = min(2000, len(txy))
        sites = txy[rng.choice(len(txy), n_sites, replace=False)] + rng.normal(0, 30, (n_sites, 2))
        n_tg = min(20_000, len(txy))
        t_dm, dm = timed(
            lambda: gn.distance_matrix(net, sites, txy[:n_tg], limit_m=1000.0), max(1, min(3, args.repeat))
        )
        row(f"distance_matrix {n_sites} sites x {n_tg} compounds, 1000 m", t_dm, f"{dm.nnz} pairs")

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak resident memory':<44} {peak:8.0f} MB")


if __name__ == "__main__":
    main()
