"""``dangjian build`` before and after issue 12 (one dataset = one store), measured in one run.

BEFORE (the old command): ``read_dataset(src)``, ``build_dataset``, then
``write_dataset`` of every layer (roads included) into a new
``DATASET.built.gpkg``.  AFTER: the source is imported into a GeoPackage store
once (not timed); ``build_in_store(store, params, actor="bench")`` reads the
inputs from a snapshot, builds, and writes only the derived layers,
``compounds``, ``centers`` and the meta in one transaction — on an unbuilt
store (first build) and on an already built one (rebuild).  The parts: the
snapshot read, ``build_dataset`` and the write transaction are timed inside
those runs (wrapped functions), and the write alone is timed again with a
derive that returns a precomputed result (``write only``).

Every run is a fresh child process (its peak resident set is
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, imports included); the
repetitions are interleaved (before, first build, rebuild, ...) so a change in
the machine's load hits all of them; medians are printed.

    python -m bench.bench_build_store                # 100k edges, network: 2 builds of each, ~7 min on 2 cores
    python -m bench.bench_build_store --repeat 3     # ~10 min (the README's figures)
    python -m bench.bench_build_store --method circle --repeat 5
    python -m bench.bench_build_store --edges 30000 --repeat 1
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_network import SIZES, city_path

#: The layers a build replaces (layers.schema.DERIVED_LAYERS).
DERIVED = ("units", "grids", "cells", "circles", "service_areas")


# ---------------------------------------------------------------------------
# the city and the child processes
# ---------------------------------------------------------------------------


def child(mode: str, **kwargs: Any) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON answer (the last line of its output)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_build_store", "--child", mode, "--args", json.dumps(kwargs)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def copy_store(src: Path, dst: Path) -> Path:
    """Copy a closed GeoPackage store (its write-ahead log is empty once closed)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(src, dst)
    if Path(f"{src}-wal").exists() and Path(f"{src}-wal").stat().st_size:
        shutil.copyfile(f"{src}-wal", f"{dst}-wal")
    return dst


def remove_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# inside a child: timers wrapped around the functions a build calls
# ---------------------------------------------------------------------------


class Timers:
    """Wall seconds accumulated per key by wrapped functions (the wrapping costs microseconds)."""

    def __init__(self) -> None:
        self.s: dict[str, float] = defaultdict(float)
        self.rows: dict[str, int] = {}
        self.layer = ""

    def wrap(self, owner: Any, attr: str, key: str | Callable[..., str]) -> None:
        """Time every call of ``owner.attr`` under ``key`` (or ``key(args, kwargs)``)."""
        orig = getattr(owner, attr)
        timers = self

        @functools.wraps(orig)
        def timed(*args: Any, **kwargs: Any) -> Any:
            k = key(args, kwargs) if callable(key) else key
            t = time.perf_counter()
            try:
                return orig(*args, **kwargs)
            finally:
                timers.s[k] += time.perf_counter() - t

        setattr(owner, attr, timed)

    def sub(self, part: str) -> Callable[..., str]:
        """A key naming ``part`` of the layer being written."""
        return lambda _a, _k: f"{self.layer}.{part}"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _instrument_store(timers: Timers) -> None:
    """Time the snapshot read, each layer's write and its parts, the meta and the commit's checkpoint."""
    import layers.rebuild as rebuild
    import layers.store.layer_writes as layer_writes
    from layers.store import Snapshot, Transaction
    from layers.store.gpkg import GeoPackageStore
    from layers.store.gpkg_session import GpkgSession

    timers.wrap(Snapshot, "export_dataset", "read: snapshot export_dataset")
    timers.wrap(GpkgSession, "read_layer", lambda a, k: f"read.{a[1]}")
    timers.wrap(rebuild, "prepared_inputs", "read: prepared_inputs (checks, ids)")

    orig_write = Transaction.write_layer

    @functools.wraps(orig_write)
    def write_layer(tx: Any, name: str, frame: Any, *args: Any, **kwargs: Any) -> Any:
        timers.layer, timers.rows[name] = name, len(frame)
        t = time.perf_counter()
        try:
            return orig_write(tx, name, frame, *args, **kwargs)
        finally:
            timers.s[f"write.{name}"] += time.perf_counter() - t

    Transaction.write_layer = write_layer  # type: ignore[method-assign]
    timers.wrap(layer_writes, "storage_frame", timers.sub("storage_frame"))
    timers.wrap(Transaction, "_version_layer", timers.sub("versions"))
    timers.wrap(GpkgSession, "replace_layer", timers.sub("replace_layer"))
    timers.wrap(GpkgSession, "_copy_layer_from", timers.sub("copy_into_store"))
    timers.wrap(GpkgSession, "drop_layer", timers.sub("drop_old"))
    timers.wrap(Transaction, "set_meta", "write: set_meta")
    timers.wrap(GeoPackageStore, "_after_commit", "write: WAL checkpoint after commit")


