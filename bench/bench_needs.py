"""Benchmark: matching needs to services (issue 15) against one coverage pass, in the same run.

Usage (from the repository root)::

    python -m bench.bench_needs --size 100k     # 100k edges, 1k centres, 20k compounds, 6 categories

Each compound needs 0-3 of the six categories, each centre offers 3 of them
(seeded).  Both steps run on the same prebuilt walking network (the build
builds it once): the baseline is :func:`layers.coverage.compound_coverage`
over all centres (what the build does anyway); the measured step is
:func:`layers.services.match.match_needs` on its result (one pass per
category over the centres offering it).  Prints medians of ``--repeat``
runs and the ratio; the target is at most 2x.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.bench_network import city_path, timed
from layers.coverage import compound_coverage
from layers.dataset import read_dataset
from layers.services.catalogue import DEFAULT_CATALOGUE
from layers.services.match import match_needs
from layers.walking import walking_network


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", choices=["10k", "100k", "1m"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    ds = read_dataset(city_path(args.size))
    rng = np.random.default_rng(15)
    names = [c.zh for c in DEFAULT_CATALOGUE]
    compounds, centers = ds["compounds"].copy(), ds["centers"].copy()
    compounds["needs"] = ["、".join(rng.choice(names, size=rng.integers(0, 4), replace=False)) for _ in range(len(compounds))]
    centers["services"] = ["、".join(rng.choice(names, size=3, replace=False)) for _ in range(len(centers))]
    kwargs = {"metric_crs": ds.metric_crs, "method": "network", "minutes": 15.0, "level_minutes": {"compound": 5.0}}
    net = walking_network(ds["roads"], metric_crs=ds.metric_crs)
    print(f"{args.size}: {len(compounds):,} compounds, {len(centers):,} centres, {len(ds['roads']):,} roads, 6 categories")
    t_cov, covered = timed(lambda: compound_coverage(compounds, centers, network=net, **kwargs), args.repeat)
    t_needs, matched = timed(lambda: match_needs(covered, centers, network=net, **kwargs), args.repeat)
    unmet = int((matched["unmet_needs"] != "").sum())
    print(f"coverage pass (baseline)   {t_cov:7.2f} s")
    print(f"needs matching             {t_needs:7.2f} s   ratio {t_needs / t_cov:.2f}x (target <= 2x)")
    print(f"compounds with an unmet need: {unmet:,} of {len(matched):,}")


if __name__ == "__main__":
    main()
