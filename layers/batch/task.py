"""One dataset of a batch run: the task a Dask worker runs, and what it reports.

:func:`run_dataset` reads the dataset, builds it (splitting a very large
district's walking pass into tiles on the same cluster), writes its
GeoPackage and gap report, and returns a :class:`DatasetResult`; it never
raises.  A dataset whose input and settings are unchanged since its last
successful run is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from geo.errors import DangjianError, DatasetNotFoundError
from geo.files import write_atomic
from geo.network import PartitionedCoverage, partitioned_walk_coverage, road_segments
from geo.plain import jsonable
from layers.batch.manifest import BatchEntry, is_database
from layers.build import build_dataset
from layers.coverage import Method
from layers.dataset import Dataset, read_dataset, write_dataset
from layers.reports.kinds import render_gap_report
from layers.store import open_store

__all__ = [
    "DEFAULT_SPLIT_EDGES",
    "STATE_VERSION",
    "DatasetResult",
    "input_hash",
    "load_dataset",
    "output_paths",
    "run_dataset",
]

#: Districts with more road segments than this have their walking pass split (``split = auto``).
DEFAULT_SPLIT_EDGES = 500_000
#: Bump when the outputs of the same inputs and settings change meaning (forces a rebuild).
STATE_VERSION = 1


@dataclass
class DatasetResult:
    """What happened to one dataset (plain values; JSON-ready via :meth:`as_dict`).

    Attributes
    ----------
    name, city, path
        From the manifest.
    status
        ``built``, ``skipped`` (unchanged since a successful run) or ``failed``.
    reason
        Why it failed (one line), else ``""``.
    detail
        The end of the traceback of an unexpected failure, else ``""``.
    output, report
        Paths of the GeoPackage and the report (``""`` when failed).
    input_hash, params_hash
        SHA-256 of the input and of the settings the outputs were made with.
    row
        The roll-up figures (see :data:`layers.batch.rollup.ROLLUP_COLUMNS`), ``{}`` when failed.
    seconds
        Wall time of the task, seconds (for a skip: of the original build).
    finished_at
        ISO time (UTC) the task ended.
    """

    name: str
    city: str
    path: str
    status: str
    reason: str = ""
    detail: str = ""
    output: str = ""
    report: str = ""
    input_hash: str = ""
    params_hash: str = ""
    row: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    finished_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetResult:
        """Back from :meth:`as_dict` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def load_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a manifest's dataset: a GeoPackage or folder, or a PostGIS schema through the store."""
    if is_database(path):
        with open_store(str(path), seed=False) as store, store.snapshot() as snap:
            return snap.export_dataset()
    return read_dataset(path)


