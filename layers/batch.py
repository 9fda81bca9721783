"""Many districts at once: a manifest of datasets built as Dask tasks, and a province roll-up.

A *manifest* lists datasets, one per row: a CSV with the columns ``name,path``
and optional settings, or the same in TOML.  :func:`run_batch` builds every
dataset as one task on a ``dask.distributed`` cluster (or in this process when
no client is given):

    read -> build (units, grids, cells, circles, walking coverage) -> write
    ``OUTDIR/<name>.gpkg`` -> gap report ``OUTDIR/<name>.<format>``

and writes the province roll-up ``OUTDIR/province.xlsx`` and
``OUTDIR/province.html`` (coverage by city and by district).  A dataset whose
input file and settings are unchanged since its last successful run, and
whose outputs are still there, is skipped; the run record is
``OUTDIR/.dangjian_batch.json``.  A dataset that fails is recorded with its
reason and never stops the others.

A very large district (more road segments than ``split_edges``, or
``split`` set in the manifest) has its walking pass split into spatial tiles
(:mod:`geo.partition`) that run as further tasks on the same cluster, so no
worker builds the whole network; its coverage is identical to a single
process within the walking cut-off.

Manifest columns
----------------
``name`` (required; names the output files), ``path`` (required; GeoPackage
or folder of layers, relative to the manifest), ``city`` (roll-up group),
``split`` (``auto`` | ``yes`` | ``no`` | tile side in km) and any field of
:class:`layers.build.BuildParams`: ``minutes``, ``speed_kmh``, ``method``,
``level_minutes`` (``compound=5;community=15``), ``statuses``
(``existing;planned``), ``bands`` (``5;10``), ``max_snap_m``,
``cell_size_m``, ``h3_resolution``, ``grid_parent``, ``min_households``,
``max_households``, ``min_unit_area_m2``, ``area_buffer_m``,
``unit_classes``.  Blank cells take the run's defaults.  In TOML::

    title = "某某省"            # optional, heads the roll-up
    [defaults]                  # optional, for every dataset
    minutes = 15
    [[dataset]]
    name = "康巴什区"
    path = "kangbashi.gpkg"
    city = "鄂尔多斯市"
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import html
import io
import json
import math
import os
import time
import tomllib
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from geo.errors import DangjianError, InputError, InvalidValueError, MissingColumnError
from geo.files import check_output_folder, write_atomic
from layers.build import BuildParams, build_dataset
from layers.coverage import Method, parse_method
from layers.dataset import Dataset, read_dataset
from layers.i18n import check_lang, text
from layers.report_formats import REPORT_CSS, format_value

__all__ = [
    "BatchEntry",
    "BatchOutcome",
    "DatasetResult",
    "ROLLUP_COLUMNS",
    "STATE_FILE",
    "input_hash",
    "load_state",
    "province_rollup",
    "read_manifest",
    "rollup_html",
    "rollup_xlsx",
    "run_batch",
    "run_dataset",
]

#: The run record in the output folder.
STATE_FILE = ".dangjian_batch.json"
#: Stem of the roll-up files (``province.xlsx``, ``province.html``); no dataset may take it.
ROLLUP_STEM = "province"
#: Districts with more road segments than this have their walking pass split (``split = auto``).
DEFAULT_SPLIT_EDGES = 500_000
#: Default tile side of a split walking pass, metres.
DEFAULT_TILE_M = 10_000.0
#: Bump when the outputs of the same inputs and settings change meaning (forces a rebuild).
_STATE_VERSION = 1

_PARAM_FIELDS = {f.name: f for f in fields(BuildParams)}
_TUPLE_FIELDS = {"bands": float, "statuses": str, "unit_classes": str}
_FLOAT_FIELDS = {"minutes", "speed_kmh", "max_snap_m", "cell_size_m", "min_unit_area_m2", "area_buffer_m"}
_INT_FIELDS = {"h3_resolution", "min_households", "max_households"}
_STR_FIELDS = {"method", "grid_parent"}
_ENTRY_COLUMNS = {"name", "path", "city", "split"}


# ---------------------------------------------------------------------------
# the manifest
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchEntry:
    """One dataset of a manifest.

    Attributes
    ----------
    name
        Unique name; the outputs are ``<name>.gpkg`` and ``<name>.<report format>``.
    path
        The dataset (GeoPackage or folder), absolute.
    params
        Its build parameters (the run's defaults with the row's settings on top).
    city
        City it belongs to in the roll-up (``""`` when not given).
    split
        Network method only. ``None``: split the walking pass when the
        district has more road segments than the run's ``split_edges``;
        ``True`` / ``False``: always / never.
    tile_m
        Tile side of a split walking pass, metres.
    error
        Why the row cannot run (a bad setting); such an entry is reported as
        failed without running.
    """

    name: str
    path: str
    params: BuildParams = field(default_factory=BuildParams)
    city: str = ""
    split: bool | None = None
    tile_m: float = DEFAULT_TILE_M
    error: str = ""


def _split_list(value: str) -> list[str]:
    return [p.strip() for p in value.replace("；", ";").replace("，", ";").replace(",", ";").split(";") if p.strip()]


def _param_value(name: str, value: Any) -> Any:
    """A manifest cell (text, or a TOML value) as the type of the :class:`BuildParams` field."""
    if name == "level_minutes":
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        out: dict[str, float] = {}
        for part in _split_list(str(value)):
            key, sep, minutes = part.partition("=")
            if not sep:
                msg = f"takes LEVEL=MINUTES pairs like compound=5;community=15; got {part!r}"
                raise ValueError(msg)
            out[key.strip()] = float(minutes)
        return out
    if name in _TUPLE_FIELDS:
        kind = _TUPLE_FIELDS[name]
        items = value if isinstance(value, list) else _split_list(str(value))
        return tuple(kind(v) for v in items)
    if name in _FLOAT_FIELDS:
        return float(value)
    if name in _INT_FIELDS:
        f = float(value)
        if not f.is_integer():
            msg = f"must be a whole number; got {value!r}"
            raise ValueError(msg)
        return int(f)
    if name == "method":
        return parse_method(str(value).strip()).value
    return str(value).strip()


def _parse_split(value: Any) -> tuple[bool | None, float | None]:
    """``auto`` | ``yes`` | ``no`` | tile side in km -> (split, tile metres)."""
    if isinstance(value, bool):
        return value, None
    s = str(value).strip().lower()
    if s in ("", "auto"):
        return None, None
    if s in ("yes", "true", "y", "是"):
        return True, None
    if s in ("no", "false", "n", "否"):
        return False, None
    km = float(s)
    if not (math.isfinite(km) and km > 0):
        raise ValueError(f"must be auto, yes, no or a tile side in km > 0; got {value!r}")
    return True, km * 1000.0


def _check_name(name: str, row: int) -> str:
    name = str(name).strip()
    bad = not name or name.startswith(".") or any(c in name for c in '/\\:*?"<>|\0') or name == ROLLUP_STEM
    if bad:
        msg = (
            f"manifest row {row}: `name` {name!r} cannot name output files "
            f"(no / \\ : * ? \" < > |, no leading dot, not {ROLLUP_STEM!r})"
        )
        raise InvalidValueError(msg, field="name")
    return name


def _entry(row: dict[str, Any], *, number: int, base: Path, defaults: BuildParams) -> BatchEntry:
    """One manifest row as a :class:`BatchEntry` (bad settings go to ``error``)."""
    name = _check_name(row.get("name", ""), number)
    raw_path = str(row.get("path", "") or "").strip()
    if not raw_path:
        msg = f"manifest row {number} ({name}): `path` is blank"
        raise InvalidValueError(msg, field="path")
    if is_database(raw_path):
        path: Path | str = raw_path
    else:
        path = Path(raw_path).expanduser()
        if not path.is_absolute():
            path = base / path
    city = str(row.get("city", "") or "").strip()
    overrides: dict[str, Any] = {}
    errors: list[str] = []
    split: bool | None = None
    tile_m = DEFAULT_TILE_M
    for key, value in row.items():
        if key in ("name", "path", "city") or value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            if key == "split":
                split, tile = _parse_split(value)
                tile_m = tile or tile_m
            else:
                overrides[key] = _param_value(key, value)
        except (ValueError, TypeError, DangjianError) as exc:
            reason = exc.message if isinstance(exc, DangjianError) else str(exc)
            errors.append(f"`{key}` {reason}")
    params = defaults
    if not errors:
        try:
            params = replace(defaults, **overrides).validate()
        except DangjianError as exc:
            errors.append(exc.message)
    return BatchEntry(
        name=name, path=path if isinstance(path, str) else str(path.resolve()), params=params, city=city, split=split, tile_m=tile_m,
        error="; ".join(errors),
    )


def read_manifest(path: str | os.PathLike[str], *, defaults: BuildParams | None = None) -> tuple[list[BatchEntry], str]:
    """Read a CSV or TOML manifest.

    Parameters
    ----------
    path
        ``.csv`` (UTF-8, a byte-order mark is fine; GBK is tried when UTF-8
        fails) or ``.toml``.
    defaults
        Build parameters for settings a row leaves blank (default: the
        walking network method, 15 minutes at 4 km/h).

    Returns
    -------
    (entries, title)
        The datasets in manifest order, and the roll-up title (TOML
        ``title``; ``""`` otherwise).

    Raises
    ------
    DatasetNotFoundError
        The manifest does not exist.
    MissingColumnError
        No ``name`` or ``path`` column.
    InvalidValueError
        An unknown column, a blank or unusable name, a repeated name, or no rows.
        Bad *settings* in a row do not raise: the row's entry carries them in
        ``error`` and is reported as failed.
    """
    from geo.errors import DatasetNotFoundError

    p = Path(path)
    if not p.is_file():
        msg = f"manifest `{p}` does not exist"
        raise DatasetNotFoundError(msg, field="manifest")
    defaults = defaults or BuildParams(method=Method.network.value)
    title = ""
    if p.suffix.lower() == ".toml":
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            msg = f"manifest `{p.name}` is not valid TOML: {exc}"
            raise InputError(msg, field="manifest") from exc
        title = str(doc.get("title", "") or "")
        base_row = {str(k): v for k, v in (doc.get("defaults") or {}).items()}
        rows = [{**base_row, **{str(k): v for k, v in r.items()}} for r in doc.get("dataset", doc.get("datasets", []))]
        columns = set().union(*(r.keys() for r in rows)) if rows else set()
    else:
        raw = p.read_bytes()
        try:
            content = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            content = raw.decode("gbk", errors="replace")
        reader = csv.DictReader(io.StringIO(content))
        columns = {str(c).strip() for c in (reader.fieldnames or []) if c is not None}
        rows = [
            {str(k).strip(): v for k, v in r.items() if k is not None}
            for r in reader
            if any((v or "").strip() for v in r.values() if isinstance(v, str))
        ]
    for required in ("name", "path"):
        if required not in columns:
            msg = f"manifest `{p.name}` has no `{required}` column (columns: {', '.join(sorted(columns)) or 'none'})"
            raise MissingColumnError(msg, field=required)
    unknown = sorted(columns - _ENTRY_COLUMNS - set(_PARAM_FIELDS))
    if unknown:
        known = ", ".join(["city", "split", *sorted(_PARAM_FIELDS)])
        msg = f"manifest `{p.name}` has unknown columns {', '.join(unknown)} (known: name, path, {known})"
        raise InvalidValueError(msg, field=unknown[0])
    if not rows:
        msg = f"manifest `{p.name}` lists no datasets"
        raise InvalidValueError(msg, field="manifest")
    entries = [_entry(r, number=i + 1, base=p.parent.resolve(), defaults=defaults) for i, r in enumerate(rows)]
    seen: dict[str, int] = {}
    for i, e in enumerate(entries, start=1):
        if e.name in seen:
            msg = f"manifest `{p.name}`: name {e.name!r} appears on rows {seen[e.name]} and {i}; names must be unique"
            raise InvalidValueError(msg, field="name")
        seen[e.name] = i
    return entries, title


# ---------------------------------------------------------------------------
# one dataset: a task that runs on a worker
# ---------------------------------------------------------------------------


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
        The roll-up figures (see :data:`ROLLUP_COLUMNS`), ``{}`` when failed.
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


def is_database(path: str | os.PathLike[str]) -> bool:
    """Whether a manifest path names a PostGIS schema (``postgresql://...?schema=NAME``)."""
    return str(path).startswith(("postgresql://", "postgres://"))


def load_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a manifest's dataset: a GeoPackage or folder, or a PostGIS schema through the store."""
    if is_database(path):
        from layers.store import open_store

        with open_store(str(path), seed=False) as store:
            return store.export_dataset()
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
    from geo.errors import DatasetNotFoundError

    if is_database(path):
        from layers.store import open_store

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
            "v": _STATE_VERSION,
            "params": asdict(entry.params),
            "split": entry.split,
            "tile_m": entry.tile_m,
            "split_edges": split_edges,
            "report": [report_format, by, lang],
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
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
    try:
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

        from geo.partition import partitioned_walk_coverage, road_segments
        from layers.dataset import write_dataset
        from layers.report_formats import render_gap_report

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

                def network_pass(*args: Any, **kwargs: Any) -> Any:
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


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------


def load_state(outdir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The run record of an output folder: dataset name -> last :class:`DatasetResult` as a dict.

    A missing or unreadable record is empty (everything is rebuilt).
    """
    path = Path(outdir) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _STATE_VERSION:
        return {}
    return {str(k): v for k, v in (data.get("datasets") or {}).items() if isinstance(v, dict)}


def _save_state(outdir: Path, state: dict[str, dict[str, Any]]) -> Path:
    path = outdir / STATE_FILE
    blob = json.dumps({"version": _STATE_VERSION, "datasets": state}, ensure_ascii=False, indent=1)
    write_atomic(path, blob)
    return path


@dataclass
class BatchOutcome:
    """The end of a run: every dataset's result, in manifest order, and the files written."""

    results: list[DatasetResult]
    rollup_xlsx: Path
    rollup_html: Path
    state: Path
    seconds: float

    def count(self, status: str) -> int:
        """Number of datasets with this status (``built``, ``skipped``, ``failed``)."""
        return sum(r.status == status for r in self.results)


def _lost_task(entry: BatchEntry, exc: BaseException) -> DatasetResult:
    """The result of a task the cluster lost (a worker died, the task was cancelled)."""
    return DatasetResult(
        name=entry.name, city=entry.city, path=entry.path, status="failed",
        reason=f"{type(exc).__name__}: {exc}", finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _size(path: str) -> int:
    if is_database(path):
        return 0
    try:
        p = Path(path)
        return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    except OSError:
        return 0


def run_batch(
    entries: Sequence[BatchEntry],
    outdir: str | os.PathLike[str],
    *,
    client: Any | None = None,
    title: str = "",
    report_format: str = "xlsx",
    by: str = "community",
    lang: str = "zh",
    split_edges: int = DEFAULT_SPLIT_EDGES,
    force: bool = False,
    on_result: Callable[[DatasetResult], None] | None = None,
) -> BatchOutcome:
    """Build every dataset of a manifest and write the province roll-up.

    Parameters
    ----------
    entries
        From :func:`read_manifest`.
    outdir
        Output folder; the workers must see it at the same path.
    client
        A ``dask.distributed.Client``: every dataset is one task, submitted
        largest input first, gathered with ``as_completed``.  ``None``: one
        after another in this process.
    title
        Heads the roll-up (e.g. the province's name).
    report_format, by, lang
        Per-dataset report: format (``xlsx``, ``html``, ``json``, ``csv``),
        grouping and language.
    split_edges
        Split the walking pass of districts with more road segments than this.
    force
        Rebuild even what is unchanged.
    on_result
        Called with each :class:`DatasetResult` as it arrives (progress).

    Returns
    -------
    BatchOutcome
        The run record is saved after every dataset, so an interrupted run
        resumes where it stopped.
    """
    t0 = time.perf_counter()
    lang = check_lang(lang)
    from layers.report_formats import parse_format
    from layers.reports import parse_group_by

    report_format = parse_format(report_format).value
    by = parse_group_by(by).value
    out = Path(outdir).resolve()
    if not out.is_dir():  # the output folder is made, never a missing folder above it
        check_output_folder(out).mkdir(exist_ok=True)
    state = load_state(out)
    results: dict[str, DatasetResult] = {}
    kwargs = {"report_format": report_format, "by": by, "lang": lang, "split_edges": split_edges, "force": force}

    def record(res: DatasetResult) -> None:
        results[res.name] = res
        state[res.name] = res.as_dict()
        _save_state(out, state)
        if on_result is not None:
            on_result(res)

    order = sorted(entries, key=lambda e: -_size(e.path))
    if client is None:
        for e in order:
            record(run_dataset(e, str(out), state.get(e.name), **kwargs))
    else:
        from distributed import as_completed

        futures = {}
        for rank, e in enumerate(order):
            fut = client.submit(
                run_dataset, e, str(out), state.get(e.name), **kwargs,
                key=f"dangjian-batch-{hashlib.sha1(e.name.encode()).hexdigest()[:10]}-{time.time_ns()}",
                pure=False, priority=len(order) - rank,
            )
            futures[fut.key] = (fut, e)
        for fut in as_completed([f for f, _ in futures.values()]):
            entry = futures[fut.key][1]
            try:
                res = fut.result()
            except Exception as exc:  # the worker died or the task was lost
                res = _lost_task(entry, exc)
            record(res)
    ordered = [results[e.name] for e in entries]
    xlsx_path, html_path = out / f"{ROLLUP_STEM}.xlsx", out / f"{ROLLUP_STEM}.html"
    write_atomic(xlsx_path, rollup_xlsx(ordered, lang=lang, title=title))
    write_atomic(html_path, rollup_html(ordered, lang=lang, title=title))
    return BatchOutcome(ordered, xlsx_path, html_path, out / STATE_FILE, time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# the province roll-up
# ---------------------------------------------------------------------------

#: Columns of the per-district roll-up, in order.
ROLLUP_COLUMNS: tuple[str, ...] = (
    "city",
    "name",
    "district",
    "status",
    "compounds",
    "covered_compounds",
    "uncovered_compounds",
    "compound_share",
    "households",
    "covered_households",
    "uncovered_households",
    "household_share",
    "population",
    "covered_population",
    "no_party_org",
    "centers",
    "road_edges",
    "tiles",
    "seconds",
    "reason",
)
_SUMS = (
    "compounds", "covered_compounds", "households", "covered_households", "population",
    "covered_population", "no_party_org", "centers", "road_edges",
)
_KIND = {
    "city": "text", "name": "text", "district": "text", "status": "text", "reason": "text", "path": "text",
    "compound_share": "share", "household_share": "share", "seconds": "float2",
}


def _shares(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["uncovered_compounds"] = frame["compounds"] - frame["covered_compounds"]
    frame["uncovered_households"] = frame["households"] - frame["covered_households"]
    for share, num, den in (
        ("compound_share", "covered_compounds", "compounds"),
        ("household_share", "covered_households", "households"),
    ):
        d = frame[den].astype(float)
        frame[share] = (frame[num].astype(float) / d.where(d > 0)).round(4)
    return frame


def province_rollup(results: Sequence[DatasetResult]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Coverage by district, by city and for the province.

    Parameters
    ----------
    results
        One per dataset (built, skipped or failed).

    Returns
    -------
    (districts, cities, total)
        ``districts``: one row per dataset with :data:`ROLLUP_COLUMNS`
        (counts are ``NaN`` for failed datasets), sorted by city then name.
        ``cities``: per city the sums of the built and skipped districts,
        the shares recomputed from the sums, ``districts`` and ``failed``.
        ``total``: the same over the province.  Households and compounds are
        integers summed from each district's compounds layer; shares 0-1.
    """
    recs = []
    for r in results:
        rec: dict[str, Any] = {"city": r.city, "name": r.name, "status": r.status, "reason": r.reason}
        rec.update({k: v for k, v in r.row.items() if k in ROLLUP_COLUMNS})
        rec.setdefault("district", r.name)
        recs.append(rec)
    districts = pd.DataFrame(recs)
    for col in ROLLUP_COLUMNS:
        if col not in districts.columns:
            districts[col] = pd.NA if col not in ("city", "name", "district", "status", "reason") else ""
    for col in (*_SUMS, "tiles", "seconds"):
        districts[col] = pd.to_numeric(districts[col], errors="coerce")
    districts = _shares(districts)
    districts = districts.sort_values(["city", "name"], kind="stable").reset_index(drop=True)[list(ROLLUP_COLUMNS)]
    good = districts[districts["status"] != "failed"]
    sums = good.groupby("city", sort=True)[list(_SUMS)].sum().astype("int64")
    counts = districts.groupby("city", sort=True).agg(
        districts=("name", "size"), failed=("status", lambda s: int((s == "failed").sum()))
    )
    cities = counts.join(sums, how="left").fillna(0)
    cities[list(_SUMS)] = cities[list(_SUMS)].astype("int64")
    cities = _shares(cities.reset_index())
    total_sums = {k: int(good[k].sum()) for k in _SUMS}
    total = _shares(pd.DataFrame([total_sums])).iloc[0].to_dict()
    total.update({"districts": len(districts), "failed": int((districts["status"] == "failed").sum())})
    return districts, cities, total


def _rollup_tables(results: Sequence[DatasetResult], lang: str) -> dict[str, tuple[list[str], list[str], list[list[Any]]]]:
    """The roll-up as tables: key -> (kinds, headings, rows); totals last in the city table."""
    districts, cities, total = province_rollup(results)
    no_city = text("batch.no_city", lang)

    def heading(col: str) -> str:
        if col in ("city", "district", "districts", "failed", "status", "reason", "centers", "road_edges", "tiles", "seconds", "path"):
            return text(f"batch.col.{col}", lang)
        if col == "name":
            return text("batch.col.dataset", lang)
        return text(f"col.{col}", lang)

    def val(v: Any, kind: str) -> Any:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        if kind == "text":
            return str(v)
        if kind in ("share", "float2"):
            return float(v)
        return int(v)

    city_cols = [
        "city", "districts", "failed", "compounds", "covered_compounds", "uncovered_compounds", "compound_share",
        "households", "covered_households", "uncovered_households", "household_share", "population",
        "covered_population", "no_party_org", "centers", "road_edges",
    ]
    kinds_c = [_KIND.get(c, "int") for c in city_cols]
    rows_c = []
    for rec in cities.to_dict("records"):
        rec["city"] = rec["city"] or no_city
        rows_c.append([val(rec.get(c), k) for c, k in zip(city_cols, kinds_c, strict=True)])
    tot = dict(total, city=text("batch.total", lang))
    rows_c.append([val(tot.get(c), k) for c, k in zip(city_cols, kinds_c, strict=True)])

    dist_cols = [c for c in ROLLUP_COLUMNS if c != "reason"]
    kinds_d = [_KIND.get(c, "int") for c in dist_cols]
    rows_d = []
    for rec in districts.to_dict("records"):
        rec["city"] = rec["city"] or no_city
        rec["status"] = text(f"batch.status.{rec['status']}", lang)
        rows_d.append([val(rec.get(c), k) for c, k in zip(dist_cols, kinds_d, strict=True)])

    fail_cols = ["city", "name", "path", "reason"]
    rows_f = [[r.city or no_city, r.name, r.path, r.reason] for r in results if r.status == "failed"]
    return {
        "cities": (kinds_c, [heading(c) for c in city_cols], rows_c),
        "districts": (kinds_d, [heading(c) for c in dist_cols], rows_d),
        "failures": (["text"] * 4, [heading(c) for c in fail_cols], rows_f),
    }


def _title(title: str, lang: str) -> str:
    return text("batch.title", lang, title=title or text("batch.default_title", lang))


def rollup_xlsx(results: Sequence[DatasetResult], *, lang: str = "zh", title: str = "") -> bytes:
    """The province roll-up as an Excel workbook: sheets by city (province total last), by district, failures.

    Counts use ``#,##0``, shares ``0.0%``; failed datasets are listed but not summed.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    lang = check_lang(lang)
    formats = {"int": "#,##0", "share": "0.0%", "float2": "#,##0.0"}
    head_font, head_fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="B22222")
    total_font, total_fill = Font(bold=True), PatternFill("solid", fgColor="FCE4D6")
    wb = Workbook()
    wb.remove(wb.active)
    tables = _rollup_tables(results, lang)
    for key in ("cities", "districts", "failures"):
        kinds, headings, rows = tables[key]
        ws = wb.create_sheet(text(f"batch.sheet.{key}", lang)[:31])
        ws.append(headings)
        for cell in ws[1]:
            cell.font, cell.fill = head_font, head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        for row in rows:
            ws.append(row)
        for j, kind in enumerate(kinds, start=1):
            letter = get_column_letter(j)
            width = max([len(str(headings[j - 1])) * 2, *(len(str(r[j - 1] or "")) * 2 for r in rows[:200])], default=10)
            ws.column_dimensions[letter].width = min(max(width, 10), 48)
            if kind in formats:
                for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                    cell.number_format = formats[kind]
        if key == "cities" and rows:
            for cell in ws[len(rows) + 1]:
                cell.font, cell.fill = total_font, total_fill
        ws.freeze_panes = "B2"
        if rows:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(headings))}{len(rows) + 1 - (1 if key == 'cities' else 0)}"
    buf = io.BytesIO()
    wb.properties.title = _title(title, lang)
    wb.save(buf)
    return buf.getvalue()


#: The report's style, plus greyed rows for failed districts.
_CSS = REPORT_CSS + "tr.failed td{color:#999}\n"


def _html_table(kinds: list[str], headings: list[str], rows: list[list[Any]], *, total_last: bool = False, failed: Sequence[bool] = ()) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headings)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="total"' if total_last and i == len(rows) - 1 else (' class="failed"' if i < len(failed) and failed[i] else "")
        cells = "".join(
            f'<td{" class=" + chr(34) + "n" + chr(34) if k != "text" else ""}>{e(format_value(v, k))}</td>'
            for v, k in zip(row, kinds, strict=True)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def rollup_html(results: Sequence[DatasetResult], *, lang: str = "zh", title: str = "") -> str:
    """The province roll-up as one self-contained HTML page (inline CSS; every name escaped)."""
    lang = check_lang(lang)
    e = html.escape
    districts, _, total = province_rollup(results)
    tables = _rollup_tables(results, lang)
    heading = _title(title, lang)
    methods = sorted({str(r.row.get("method")) for r in results if r.row.get("method")})
    minutes = sorted({float(r.row["minutes"]) for r in results if r.row.get("minutes") is not None})
    generated = text(
        "batch.generated", lang, generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        districts=total["districts"], failed=total["failed"],
    )
    params = text(
        "batch.params", lang, minutes="/".join(f"{m:g}" for m in minutes) or "-",
        method="/".join(text(f"method.{m}", lang) for m in methods) or "-",
    )
    cards = [
        (text("col.household_share", lang), format_value(total["household_share"], "share")),
        (text("col.compound_share", lang), format_value(total["compound_share"], "share")),
        (text("col.uncovered_households", lang), format_value(total["uncovered_households"], "int")),
        (text("batch.col.districts", lang), format_value(total["districts"], "int")),
        (text("batch.col.failed", lang), format_value(total["failed"], "int")),
    ]
    failed_rows = (districts["status"] == "failed").tolist()
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{e(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(heading)}</h1>",
        f'<p class="meta">{e(params)}</p><p class="meta">{e(generated)}</p>',
        '<div class="cards">' + "".join(f'<div class="card">{e(k)}<b>{e(v)}</b></div>' for k, v in cards) + "</div>",
        f"<h2>{e(text('batch.section.cities', lang))}</h2>",
        '<div id="cities">' + _html_table(*tables["cities"], total_last=True) + "</div>",
        f"<h2>{e(text('batch.section.districts', lang))}</h2>",
        '<div id="districts">' + _html_table(*tables["districts"], failed=failed_rows) + "</div>",
        f"<h2>{e(text('batch.section.failures', lang))}</h2>",
    ]
    if tables["failures"][2]:
        parts.append('<div id="failures">' + _html_table(*tables["failures"]) + "</div>")
    else:
        parts.append(f'<p class="meta">{e(text("batch.none_failed", lang))}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