def run_before(src: str, out: str, method: str) -> dict[str, Any]:
    """(a) the old ``dangjian build``: read the source, build, rewrite every layer into ``out``."""
    import pyogrio

    import layers.dataset as dataset_mod
    from layers.build import BuildParams, build_dataset
    from layers.dataset import read_dataset, write_dataset

    timers = Timers()
    timers.wrap(pyogrio, "write_dataframe", lambda a, k: f"write.{k.get('layer', '?')}")
    timers.wrap(dataset_mod, "_read", lambda a, k: f"read.{a[0][1] or a[0][0].stem}")
    rss0 = _peak_mb()
    params = BuildParams(method=method)
    t0 = time.perf_counter()
    ds = read_dataset(src)
    t1 = time.perf_counter()
    built = build_dataset(ds, params)
    t2 = time.perf_counter()
    write_dataset(built, out)
    t3 = time.perf_counter()
    rows = {n: len(f) for n, f in built.layers.items()}
    return {
        "total": t3 - t0,
        "read": t1 - t0,
        "build": t2 - t1,
        "write": t3 - t2,
        "parts": dict(timers.s),
        "rows": rows,
        "peak_mb": _peak_mb(),
        "start_mb": rss0,
        "file_mb": os.path.getsize(out) / 2**20,
        "summary": built.meta.get("summary"),
    }


def run_after(store_path: str, method: str, dump: str | None = None, precomputed: str | None = None) -> dict[str, Any]:
    """(b) ``build_in_store`` on ``store_path``; with ``precomputed``, a derive returning that pickled result (write only)."""
    import pickle

    from layers.build import BuildParams
    from layers.rebuild import build_in_store, full_build
    from layers.store import open_store

    timers = Timers()
    _instrument_store(timers)
    ready = None
    if precomputed:
        with open(precomputed, "rb") as fh:
            ready = pickle.load(fh)
    rss0 = _peak_mb()
    marks: dict[str, float] = {}

    def derive(dataset: Any, params: Any, progress: Any) -> Any:
        marks["derive_start"] = time.perf_counter()
        result = ready if ready is not None else full_build(dataset, params, progress)
        marks["derive_end"] = time.perf_counter()
        return result

    store = open_store(store_path)
    try:
        t0 = time.perf_counter()
        done = build_in_store(store, BuildParams(method=method), actor="bench", derive=derive)
        t1 = time.perf_counter()
    finally:
        store.close()
    peak = _peak_mb()
    if dump:
        with open(dump, "wb") as fh:
            pickle.dump(done.dataset, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "total": t1 - t0,
        "read": marks["derive_start"] - t0,
        "build": marks["derive_end"] - marks["derive_start"],
        "write": t1 - marks["derive_end"],
        "parts": dict(timers.s),
        "rows": timers.rows,
        "attempts": done.attempts,
        "revision": done.revision,
        "peak_mb": peak,
        "start_mb": rss0,
        "file_mb": os.path.getsize(store_path) / 2**20,
        "summary": done.dataset.meta.get("summary"),
    }


def run_prepare(src: str, store_path: str) -> dict[str, Any]:
    """The one import of the source into a new store (``read_dataset`` + ``import_dataset``, as a folder is imported)."""
    from layers.dataset import read_dataset
    from layers.store import open_store

    t0 = time.perf_counter()
    ds = read_dataset(src)
    with open_store(store_path) as store, store.transaction(actor="bench") as tx:
        tx.import_dataset(ds)
    return {
        "total": time.perf_counter() - t0,
        "file_mb": os.path.getsize(store_path) / 2**20,
        "rows": {n: len(f) for n, f in ds.layers.items()},
    }


def child_main(mode: str, args: dict[str, Any]) -> None:
    fn = {"before": run_before, "after": run_after, "prepare": run_prepare}[mode]
    print(json.dumps(fn(**args), default=str))