def input_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a dataset's bytes: the file, or every file of a folder (sorted by name).

    For a PostGIS schema, the hash of its URL and the store's revision, which
    changes on every write.

    Raises
    ------
    DatasetNotFoundError
        The path does not exist.
    """
    if is_database(path):
        with open_store(str(path), seed=False) as store:
            return hashlib.sha256(f"{path}#{store.revision()}".encode()).hexdigest()
    p = Path(path)
    if not p.exists():
        msg = f"dataset `{p}` does not exist"
        raise DatasetNotFoundError(msg, field="path")
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode("utf-8") + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(partial(fh.read, 1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _params_hash(entry: BatchEntry, *, report_format: str, by: str, lang: str, split_edges: int) -> str:
    blob = json.dumps(
        {
            "v": STATE_VERSION,
            "params": asdict(entry.params),
            "split": entry.split,
            "tile_m": entry.tile_m,
            "split_edges": split_edges,
            "report": [report_format, by, lang],
        },
        sort_keys=True,
        ensure_ascii=False,
        default=jsonable,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def output_paths(outdir: str | os.PathLike[str], name: str, report_format: str) -> tuple[Path, Path]:
    """``(OUTDIR/<name>.gpkg, OUTDIR/<name>.<report format>)``."""
    out = Path(outdir)
    suffix = "csv" if report_format == "csv" else report_format
    return out / f"{name}.gpkg", out / f"{name}.{suffix}"


@contextlib.contextmanager
def _tile_executor(wanted: bool) -> Iterator[Any]:
    """A ``concurrent.futures`` executor on the Dask cluster when wanted and running inside a worker, else ``None``.

    Inside, the calling task leaves the worker's thread pool while it waits
    for its tiles (``worker_client``), so the tiles can run on its worker too.
    """
    if not wanted:
        yield None
        return
    try:  # distributed is heavy and only needed inside a Dask worker
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError):
        yield None
        return
    with worker_client() as client, warnings.catch_warnings():
        # a tile's roads are a few MB by design; Dask would warn about each
        warnings.filterwarnings("ignore", message="(Large object|Sending large graph)", category=UserWarning)
        yield client.get_executor(pure=False)


def _roll_row(built: Any, *, edges: int, tiles: int, seconds: float) -> dict[str, Any]:
    s = built.meta["summary"]
    return {
        "district": s["name"],
        "method": s["method"],
        "minutes": s["minutes"],
        "compounds": s["compounds"]["total"],
        "covered_compounds": s["compounds"]["covered"],
        "households": s["households"]["total"],
        "covered_households": s["households"]["covered"],
        "population": s["population"]["total"],
        "covered_population": s["population"]["covered"],
        "no_party_org": s["no_party_org"],
        "centers": s["centers"]["counted"],
        "road_edges": int(edges),
        "tiles": int(tiles),
        "seconds": round(float(seconds), 2),
    }


def run_dataset(
    entry: BatchEntry,
    outdir: str,
    previous: dict[str, Any] | None = None,
    *,
    report_format: str = "xlsx",
    by: str = "community",
    lang: str = "zh",
    split_edges: int = DEFAULT_SPLIT_EDGES,
    force: bool = False,
) -> DatasetResult:
    """Build one dataset, write its GeoPackage and report; never raises.

    The Dask task of :func:`run_batch`; it also runs in a plain process.
    Inside a Dask worker a split walking pass sends its tiles to the same
    cluster.

    Parameters
    ----------
    entry
        The dataset.
    outdir
        Output folder (shared by the workers).
    previous
        The dataset's record from the last run (:meth:`DatasetResult.as_dict`),
        to skip it when nothing changed.
    report_format
        ``xlsx``, ``html``, ``json`` or ``csv`` (the group table).
    by
        Rows of the report: ``subdistrict``, ``community``, ``unit`` or ``grid``.
    lang
        ``zh`` or ``en``.
    split_edges
        Split the walking pass of districts with more road segments than this
        (when the entry's ``split`` is ``None``).
    force
        Rebuild even when nothing changed.

    Returns
    -------
    DatasetResult
        ``failed`` with the reason on any error: a bad manifest row, a
        missing or unreadable dataset, bad data, or a bug (then ``detail``
        holds the end of the traceback).
    """
    t0 = time.perf_counter()
    gpkg, report_path = output_paths(outdir, entry.name, report_format)
    result = DatasetResult(name=entry.name, city=entry.city, path=entry.path, status="failed")

    def done(res: DatasetResult) -> DatasetResult:
        res.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        if res.status != "skipped":
            res.seconds = round(time.perf_counter() - t0, 2)
        return res

    if entry.error:
        result.reason = entry.error
        return done(result)
    try:
        result.params_hash = _params_hash(entry, report_format=report_format, by=by, lang=lang, split_edges=split_edges)
        result.input_hash = input_hash(entry.path)
        prev = previous or {}
        if (
            not force
            and prev.get("status") in ("built", "skipped")
            and prev.get("input_hash") == result.input_hash
            and prev.get("params_hash") == result.params_hash
            and gpkg.is_file()
            and report_path.is_file()
        ):
            result.status = "skipped"
            result.output, result.report = str(gpkg), str(report_path)
            result.row = dict(prev.get("row") or {})
            result.seconds = float(prev.get("seconds") or 0.0)
            return done(result)

        ds = load_dataset(entry.path)
        roads = ds["roads"]
        if "walkable" in roads.columns:
            roads = roads[roads["walkable"].astype(bool)]
        segments = road_segments(roads.to_crs(ds.metric_crs)) if len(roads) else None
        edges = 0 if segments is None else len(segments)
        network = entry.params.method == Method.network.value
        split = network and edges > 0 and (entry.split if entry.split is not None else edges > split_edges)
        tiles = 0
        with _tile_executor(split) as executor:
            network_pass = None
            if split:
                pass_ = partial(partitioned_walk_coverage, segments, tile_m=entry.tile_m, executor=executor)

                def network_pass(*args: Any, **kwargs: Any) -> PartitionedCoverage:
                    nonlocal tiles
                    res = pass_(*args, **kwargs)
                    tiles = res.n_tiles
                    return res

            built = build_dataset(ds, entry.params, network_pass=network_pass)
        built.meta["batch"] = {"name": entry.name, "city": entry.city, "split_tiles": tiles}
        write_dataset(built, gpkg)
        rendered = render_gap_report(built, by=by, fmt=report_format, lang=lang)
        write_atomic(report_path, rendered.content)
        result.status = "built"
        result.output, result.report = str(gpkg), str(report_path)
        result.row = _roll_row(built, edges=edges, tiles=tiles, seconds=time.perf_counter() - t0)
    except DangjianError as exc:
        result.reason = exc.message
    except Exception as exc:  # any failure is this dataset's, never the run's
        result.reason = f"{type(exc).__name__}: {exc}"
        result.detail = "".join(traceback.format_exception(exc)[-6:])
    return done(result)
