"""Concurrency benchmark: editing clients and tile readers on loopback, on both store backends.

Usage (from the repository root)::

    python -m bench.bench_edits                          # 20 editors + 50 readers, 60 s, gpkg and postgis
    python -m bench.bench_edits --seconds 10 --backends gpkg

The demo district is built and imported into a fresh store (a GeoPackage in
a temporary folder, or a schema of a throwaway PostGIS cluster started with
``tests/pgcluster.py``), and served by a real uvicorn server on 127.0.0.1.

- *baseline*: the tile readers alone for ``--baseline-seconds``;
- *mixed*: ``--editors`` clients each creating centres and then patching
  (with ``If-Match``) or deleting their own ones, while ``--readers`` clients
  fetch PNG/MVT tiles, for ``--seconds`` (bounded: every client stops when
  the time is up, requests time out after 120 s).

Afterwards every acknowledged edit is checked in the store: a created or
patched centre is there with exactly the acknowledged version, a deleted one
is gone; and each client checks that the versions it saw never went
backwards.  Printed: requests, throughput, latency percentiles, 5xx, 412
(should be 0: each editor edits only its own centres), and the tile latency
under edits as a ratio of the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import morecantile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, pct, stop, wait_ready  # noqa: E402

DEMO = ROOT / "layers" / "demo" / "kangbashi_demo.gpkg"
ZOOMS = (14, 15, 16)


@dataclass
class Stats:
    """Latencies (s) and status codes of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    codes: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, code: int) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.codes[code] = self.codes.get(code, 0) + 1

    def line(self, name: str, seconds: float) -> str:
        n = len(self.latencies)
        ms = [v * 1000 for v in self.latencies]
        fives = sum(c for k, c in self.codes.items() if k >= 500)
        return (
            f"{name:<10} {n:>7} req {n / seconds:>8.1f}/s  p50 {pct(ms, 0.5):>8.1f} ms  p95 {pct(ms, 0.95):>8.1f} ms  "
            f"p99 {pct(ms, 0.99):>8.1f} ms  5xx {fives}  codes {dict(sorted(self.codes.items()))}"
        )