# ---------------------------------------------------------------------------
# the parent: repetitions and the table
# ---------------------------------------------------------------------------


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def med_part(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r["parts"].get(key, 0.0) for r in runs)


def layer_write_table(runs: list[dict[str, Any]], *, store: bool) -> list[tuple[str, int, float, str]]:
    """Per layer: rows, median write seconds, and for the store its parts."""
    names = sorted(
        {k.split(".", 1)[1] for r in runs for k in r["parts"] if k.startswith("write.")},
        key=lambda n: -med_part(runs, f"write.{n}"),
    )
    rows = []
    for name in names:
        detail = ""
        if store:
            frame = med_part(runs, f"{name}.storage_frame")
            replace = med_part(runs, f"{name}.replace_layer")
            copy = med_part(runs, f"{name}.copy_into_store")
            drop = med_part(runs, f"{name}.drop_old")
            versions = med_part(runs, f"{name}.versions")
            detail = (
                f"storage_frame {frame:.2f}, GDAL scratch {replace - copy:.2f}, copy in {copy - drop:.2f}"
                + (f" (drop old {drop:.2f})" if drop > 0.005 else "")
                + (f", versions {versions:.2f}" if versions else "")
            )
        n_rows = next((r["rows"].get(name, 0) for r in runs if name in r["rows"]), 0)
        rows.append((name, n_rows, med_part(runs, f"write.{name}"), detail))
    return rows


