"""Whole-process timing of ``dangjian coverage --method network`` (read, network, coverage, write).

Runs the real command line in a subprocess several times on a synthetic city
from :mod:`bench.synth_city` and prints the median wall time and peak memory,
against the issue's targets (100k edges < 5 s; 1M edges < 20 s and < 3 GB).

    python -m bench.bench_coverage_cli --size 100k --repeat 5
    python -m bench.bench_coverage_cli --size 1m --repeat 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SIZES = {"100k": (100_000, 1_000, 20_000, 5.0), "1m": (1_000_000, 10_000, 200_000, 20.0)}


def city(size: str) -> Path:
    """The cached synthetic city GeoPackage of ``size``, generated once."""
    edges, centers, compounds, _ = SIZES[size]
    path = OUT / f"city-{size}.gpkg"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "bench.synth_city", str(path), "--edges", str(edges),
             "--centers", str(centers), "--compounds", str(compounds)],
            check=True,
        )
    return path


def run_once(source: Path, target: Path) -> tuple[float, float]:
    """Seconds and peak resident MB of one CLI run in a child process."""
    exe = Path(sys.executable).with_name("dangjian")
    start = time.perf_counter()
    subprocess.run([str(exe), "coverage", str(source), "-o", str(target), "--method", "network"],
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="100k")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = city(args.size)
    target_s = SIZES[args.size][3]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            seconds, peak = run_once(source, Path(tmp) / "out.gpkg")
            times.append(seconds)
    median = statistics.median(times)
    print(f"dangjian coverage --method network, {args.size} city: median {median:.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in times)}), peak {peak:.0f} MB; "
          f"target {target_s:.0f} s -> {median / target_s:.2f} of the budget")


if __name__ == "__main__":
    main()
