"""Issue 19's protections under bounded load on loopback: before (protection off through settings) and after (defaults).

Usage (from the repository root)::

    python -m bench.bench_hardening                 # every scenario
    python -m bench.bench_hardening --only secrets  # forwarded | secrets | workbook

The demo district is copied to a temporary folder and served by uvicorn in
a thread on 127.0.0.1 with the serve command's forwarded-header options.

- ``forwarded`` (finding 7): 40 ``GET /reports/gaps`` from loopback, each
  with another ``X-Forwarded-For``.  Before: ``trusted_proxies=127.0.0.1``
  (what uvicorn believes by default); after: none.  Printed: answers that
  reached the report (not 429) and the median latency.
- ``secrets`` (finding 5): 4 threads send 60 wrong secrets each (every one
  different, so the store's cache of checks does not help) for a known token
  id while one reader times public reads (``/collections/centers/items``).
  Before: ``auth_failures_per_minute=0``; after: the default.  Printed:
  scrypt hashes computed, reader p50/p95.
- ``workbook`` (finding 3): one upload of an ``.xlsx`` with 100,000 rows (a
  few MB).  Before: ``upload_max_rows`` above it (pandas parses it all);
  after: ``upload_max_rows=50000`` (refused while counting).  Printed:
  seconds to the answer, the process's peak RSS growth (MB).
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import pct  # noqa: E402
from tests.api.helpers import served_in_thread  # noqa: E402


@contextmanager
def served(settings: Any) -> Iterator[str]:
    """The app of ``settings`` on a loopback port, with the serve command's proxy options; its base URL."""
    from api.app import create_app
    from api.commands.serve import proxy_options

    app = create_app(settings)
    app.state.dangjian.dataset()
    with served_in_thread(app, **proxy_options(settings)) as url:
        yield url


class PeakRSS:
    """The process's resident memory sampled every 20 ms in a thread: growth of the peak over the start (MB)."""

    def __enter__(self) -> PeakRSS:
        import psutil

        self._proc = psutil.Process()
        self.start = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1024**2


def forwarded(settings_for: Callable[..., Any]) -> None:
    import httpx

    for label, extra in (("before (X-Forwarded-For believed from loopback)", {"trusted_proxies": "127.0.0.1"}), ("after (default)", {})):
        with served(settings_for(rate_limit_per_minute=6, rate_limit_burst=5, **extra)) as base:
            answers, times = [], []
            for i in range(40):
                t0 = time.perf_counter()
                res = httpx.get(f"{base}/reports/gaps", headers={"X-Forwarded-For": f"203.0.113.{i + 1}"}, timeout=60)
                times.append(time.perf_counter() - t0)
                answers.append(res.status_code)
        served_n = sum(1 for a in answers if a != 429)
        print(f"forwarded  {label:52s} reports computed {served_n:3d}/40  median {statistics.median(times) * 1000:7.1f} ms")


def _under_attack(base: str, token_id: str) -> tuple[float, list[float]]:
    """4 threads x 60 wrong secrets (each another) for ``token_id`` while one reader reads: seconds, the reader's latencies."""
    import secrets as random_secrets

    import httpx

    done = threading.Event()
    reads: list[float] = []

    def attack() -> None:
        with httpx.Client(timeout=60) as c:
            for _ in range(60):
                wrong = f"dj_{token_id}_{random_secrets.token_urlsafe(32)}"
                c.get(f"{base}/audit", headers={"Authorization": f"Bearer {wrong}"})

    def reader() -> None:
        with httpx.Client(timeout=60) as c:
            while not done.is_set():
                t0 = time.perf_counter()
                c.get(f"{base}/collections/centers/items?limit=5")
                reads.append(time.perf_counter() - t0)

    r = threading.Thread(target=reader)
    r.start()
    t0 = time.perf_counter()
    attackers = [threading.Thread(target=attack) for _ in range(4)]
    for a in attackers:
        a.start()
    for a in attackers:
        a.join()
    seconds = time.perf_counter() - t0
    done.set()
    r.join()
    return seconds, reads


def secrets(settings_for: Callable[..., Any]) -> None:
    import hashlib

    from layers.store import Role, open_store

    hashes = [0]
    real = hashlib.scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        hashes[0] += 1
        return real(*args, **kwargs)

    hashlib.scrypt = counted  # type: ignore[assignment]

    for label, extra in (("before (auth_failures_per_minute=0)", {"auth_failures_per_minute": 0}), ("after (default)", {})):
        settings = settings_for(**extra)
        with open_store(settings.dataset) as store, store.transaction(actor="bench") as tx:
            made = tx.create_token(Role.editor)
        with served(settings) as base:
            hashes[0] = 0
            seconds, reads = _under_attack(base, made.info.id)
        print(
            f"secrets    {label:52s} 240 wrong secrets in {seconds:5.1f} s, {hashes[0]:3d} scrypt; public read p50 "
            f"{pct(reads, 0.5) * 1000:6.1f} ms p95 {pct(reads, 0.95) * 1000:6.1f} ms ({len(reads)} reads)"
        )
    hashlib.scrypt = real


def workbook(settings_for: Callable[..., Any]) -> None:
    import httpx
    import pandas as pd

    from layers.store import Role, open_store

    rows = 100_000
    frame = pd.DataFrame({"名称": [f"小区{i}" for i in range(rows)], "户数": 10, "经度": 109.78, "纬度": 39.6})
    buf = io.BytesIO()
    frame.to_excel(buf, index=False, engine="openpyxl")
    data = buf.getvalue()
    for label, extra in (("before (upload_max_rows above the sheet)", {"upload_max_rows": 10 * rows}), ("after (upload_max_rows=50000)", {"upload_max_rows": 50_000})):
        settings = settings_for(upload_max_mb=64, **extra)
        with open_store(settings.dataset) as store, store.transaction(actor="bench") as tx:
            token = tx.create_token(Role.admin).token
        with served(settings) as base, PeakRSS() as rss:
            t0 = time.perf_counter()
            res = httpx.post(
                f"{base}/datasets", files={"files": ("big.xlsx", data)}, data={"name": "big", "replace": "true"},
                headers={"Authorization": f"Bearer {token}"}, timeout=600,
            )
            seconds = time.perf_counter() - t0
        print(
            f"workbook   {label:52s} {len(data) / 1024**2:.1f} MB xlsx, {rows:,} rows: {res.status_code} in {seconds:6.2f} s, "
            f"peak RSS +{rss.growth_mb:6.0f} MB"
        )


SCENARIOS = {"forwarded": forwarded, "secrets": secrets, "workbook": workbook}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    args = parser.parse_args()
    from api.settings import DEMO_DATASET, Settings

    work = Path(tempfile.mkdtemp(prefix="bench-hardening-"))
    try:
        dataset = work / "demo.gpkg"
        shutil.copyfile(DEMO_DATASET, dataset)

        def settings_for(**values: Any) -> Settings:
            return Settings(dataset=dataset, data_dir=work / "data", reload_check_s=0, **values)

        for name in args.only or list(SCENARIOS):
            SCENARIOS[name](settings_for)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
