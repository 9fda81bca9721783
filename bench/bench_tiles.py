"""Benchmark of the map tiles on loopback: cold and cached latency, and throughput.

Usage (from the repository root)::

    python -m bench.bench_tiles                 # demo district, zoom 14-17
    python -m bench.bench_tiles --seconds 5     # longer throughput run

The demo district is copied to a temporary folder and built there.  Every
tile at zoom 14-17 that touches the district is requested over HTTP from a
real uvicorn server on 127.0.0.1:

- *cold*: the first request of each tile (rendered, then kept in the LRU),
  one server worker, one keep-alive connection, one request at a time;
- *cached*: the same tiles again;
- *throughput*: a server with ``--workers`` processes (default 2) whose
  caches are warm, loaded by client processes over keep-alive connections
  for ``--seconds`` (bounded).

Baselines measured in the same run: for cold tiles, rendering the same tile
in-process *without* the prepared layer (projecting and indexing the layer for
every tile, as a naive renderer would); for cached tiles, ``/health`` (the
cost of the HTTP stack itself).  Targets from issue 4: cold PNG or MVT under
30 ms median, cached under 2 ms median, at least 500 cached tiles/s with 2
workers.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import morecantile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, pct, stop, wait_ready  # noqa: E402

DEMO = ROOT / "layers" / "demo" / "kangbashi_demo.gpkg"
ZOOMS = (14, 15, 16, 17)
CASES = (("compounds", "png"), ("compounds", "mvt"), ("cells", "png"), ("circles", "png"), ("centers", "mvt"))


def start_server(dataset: Path, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    """A uvicorn server on a free loopback port, ready to answer."""
    port = free_port()
    env = {**os.environ, "DANGJIAN_DATASET": str(dataset), "DANGJIAN_TILE_CACHE_SIZE": "100000", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "api.cli", "serve", str(dataset), "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(proc, port, timeout_s=60)
    return proc, port


def tile_urls(bounds: tuple[float, float, float, float], layer: str, fmt: str) -> list[str]:
    """Every tile URL at zoom 14-17 touching ``bounds`` (WGS84)."""
    tms = morecantile.tms.get("WebMercatorQuad")
    return [f"/tiles/{layer}/{t.z}/{t.x}/{t.y}.{fmt}" for t in tms.tiles(*bounds, zooms=list(ZOOMS))]


def timed_gets(port: int, urls: list[str]) -> list[float]:
    """Seconds per request, one keep-alive connection, sequential; every answer must be 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    for url in urls:
        t0 = time.perf_counter()
        conn.request("GET", url)
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise SystemExit(f"{url}: HTTP {resp.status}")
    conn.close()
    return out


def _client(port: int, urls: list[str], seconds: float, conns: int, out: mp.Queue) -> None:
    import threading

    counts = [0] * conns
    stop_at = time.monotonic() + seconds

    def run(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = k
        while time.monotonic() < stop_at:
            conn.request("GET", urls[i % len(urls)])
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                counts[k] += 1
            i += conns
        conn.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(sum(counts))


def throughput(port: int, urls: list[str], *, seconds: float, clients: int, conns: int) -> float:
    """Cached tiles per second answered under load from ``clients`` processes x ``conns`` connections."""
    q: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_client, args=(port, urls[k::clients] or urls, seconds, conns, q)) for k in range(clients)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    total = sum(q.get() for _ in procs)
    for p in procs:
        p.join()
    return total / (time.perf_counter() - t0)


def naive_cold_ms(dataset: Path, layer: str, fmt: str, urls: list[str]) -> list[float]:
    """Baseline: render each tile in-process, preparing (projecting, indexing) the layer every time."""
    from geo.tiles import tile_box
    from layers.dataset import read_dataset
    from layers.tiles.source import TileSource

    frame = read_dataset(dataset)[layer]
    out = []
    for url in urls:
        z, x, y = (int(v) for v in url.rsplit(".", 1)[0].split("/")[-3:])
        t0 = time.perf_counter()
        source = TileSource.from_frame(layer, frame)
        box = tile_box(z, x, y)
        source.png(box) if fmt == "png" else source.mvt(box)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="server workers for the throughput run")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the throughput run (s)")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--conns", type=int, default=4, help="keep-alive connections per client process")
    args = parser.parse_args()

    from api.commands.serve import ensure_built
    from api.settings import Settings
    from layers.dataset import read_dataset

    tmp = Path(tempfile.mkdtemp(prefix="dangjian-bench-"))
    try:
        src = tmp / "demo.gpkg"
        shutil.copy(DEMO, src)
        built, _ = ensure_built(src, Settings().build_params().validate())
        bounds = tuple(float(v) for v in read_dataset(built)["boundary"].total_bounds)
        print(f"demo district {built.name}: bounds {', '.join(f'{b:.4f}' for b in bounds)}; zoom {ZOOMS[0]}-{ZOOMS[-1]}")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

        proc, port = start_server(built, 1)
        try:
            timed_gets(port, ["/health", "/tiles/compounds.json"])  # load the dataset
            health = timed_gets(port, ["/health"] * 300)
            print(f"\nbaseline /health over HTTP: median {statistics.median(health) * 1e3:.2f} ms")
            print(f"{'layer':10} {'fmt':4} {'tiles':>5} {'cold med':>9} {'cold p95':>9} {'naive med':>10} {'x faster':>8} "
                  f"{'cached med':>11} {'cached p95':>11} {'/ health':>8}")
            all_urls: list[str] = []
            for layer, fmt in CASES:
                urls = tile_urls(bounds, layer, fmt)
                all_urls += urls
                cold = timed_gets(port, urls)
                cached = timed_gets(port, urls)
                naive = naive_cold_ms(built, layer, fmt, urls)
                print(
                    f"{layer:10} {fmt:4} {len(urls):5d} {statistics.median(cold) * 1e3:8.2f}ms {pct(cold, 0.95) * 1e3:8.2f}ms "
                    f"{statistics.median(naive) * 1e3:9.2f}ms {statistics.median(naive) / statistics.median(cold):7.1f}x "
                    f"{statistics.median(cached) * 1e3:10.2f}ms {pct(cached, 0.95) * 1e3:10.2f}ms "
                    f"{statistics.median(cached) / statistics.median(health):7.2f}x"
                )
        finally:
            stop(proc)

        proc, port = start_server(built, args.workers)
        try:
            # Warm every worker's cache: several connections at once, so the kernel hands some to each worker.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(4 * args.workers) as pool:
                list(pool.map(lambda _: timed_gets(port, all_urls), range(4 * args.workers)))
            rate = throughput(port, all_urls, seconds=args.seconds, clients=args.clients, conns=args.conns)
            hrate = throughput(port, ["/health"], seconds=min(args.seconds, 2.0), clients=args.clients, conns=args.conns)
            print(
                f"\nthroughput, {args.workers} server workers, {args.clients}x{args.conns} keep-alive clients, "
                f"{args.seconds:g} s: {rate:.0f} cached tiles/s ({rate / hrate:.2f}x the /health rate of {hrate:.0f}/s)"
            )
        finally:
            stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