def start_server(env_extra: dict[str, str], log_path: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """One uvicorn worker on a free loopback port serving the store named by ``env_extra`` (its log to ``log_path``)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DANGJIAN_RELOAD_CHECK_S": "0.5", **env_extra}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_env", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    sink = open(log_path, "wb") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115 - the server's lifetime
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=sink, stderr=sink)
    wait_ready(proc, port, timeout_s=120)
    return proc, port


def tile_urls(bounds: tuple[float, float, float, float]) -> list[str]:
    tms = morecantile.tms.get("WebMercatorQuad")
    urls = []
    for layer, fmt in (("compounds", "png"), ("compounds", "mvt"), ("circles", "png"), ("centers", "mvt")):
        urls += [f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.{fmt}" for t in tms.tiles(*bounds, zooms=list(ZOOMS))]
    return urls


def reader(base: str, urls: list[str], until: float, stats: Stats, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=120) as client:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            try:
                code = client.get(rng.choice(urls)).status_code
            except httpx.HTTPError:
                code = 599
            stats.add(time.perf_counter() - t0, code)


@dataclass
class EditorLog:
    """What one editor was told: the last acknowledged version of each of its centres (``-1``: deleted)."""

    acked: dict[str, int] = field(default_factory=dict)
    backwards: int = 0
    conflicts: int = 0


def editor(base: str, token: str, bounds: tuple[float, float, float, float], until: float, stats: Stats, log: EditorLog, seed: int) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    minx, miny, maxx, maxy = bounds

    def point() -> dict[str, Any]:
        return {"type": "Point", "coordinates": [rng.uniform(minx, maxx), rng.uniform(miny, maxy)]}

    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        n = 0
        while time.monotonic() < until:
            live = [k for k, v in log.acked.items() if v > 0]
            roll = rng.random()
            t0 = time.perf_counter()
            try:
                if not live or roll < 0.3:
                    n += 1
                    body = {"type": "Feature", "geometry": point(),
                            "properties": {"name": f"bench {seed}-{n}", "level": "community", "status": "proposed"}}
                    res = client.post("/collections/centers/items", json=body)
                    if res.status_code == 201:
                        log.acked[res.json()["id"]] = int(res.headers["etag"].strip('"'))
                elif roll < 0.9:
                    fid = rng.choice(live)
                    res = client.patch(f"/collections/centers/items/{fid}", json={"geometry": point()},
                                       headers={"If-Match": f'"{log.acked[fid]}"'})
                    if res.status_code == 200:
                        version = int(res.headers["etag"].strip('"'))
                        if version <= log.acked[fid]:
                            log.backwards += 1
                        log.acked[fid] = version
                else:
                    fid = rng.choice(live)
                    res = client.delete(f"/collections/centers/items/{fid}", headers={"If-Match": f'"{log.acked[fid]}"'})
                    if res.status_code == 204:
                        log.acked[fid] = -1
                code = res.status_code
                if code == 412:
                    log.conflicts += 1
            except httpx.HTTPError:
                code = 599
            stats.add(time.perf_counter() - t0, code)


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    from layers.build import BuildParams, build_dataset
    from layers.dataset import read_dataset
    from layers.store import open_store

    work = Path(tempfile.mkdtemp(prefix="bench-edits-"))
    cluster = None
    try:
        dataset = build_dataset(read_dataset(DEMO), BuildParams())
        if backend == "gpkg":
            target = str(work / "demo.gpkg")
            env = {"DANGJIAN_DATASET": target}
        else:
            from tests.pgcluster import start_cluster

            cluster = start_cluster()
            target = f"{cluster.url}?schema=bench_edits"
            env = {"DANGJIAN_DATASET": str(work / "bench_edits.gpkg"), "DANGJIAN_DATABASE_URL": cluster.url,
                   "DANGJIAN_DATABASE_SCHEMA": "bench_edits"}
        with open_store(target) as store:
            with store.transaction(actor="bench") as tx:
                tx.import_dataset(dataset)
                tokens = [tx.create_token("editor", name=f"bench {i}").token for i in range(args.editors)]
        bounds = tuple(float(v) for v in dataset.layers["compounds"].total_bounds)
        urls = tile_urls(bounds)  # type: ignore[arg-type]
        log_path = args.out.parent / f"bench_edits_{backend}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        proc, port = start_server(env, log_path)
        base = f"http://127.0.0.1:{port}"
        try:
            baseline = Stats()
            until = time.monotonic() + args.baseline_seconds
            threads = [threading.Thread(target=reader, args=(base, urls, until, baseline, i)) for i in range(args.readers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

            tiles, edits = Stats(), Stats()
            logs = [EditorLog() for _ in range(args.editors)]
            start = time.monotonic()
            until = start + args.seconds
            threads = [threading.Thread(target=reader, args=(base, urls, until, tiles, 1000 + i)) for i in range(args.readers)]
            threads += [threading.Thread(target=editor, args=(base, tokens[i], bounds, until, edits, logs[i], i)) for i in range(args.editors)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - start

            # every acknowledged edit is in the store, at exactly the acknowledged version
            missing = wrong = 0
            with open_store(target) as store:
                with store.snapshot() as snap:
                    versions = snap.read_layer("centers", versions=True).set_index("id")["version"].to_dict()
            for log in logs:
                for fid, version in log.acked.items():
                    if version == -1:
                        wrong += fid in versions
                    elif fid not in versions:
                        missing += 1
                    elif int(versions[fid]) != version:
                        wrong += 1
            # and the service serves them
            served_missing = 0
            with httpx.Client(base_url=base, timeout=60) as client:
                time.sleep(1.0)
                sample = [(fid, v) for log in logs for fid, v in log.acked.items() if v > 0][:200]
                for fid, v in sample:
                    res = client.get(f"/collections/centers/items/{fid}")
                    if res.status_code != 200 or res.headers.get("etag") != f'"{v}"':
                        served_missing += 1
        finally:
            stop(proc)
        acked = sum(len(log.acked) for log in logs)
        result = {
            "backend": backend,
            "seconds": round(elapsed, 1),
            "editors": args.editors,
            "readers": args.readers,
            "baseline_tiles": baseline,
            "tiles": tiles,
            "edits": edits,
            "acknowledged_features": acked,
            "missing_in_store": missing,
            "wrong_version_in_store": wrong,
            "not_served": served_missing,
            "versions_backwards": sum(log.backwards for log in logs),
            "conflicts_412": sum(log.conflicts for log in logs),
        }
        print(f"\n== {backend}: {args.editors} editors + {args.readers} tile readers, {elapsed:.0f} s (after {args.baseline_seconds:g} s of readers alone)")
        print(baseline.line("tiles/base", args.baseline_seconds))
        print(tiles.line("tiles", elapsed))
        print(edits.line("edits", elapsed))
        p50_ratio = pct(tiles.latencies, 0.5) / pct(baseline.latencies, 0.5)
        p95_ratio = pct(tiles.latencies, 0.95) / pct(baseline.latencies, 0.95)
        print(f"tile latency under edits / alone: p50 x{p50_ratio:.1f}, p95 x{p95_ratio:.1f}")
        print(f"acknowledged centres {acked}: missing {missing}, wrong version {wrong}, not served {served_missing}, "
              f"versions backwards {result['versions_backwards']}, 412 {result['conflicts_412']}")
        return result
    finally:
        if cluster is not None:
            cluster.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in result.items():
        if isinstance(v, Stats):
            ms = [x * 1000 for x in v.latencies]
            out[k] = {"requests": len(ms), "p50_ms": round(pct(ms, 0.5), 1), "p95_ms": round(pct(ms, 0.95), 1),
                      "p99_ms": round(pct(ms, 0.99), 1), "codes": {str(c): n for c, n in sorted(v.codes.items())}}
        else:
            out[k] = v
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--editors", type=int, default=20)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--backends", default="gpkg,postgis")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "bench_edits.json")
    args = parser.parse_args()
    results = [run_backend(b.strip(), args) for b in args.backends.split(",") if b.strip()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([_summary(r) for r in results], indent=2), encoding="utf-8")
    bad = any(r["missing_in_store"] or r["wrong_version_in_store"] or r["versions_backwards"]
              or sum(c for k, c in r["edits"].codes.items() if k >= 500) or sum(c for k, c in r["tiles"].codes.items() if k >= 500)
              for r in results)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
