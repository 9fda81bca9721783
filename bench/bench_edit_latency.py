"""Latency of one edit over HTTP on a large synthetic city: incremental update vs recomputing everything.

Usage (from the repository root)::

    python -m bench.bench_edit_latency                       # 100k edges, 1,000 centres, 20,000 compounds
    python -m bench.bench_edit_latency --edges 20000 --centers 200 --compounds 4000 --rounds 3

The city (``bench/synth_city.py``) is built on the walking network and
imported into a GeoPackage store in a temporary folder, then served in
process (FastAPI's TestClient, one editor token).  Each round sends six
edits: a new community centre, a centre moved 300 m, a centre's level
changed, a centre deleted, a new compound, a compound's households changed.
The same edits are then timed recomputing everything (every centre and
compound counted as edited: what the service does when the stored derived
layers are behind the centres and compounds, e.g. after a feature was
written through the store's API alone).  Printed: median and max seconds per edit kind for both, compounds
recomputed and rows rewritten per edit (from the service log).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _lonlat_offset(lon: float, lat: float, dx_m: float, dy_m: float) -> list[float]:
    import math

    return [lon + dx_m / (111_320 * math.cos(math.radians(lat))), lat + dy_m / 110_540]


def run(path: Path, *, rounds: int, full: bool) -> dict[str, list[float]]:
    from fastapi.testclient import TestClient

    import api.state.editing as editing
    from api.app import create_app
    from api.settings import Settings
    from layers.store import Role, open_store

    store = open_store(path)
    with store.transaction(actor="bench") as tx:
        token = tx.create_token(Role.editor).token
    with store.snapshot() as snap:
        centres = snap.read_layer("centers")
        compounds = snap.read_layer("compounds")
    store.close()
    head = {"Authorization": f"Bearer {token}"}
    saved = editing.update_in_store
    if full:
        def whole(tx: Any, dataset: Any, state: Any, features: Any, *, everything: bool = False) -> Any:
            return saved(tx, dataset, state, features, everything=True)

        editing.update_in_store = whole  # type: ignore[assignment]
    times: dict[str, list[float]] = {}

    def timed(kind: str, call: Any) -> Any:
        t = time.perf_counter()
        r = call()
        times.setdefault(kind, []).append(time.perf_counter() - t)
        assert r.status_code < 300, (kind, r.status_code, r.text[:300])
        return r

    try:
        with TestClient(create_app(Settings(dataset=path, reload_check_s=0, rate_limit_per_minute=0))) as client:
            client.get("/coverage/summary")  # load once
            for k in range(rounds):
                c = centres.iloc[(k * 37) % len(centres)]
                lon, lat = c.geometry.x, c.geometry.y
                body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": _lonlat_offset(lon, lat, 420, 260)},
                        "properties": {"name": f"新中心{k}", "level": "community", "status": "existing"}}
                new = timed("create centre", lambda b=body: client.post("/collections/centers/items", json=b, headers=head)).json()
                etag = f'"{new["version"]}"'
                moved = {"geometry": {"type": "Point", "coordinates": _lonlat_offset(lon, lat, 120, -250)}}
                r = timed("move centre", lambda m=moved, e=etag, i=new["id"]: client.patch(
                    f"/collections/centers/items/{i}", json=m, headers={**head, "If-Match": e}))
                r = timed("level of centre", lambda e=r.headers["etag"], i=new["id"]: client.patch(
                    f"/collections/centers/items/{i}", json={"properties": {"level": "compound"}}, headers={**head, "If-Match": e}))
                timed("delete centre", lambda e=r.headers["etag"], i=new["id"]: client.delete(
                    f"/collections/centers/items/{i}", headers={**head, "If-Match": e}))
                h = compounds.iloc[(k * 101) % len(compounds)]
                x0, y0, x1, y1 = h.geometry.bounds
                ring = [[x1 + 0.001, y0], [x1 + 0.002, y0], [x1 + 0.002, y1], [x1 + 0.001, y1], [x1 + 0.001, y0]]
                cbody = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"name": f"新小区{k}", "households": 420}}
                timed("create compound", lambda b=cbody: client.post("/collections/compounds/items", json=b, headers=head))
                cur = client.get(f"/collections/compounds/items/{h['id']}")
                timed("households of compound", lambda e=cur.headers["etag"], i=h["id"], n=int(h["households"]) + 50: client.patch(
                    f"/collections/compounds/items/{i}", json={"properties": {"households": n}}, headers={**head, "If-Match": e}))
    finally:
        editing.update_in_store = saved  # type: ignore[assignment]
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edges", type=int, default=100_000)
    ap.add_argument("--centers", type=int, default=1_000)
    ap.add_argument("--compounds", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-full", action="store_true", help="time only the incremental path")
    args = ap.parse_args()

    import shutil

    from bench.synth_city import make_city
    from layers.build import BuildParams, build_dataset
    from layers.dataset import Dataset
    from layers.store import open_store
    from tests.helpers import make_dataset

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("dangjian.api").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="dj-edit-bench-") as tmp:
        t = time.perf_counter()
        city: Dataset = make_dataset(make_city(args.edges, args.centers, args.compounds, seed=3))
        built = build_dataset(city, BuildParams(method="network"))
        print(f"city: {len(built['roads'])} roads, {len(built['centers'])} centres, {len(built['compounds'])} compounds; "
              f"built in {time.perf_counter() - t:.1f} s", flush=True)
        base = Path(tmp) / "city.gpkg"
        store = open_store(base)
        with store.transaction(actor="bench") as tx:
            tx.import_dataset(built)
        store.close()
        results = {}
        for label, full in (("incremental", False), ("full", True)):
            if full and args.skip_full:
                continue
            path = Path(tmp) / f"{label}.gpkg"
            shutil.copy(base, path)
            results[label] = run(path, rounds=args.rounds, full=full)
        kinds = list(results["incremental"])
        print(f"\n{'edit':26s} " + "  ".join(f"{lab + ' median/max s':>24s}" for lab in results))
        for kind in kinds:
            cells = [f"{statistics.median(results[lab][kind]):>11.3f} / {max(results[lab][kind]):<10.3f}" for lab in results]
            print(f"{kind:26s} " + "  ".join(f"{c:>24s}" for c in cells))


if __name__ == "__main__":
    main()
