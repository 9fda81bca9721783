"""Benchmark of real OGC clients on a 20,000-compound city: GDAL's OAPIF driver (through pyogrio) and OWSLib.

Usage (from the repository root)::

    python -m bench.bench_clients             # the demo district and the 100k-edge city (20,000 compounds)
    python -m bench.bench_clients --only demo

Each dataset is copied to a temporary folder, built there (``dangjian build``)
and served by ``dangjian serve`` in its own process on loopback, its access
log in a file: the requests a client makes are counted from that log.  One
request of every collection's first page loads the dataset into the server
(not counted).  Then, per dataset:

- GDAL lists the layers (``pyogrio.list_layers``) and reads every collection
  (``pyogrio.read_dataframe``): features, requests and seconds per collection;
- OWSLib's ``Features`` reads the landing page, the collections and one page
  of compounds of the API's largest page size.

Every collection's feature count is checked against ``numberMatched``.  The
demo is the baseline of the same run; the target from issue 13 is at most 5
requests for the demo's 419 cells and 20,000 compounds read by GDAL in under
5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyogrio  # noqa: E402
from owslib.ogcapi.features import Features  # noqa: E402

from bench.bench_network import city_path  # noqa: E402
from bench.serving import free_port, stop, wait_ready  # noqa: E402

DEMO = ROOT / "layers" / "demo" / "kangbashi_demo.gpkg"


def get_json(url: str) -> Any:
    """A JSON document from loopback."""
    with urllib.request.urlopen(url, timeout=300) as res:  # noqa: S310 - loopback
        return json.loads(res.read())


class AccessLog:
    """The GET requests a server process logged since :meth:`mark` (``path?query``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        """Start counting from here."""
        time.sleep(0.3)
        self.offset = self.path.stat().st_size

    def since(self) -> list[str]:
        """The requests logged since the last :meth:`mark`."""
        time.sleep(0.3)  # the access line is written just after the answer
        text = self.path.read_bytes()[self.offset :].decode("utf-8", "replace")
        return re.findall(r'"GET (\S+) HTTP/1\.1"', text)


def built_copy(src: Path, folder: Path) -> Path:
    """``src`` copied into ``folder`` and built there by the CLI."""
    path = folder / src.name
    shutil.copy(src, path)
    subprocess.run([sys.executable, "-m", "api.cli", "build", str(path)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return path


def measure(dataset: Path, folder: Path) -> dict[str, Any]:
    """GDAL's and OWSLib's reads of ``dataset`` served by ``dangjian serve``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / f"{dataset.stem}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGJIAN_")}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"})
    env.update({"DANGJIAN_DATA_DIR": str(folder / "data"), "DANGJIAN_RATE_LIMIT_PER_MINUTE": "0"})
    cmd = [sys.executable, "-m", "api.cli", "serve", str(dataset), "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    pyogrio.set_gdal_config_options({"GDAL_HTTP_TIMEOUT": "300", "GDAL_HTTP_MAX_RETRY": "0"})
    try:
        wait_ready(proc, port, timeout_s=300)
        ids = [c["id"] for c in get_json(f"{url}/collections")["collections"]]
        matched = {i: get_json(f"{url}/collections/{i}/items?limit=1")["numberMatched"] for i in ids}  # loads every layer
        access = AccessLog(log)
        access.mark()
        t0 = time.perf_counter()
        names = [str(n) for n in pyogrio.list_layers(f"OAPIF:{url}")[:, 0]]
        listed = (len(names), len(access.since()), time.perf_counter() - t0)
        if sorted(names) != sorted(ids):
            raise SystemExit(f"GDAL listed {names}, the service {ids}")
        gdal: dict[str, tuple[int, int, float]] = {}
        for layer in ids:
            access.mark()
            t0 = time.perf_counter()
            frame = pyogrio.read_dataframe(f"OAPIF:{url}", layer=layer)
            seconds = time.perf_counter() - t0
            if len(frame) != matched[layer]:
                raise SystemExit(f"GDAL read {len(frame)} of {matched[layer]} {layer}")
            gdal[layer] = (len(frame), len(access.since()), seconds)
        access.mark()
        t0 = time.perf_counter()
        client = Features(url)
        collections = [c["id"] for c in client.collections()["collections"]]
        page = client.collection_items("compounds", limit=10_000)
        owslib = (len(collections), len(page["features"]), len(access.since()), time.perf_counter() - t0)
    finally:
        stop(proc)
    return {"list": listed, "gdal": gdal, "owslib": owslib}


def main() -> None:
    """Measure the demo and the 20,000-compound city and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["demo", "city"], help="only this dataset")
    args = parser.parse_args()
    sources = {"demo": lambda: DEMO, "city": lambda: city_path("100k")}
    with tempfile.TemporaryDirectory(prefix="dj-bench-clients-") as tmp:
        for name, source in sources.items():
            if args.only and name != args.only:
                continue
            folder = Path(tmp) / name
            folder.mkdir()
            t0 = time.perf_counter()
            dataset = built_copy(source(), folder)
            print(f"\n## {name}: built in {time.perf_counter() - t0:.1f} s")
            found = measure(dataset, folder)
            layers, requests, seconds = found["list"]
            print(f"GDAL list_layers: {layers} layers, {requests} requests, {seconds:.2f} s")
            print("| collection | features | GDAL requests | GDAL s |")
            print("| --- | ---: | ---: | ---: |")
            for layer, (features, asked, secs) in found["gdal"].items():
                print(f"| {layer} | {features:,} | {asked} | {secs:.2f} |")
            n_coll, n_feat, asked, secs = found["owslib"]
            print(f"OWSLib: {n_coll} collections, {n_feat:,} compounds in one page, {asked} requests, {secs:.2f} s")


if __name__ == "__main__":
    main()
