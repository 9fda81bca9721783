"""Benchmark: drawing compounds' walks (issue 16) on a synthetic city, and how well their lengths keep to ``walk_m``.

Usage (from the repository root)::

    python -m bench.bench_route --size 100k --sample 300   # 100k edges, 1k centres, 20k compounds

Builds the city's coverage with the network method once, then draws
``--sample`` random compounds' routes with :func:`layers.routes.compound_route`
on the same network (the service keeps it in
:data:`layers.walking.SHARED_NETWORKS`).  Prints the median and worst time
per route and the largest difference between a route's length (measured in
the metric CRS after the trip through WGS84) and its ``walk_m``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.bench_network import city_path
from layers.build import BuildParams, coverage_layers
from layers.dataset import read_dataset
from layers.routes import compound_route
from layers.walking import walking_network


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", choices=["10k", "100k", "1m"])
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args(argv)
    ds = read_dataset(city_path(args.size))
    params = BuildParams(method="network", level_minutes={"compound": 5.0})
    t = time.perf_counter()
    built = coverage_layers(ds, params, areas=False)
    print(f"{args.size}: {len(ds['compounds']):,} compounds, {len(ds['centers']):,} centres; coverage {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    net = walking_network(built["roads"], metric_crs=built.metric_crs)
    print(f"walking network {time.perf_counter() - t:.1f} s (built once per roads, kept by the service)")
    ids = built["compounds"]["id"].astype(str).to_numpy()
    pick = np.random.default_rng(16).choice(ids, size=min(args.sample, len(ids)), replace=False)
    times, worst, drawn = [], 0.0, 0
    for cid in pick:
        t = time.perf_counter()
        row = compound_route(built, cid, params=params, network=net)
        times.append(time.perf_counter() - t)
        line = row.geometry.iloc[0]
        if line is None:
            continue
        drawn += 1
        length = float(row.to_crs(built.metric_crs).length.iloc[0])
        worst = max(worst, abs(length - float(row["walk_m"].iloc[0])) / max(float(row["walk_m"].iloc[0]), 1.0))
    print(f"{len(pick)} routes ({drawn} with a walk): median {statistics.median(times) * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms")
    print(f"largest |length - walk_m| / walk_m: {worst:.2e} (target < 2e-2)")


if __name__ == "__main__":
    main()
