"""Benchmark of batch runs on Dask: throughput per worker count, and a split large district.

Usage (from the repository root)::

    python -m bench.bench_batch                          # 8 districts of 30k edges; 1M-edge split
    python -m bench.bench_batch --districts 16 --edges 60000 --big-edges 0   # skip the big district

Part 1 builds the same districts (synthetic cities, cached in ``bench/out/``)
with :func:`layers.batch.run.run_batch` on a fresh ``LocalCluster`` of 1, 2 and 4
worker processes (one thread each) and prints districts per minute and road
edges per second; the baseline is the 1-worker run of the same run.  Each
district is the whole pipeline: read, build (units, grids, cells, circles,
walking coverage), write the GeoPackage and the XLSX report.  When the
whole-network build is not available (``layers.service_areas`` missing), the
walking pass of every district is split (``split_edges = 0``) and the output
says so.

Part 2 runs the walking pass of one large district (``--big-edges``) in one
process (network build + :func:`geo.network.walk_coverage`) and split into
tiles on a 2-worker ``LocalCluster`` (:func:`geo.network.partitioned_walk_coverage`),
checks that the answers are identical within the cut-off, and prints both
times and the largest tile's share of the network.

Part 3 estimates a national run from the measured per-edge cost.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synth_city import make_city, write_city  # noqa: E402

OUT = ROOT / "bench" / "out"


def _districts(n: int, edges: int, centers: int, compounds: int) -> list[Path]:
    folder = OUT / f"batch_{edges}_{centers}_{compounds}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        # sizes from 0.5x to 1.5x the mean, so the per-district and per-edge costs can be told apart
        f = 0.5 + (i / (n - 1) if n > 1 else 0.5)
        p = folder / f"d{i:03d}.gpkg"
        if not p.exists():
            print(f"generating {p.name} ({int(edges * f)} edges) ...", flush=True)
            write_city(p, make_city(int(edges * f), max(1, int(centers * f)), max(1, int(compounds * f)), seed=100 + i))
        paths.append(p)
    return paths


def _cluster(workers: int):  # noqa: ANN202
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40,
        memory_limit="auto",
    )
    return cluster, Client(cluster)


def _cpu_seconds() -> float:
    """User + system CPU seconds of this (worker) process, all its threads."""
    import psutil

    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


def throughput(paths: list[Path], worker_counts: list[int], *, split_all: bool) -> dict[int, dict[str, float]]:
    """Run the batch for each worker count; returns seconds, districts/min and edges/s per count."""
    from layers.batch.manifest import BatchEntry
    from layers.batch.run import run_batch
    from layers.build import BuildParams

    params = BuildParams(method="network")
    entries = [BatchEntry(p.stem, str(p), params, city="bench") for p in paths]
    out: dict[int, dict[str, float]] = {}
    for w in worker_counts:
        target = OUT / f"batch_run_{w}"
        shutil.rmtree(target, ignore_errors=True)
        cluster, client = _cluster(w)
        try:
            client.run(lambda: __import__("layers.batch.run"))  # warm the imports on every worker
            cpu0 = sum(client.run(_cpu_seconds).values())
            t0 = time.perf_counter()
            outcome = run_batch(entries, target, client=client, split_edges=0 if split_all else 10**12, force=True)
            wall = time.perf_counter() - t0
            cpu = sum(client.run(_cpu_seconds).values()) - cpu0
        finally:
            client.close()
            cluster.close()
        failed = [r for r in outcome.results if r.status != "built"]
        if failed:
            print(f"  {len(failed)} failed, first: {failed[0].name}: {failed[0].reason}", flush=True)
        edges = sum(int(r.row.get("road_edges", 0)) for r in outcome.results)
        task_s = sum(float(r.row.get("seconds", 0.0)) for r in outcome.results)
        out[w] = {
            "wall": wall,
            "per_min": 60.0 * len(entries) / wall,
            "edges_s": edges / wall,
            "edges": edges,
            "task_s": task_s,
            "cores_busy": cpu / wall,
            "per_task": [(int(r.row.get("road_edges", 0)), float(r.row.get("seconds", 0.0))) for r in outcome.results if r.row],
        }
        print(
            f"{w} worker(s): {wall:7.1f} s wall, {out[w]['per_min']:6.1f} districts/min, "
            f"{out[w]['edges_s']:9.0f} edges/s; sum of task times {task_s:6.1f} s; "
            f"cores busy on average {out[w]['cores_busy']:.2f}",
            flush=True,
        )
    return out


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _with_peak_rss(fn, *args):  # noqa: ANN001, ANN002, ANN202
    """Run ``fn(*args)`` while sampling this process's resident memory every 5 ms; returns (result, peak MB).

    (``ru_maxrss`` is no use here: Linux carries it over from the parent into spawned workers.)
    """
    import threading

    import psutil

    proc, peak, stop = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            stop.wait(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        return fn(*args), max(peak[0], proc.memory_info().rss) / 2**20
    finally:
        stop.set()
        t.join()


def _tile_peak(task):  # noqa: ANN001, ANN202
    from geo.network import run_tile

    return _with_peak_rss(run_tile, task)


def _single_pass(segments: np.ndarray, s_xy: np.ndarray, t_xy: np.ndarray, limit: np.ndarray) -> tuple:
    """Whole-network build and pass in one worker; returns the answer, edges, seconds and peak RSS (MB)."""
    import geopandas as gpd
    import shapely

    from geo.network import build_walk_network, walk_coverage

    lines = shapely.from_ragged_array(
        shapely.GeometryType.LINESTRING, segments.reshape(-1, 2), (np.arange(len(segments) + 1, dtype=np.int64) * 2,)
    )
    t0 = time.perf_counter()
    net = build_walk_network(gpd.GeoSeries(lines))
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = walk_coverage(net, s_xy, t_xy, limit_m=limit, max_snap_m=300.0)
    t_pass = time.perf_counter() - t0
    return res, net.n_edges, t_build, t_pass


def split_vs_single(edges: int, centers: int, compounds: int, *, workers: int = 2, n_tiles: int = 16) -> dict[str, float]:
    """One large district's walking pass: single process vs split tiles on a local cluster."""
    from geo.crs import metric_crs
    from geo.geometry import interior_points, xy
    from geo.network import partitioned_walk_coverage, road_segments, tile_tasks

    path = OUT / f"big_{edges}.gpkg"
    if path.exists():
        import pyogrio

        layers = {n: pyogrio.read_dataframe(path, layer=n) for n in ("roads", "centers", "compounds")}
    else:
        print(f"generating {path.name} ...", flush=True)
        layers = make_city(edges, centers, compounds, seed=1)
        write_city(path, layers)
    crs = metric_crs(layers["roads"])
    roads = layers["roads"][layers["roads"]["walkable"].astype(bool)].to_crs(crs)
    centres = layers["centers"].to_crs(crs)
    s_xy = xy(centres.geometry.to_numpy())
    t_xy = xy(interior_points(layers["compounds"].to_crs(crs).geometry.to_numpy()))
    limit = np.where(centres["level"].to_numpy() == "compound", 1000.0 / 3, 1000.0)

    t0 = time.perf_counter()
    segments = road_segments(roads)
    t_seg = time.perf_counter() - t0

    # the single process runs on a fresh 1-worker cluster too, so its memory is measured alone
    cluster, client = _cluster(1)
    try:
        client.run(lambda: __import__("geo.network"))
        base_rss = max(client.run(_rss_mb).values())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="(Large object|Sending large graph)", category=UserWarning)
            fut = client.submit(_with_peak_rss, _single_pass, segments, s_xy, t_xy, limit, pure=False)
        (single, n_edges, t_build, t_pass), rss_single = fut.result()
    finally:
        client.close()
        cluster.close()

    t0 = time.perf_counter()
    serial = partitioned_walk_coverage(segments, s_xy, t_xy, limit_m=limit, max_snap_m=300.0, n_tiles=n_tiles)
    t_serial = time.perf_counter() - t0

    cluster, client = _cluster(workers)
    try:
        client.run(lambda: __import__("geo.network"))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="(Large object|Sending large graph)", category=UserWarning)
            split = partitioned_walk_coverage(
                segments, s_xy, t_xy, limit_m=limit, max_snap_m=300.0, n_tiles=n_tiles,
                executor=client.get_executor(pure=False),
            )
        t_split = time.perf_counter() - t0
        # the same tiles again, one by one through the public pieces, to sample each tile's memory
        _, tasks = tile_tasks(segments, s_xy, t_xy, limit_m=limit, max_snap_m=300.0, n_tiles=n_tiles)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="(Large object|Sending large graph)", category=UserWarning)
            rss = {i: r for i, (_, r) in enumerate(client.get_executor(pure=False).map(_tile_peak, tasks))}
    finally:
        client.close()
        cluster.close()

    within = single.dist_m <= 1000.0
    same = (
        np.array_equal(split.covered, single.covered)
        and np.array_equal(split.covering_dist_m, single.covering_dist_m)
        and np.array_equal(split.dist_m[within], single.dist_m[within])
        and np.array_equal(serial.covered, single.covered)
    )
    return {
        "edges": n_edges,
        "segments_s": t_seg,
        "single_build": t_build,
        "single_pass": t_pass,
        "single": t_build + t_pass,
        "split_serial": t_serial,
        "split": t_split,
        "tiles": split.n_tiles,
        "tile_max": int(split.tile_edges.max()),
        "tile_sum": int(split.tile_edges.sum()),
        "tile_cpu": float(split.tile_seconds.sum()),
        "identical": float(same),
        "peak_single_mb": rss_single,
        "base_rss_mb": base_rss,
        "worker_rss_mb": max(rss.values()),
        "covered": int(single.covered.sum()),
        "targets": len(t_xy),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--districts", type=int, default=8)
    ap.add_argument("--edges", type=int, default=30_000, help="road edges per district")
    ap.add_argument("--centers", type=int, default=150)
    ap.add_argument("--compounds", type=int, default=3_000)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--big-edges", type=int, default=1_000_000, help="edges of the split district (0: skip)")
    ap.add_argument("--national-edges", type=float, default=60e6, help="road edges of a national run (assumption)")
    ap.add_argument("--national-districts", type=int, default=970, help="urban districts of a national run")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs", flush=True)

    whole = importlib.util.find_spec("layers.service_areas") is not None
    print(
        "per-district walking pass: "
        + ("whole network" if whole else "split into tiles (layers.service_areas, the whole-network build, is missing)"),
        flush=True,
    )
    paths = _districts(args.districts, args.edges, args.centers, args.compounds)
    counts = [int(w) for w in args.workers.split(",")]
    print(f"\n== throughput: {len(paths)} districts of ~{args.edges} edges, {args.compounds} compounds ==", flush=True)
    res = throughput(paths, counts, split_all=not whole)
    base = res[counts[0]]
    for w in counts[1:]:
        print(f"ratio {w} vs {counts[0]} worker(s): {res[w]['per_min'] / base['per_min']:5.2f} x", flush=True)
    pts = np.array(base["per_task"], dtype=float)
    if len(pts) >= 2 and np.ptp(pts[:, 0]) > 0:
        per_edge, per_district = np.polyfit(pts[:, 0], pts[:, 1], 1)
    else:
        per_edge, per_district = base["wall"] / max(base["edges"], 1), 0.0
    per_district = max(per_district, 0.0)
    print(
        f"cost of one district, 1 worker, whole pipeline (least squares over the {len(pts)} districts): "
        f"{per_district:.2f} s + {per_edge * 1e6:.1f} us per road edge",
        flush=True,
    )
    eff = {w: res[w]["per_min"] / base["per_min"] / min(w, os.cpu_count() or 1) for w in counts}

    if args.big_edges:
        print(f"\n== one district of ~{args.big_edges} edges: walking pass, single process vs split ==", flush=True)
        big = split_vs_single(args.big_edges, max(1, args.big_edges // 200), max(1, args.big_edges // 10))
        print(
            f"edges {big['edges']}, compounds {big['targets']}, covered {big['covered']}\n"
            f"single process: build {big['single_build']:.1f} s + pass {big['single_pass']:.1f} s = {big['single']:.1f} s, "
            f"worker peak RSS {big['peak_single_mb']:.0f} MB (idle worker {big['base_rss_mb']:.0f} MB)\n"
            f"split, serial in this process: {big['split_serial']:.1f} s ({big['tiles']} tiles)\n"
            f"split on 2 workers: {big['split']:.1f} s; tile CPU sum {big['tile_cpu']:.1f} s; "
            f"largest tile {big['tile_max']} edges = {big['tile_max'] / big['edges']:.1%} of the network; "
            f"halo overhead {big['tile_sum'] / big['edges']:.2f} x edges; worker peak RSS max {big['worker_rss_mb']:.0f} MB\n"
            f"ratio split(2 workers) / single: {big['split'] / big['single']:.2f}; identical within the cut-off: "
            f"{'yes' if big['identical'] else 'NO'}",
            flush=True,
        )

    print("\n== national estimate ==", flush=True)
    best = max(res.values(), key=lambda r: r["edges_s"])
    one_core = args.national_districts * per_district + args.national_edges * per_edge
    e2 = eff.get(2, 1.0)
    print(
        f"assumed: {args.national_districts} urban districts, {args.national_edges / 1e6:.0f}M walkable road edges in all; "
        f"one core: {one_core / 3600:.1f} h; parallel efficiency measured at 2 workers: {e2:.2f}",
        flush=True,
    )
    for cores in (2, 16, 64, 256):
        hours = one_core / (cores * min(e2, 1.0)) / 3600
        print(f"  on {cores:3d} cores (one worker each): ~{hours:6.2f} h", flush=True)
    print(f"(measured best on this machine: {best['edges_s']:.0f} edges/s)", flush=True)


if __name__ == "__main__":
    main()