def report(res: dict[str, list[dict[str, Any]]], args: argparse.Namespace, prep: dict[str, Any]) -> None:
    before = res["before"]
    base = med(before, "total")
    print()
    print(
        f"dangjian build, {args.edges:,} edges target ({prep['rows'].get('roads', 0):,} roads), --method {args.method}, "
        f"median of {args.repeat} ((c): {args.write_repeat}; each a fresh process); import into the store once: {prep['total']:.1f} s, "
        f"{prep['file_mb']:.0f} MB"
    )
    print()
    print(
        f"| {'':<48} | {'total s':>8} | {'vs (a)':>7} | {'read s':>7} | {'build s':>8} | {'write s':>8} | {'peak MB':>8} | {'file MB':>8} |"
    )
    print(f"| {'-' * 48} | {'-' * 7}: | {'-' * 6}: | {'-' * 6}: | {'-' * 7}: | {'-' * 7}: | {'-' * 7}: | {'-' * 7}: |")
    labels = {
        "before": "(a) before: read_dataset + build + write_dataset",
        "first": "(b) build_in_store, first build",
        "rebuild": "(b) build_in_store, rebuild of a built store",
        "write_first": "(c) write only, unbuilt store (precomputed)",
        "write_rebuild": "(c) write only, built store (precomputed)",
    }
    for key, label in labels.items():
        runs = res.get(key)
        if not runs:
            continue
        build = "-" if key.startswith("write_") else f"{med(runs, 'build'):.2f}"
        print(
            f"| {label:<48} | {med(runs, 'total'):8.2f} | {med(runs, 'total') / base:6.2f}x | {med(runs, 'read'):7.2f} | "
            f"{build:>8} | {med(runs, 'write'):8.2f} | {med(runs, 'peak_mb'):8.0f} | {med(runs, 'file_mb'):8.1f} |"
        )
    print()
    print(
        f"read and write around the build (total - build): before {base - med(before, 'build'):.2f} s; "
        + "; ".join(
            f"{k} {med(res[k], 'total') - med(res[k], 'build'):.2f} s" for k in ("first", "rebuild") if res.get(k)
        )
    )
    print(f"process start (imports) resident: {med(before, 'start_mb'):.0f} MB")
    for key in ("first", "rebuild", "write_first"):
        runs = res.get(key)
        if not runs:
            continue
        print()
        print(
            f"{labels[key]}: where the read ({med(runs, 'read'):.2f} s) and the write ({med(runs, 'write'):.2f} s) go"
        )
        print(
            f"  snapshot export_dataset {med_part(runs, 'read: snapshot export_dataset'):.2f} s "
            f"(roads {med_part(runs, 'read.roads'):.2f}, compounds {med_part(runs, 'read.compounds'):.2f}), "
            f"prepared_inputs {med_part(runs, 'read: prepared_inputs (checks, ids)'):.2f} s"
        )
        derived = [k for k in runs[0]["parts"] if k.startswith("read.") and k[5:] in DERIVED]
        if derived:
            print(
                f"  of the export, the old derived layers the build replaces: "
                f"{sum(med_part(runs, k) for k in derived):.2f} s ({', '.join(k[5:] for k in derived)})"
            )
        layer_sum = 0.0
        for name, n, s, detail in layer_write_table(runs, store=True):
            layer_sum += s
            print(f"  write_layer {name:<14} {n:>7,} rows {s:6.2f} s  ({detail})")
        meta = med_part(runs, "write: set_meta")
        ckpt = med_part(runs, "write: WAL checkpoint after commit")
        rest = med(runs, "write") - layer_sum - meta - ckpt
        print(f"  set_meta {meta:.2f} s, WAL checkpoint {ckpt:.2f} s, COMMIT and the rest {rest:.2f} s")
    print()
    print(f"(a) before: where the read ({med(before, 'read'):.2f} s) and the write ({med(before, 'write'):.2f} s) go")
    reads = sorted((k for k in before[0]["parts"] if k.startswith("read.")), key=lambda k: -med_part(before, k))
    print(
        "  pyogrio reads: "
        + ", ".join(f"{k[5:]} {med_part(before, k):.2f}" for k in reads)
        + f" (the rest of read_dataset: checks, reprojection {med(before, 'read') - sum(med_part(before, k) for k in reads):.2f})"
    )
    for name, n, s, _ in layer_write_table(before, store=False):
        print(
            f"  pyogrio.write_dataframe {name:<14} "
            + (f"{n:>7,} rows" if name != "meta" else " " * 12)
            + f" {s:6.2f} s"
        )
    sums = [
        json.dumps(r.get("summary"), sort_keys=True, default=str)
        for k in ("before", "first", "rebuild")
        for r in res.get(k, [])
    ]
    if len(set(sums)) > 1:
        print("\nNOTE: the build summaries differ between runs/variants (see --keep for the files)")
    else:
        print("\nbuild summaries identical in every run (before, first build, rebuild)")
    attempts = sorted({r.get("attempts") for k in ("first", "rebuild") for r in res.get(k, [])})
    print(f"build_in_store attempts: {attempts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="100k", help="city size (the cities of bench_network)")
    parser.add_argument("--method", choices=("circle", "network"), default="network")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each whole build (a, b first, b rebuild)")
    parser.add_argument("--write-repeat", type=int, default=3, help="runs of each write-only measurement (c)")
    parser.add_argument("--no-write-only", action="store_true", help="skip the (c) write-only runs")
    parser.add_argument("--keep", type=Path, default=None, help="keep the files in this folder")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--args", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, json.loads(args.args))
        return
    args.edges = SIZES[args.size][0]
    src = city_path(args.size)
    started = time.perf_counter()
    res: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench-build-store-") as tmp_name:
        tmp = args.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        imported, built, result = tmp / "imported.gpkg", tmp / "built.gpkg", tmp / "result.pickle"
        remove_store(imported)
        prep = child("prepare", src=str(src), store_path=str(imported))
        print(f"imported {src.name} into a store in {prep['total']:.1f} s", flush=True)
        for rep in range(args.repeat):
            out = tmp / "city.built.gpkg"
            remove_store(out)
            res["before"].append(child("before", src=str(src), out=str(out), method=args.method))
            work = copy_store(imported, tmp / "work.gpkg")
            res["first"].append(
                child("after", store_path=str(work), method=args.method, dump=str(result) if rep == 0 else None)
            )
            if rep == 0:
                copy_store(work, built)
            res["rebuild"].append(child("after", store_path=str(work), method=args.method))
            line = ", ".join(f"{k} {res[k][-1]['total']:.1f} s" for k in ("before", "first", "rebuild"))
            print(f"round {rep + 1}/{args.repeat}: {line}", flush=True)
        if not args.no_write_only:
            for _ in range(args.write_repeat):
                work = copy_store(imported, tmp / "work.gpkg")
                res["write_first"].append(
                    child("after", store_path=str(work), method=args.method, precomputed=str(result))
                )
                work = copy_store(built, tmp / "work.gpkg")
                res["write_rebuild"].append(
                    child("after", store_path=str(work), method=args.method, precomputed=str(result))
                )
        if not args.keep:
            for p in (imported, built, tmp / "work.gpkg", tmp / "city.built.gpkg"):
                remove_store(p)
    report(res, args, prep)
    print(f"\nwhole benchmark: {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
