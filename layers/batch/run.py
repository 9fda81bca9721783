"""A batch run: every dataset of a manifest, on a Dask cluster or in this process, and its run record.

:func:`run_batch` submits one :func:`layers.batch.task.run_dataset` task per
dataset, saves the run record ``OUTDIR/.dangjian_batch.json`` after each
(so an interrupted run resumes), and writes the province roll-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geo.files import check_output_folder, write_atomic
from layers.batch.manifest import ROLLUP_STEM, BatchEntry, is_database
from layers.batch.rollup import rollup_html, rollup_xlsx
from layers.batch.task import DEFAULT_SPLIT_EDGES, STATE_VERSION, DatasetResult, run_dataset
from layers.i18n import check_lang
from layers.reports.formats import parse_format
from layers.reports.gap_tables import parse_group_by

__all__ = ["STATE_FILE", "BatchOutcome", "load_state", "run_batch"]

#: The run record in the output folder.
STATE_FILE = ".dangjian_batch.json"


def load_state(outdir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The run record of an output folder: dataset name -> last :class:`DatasetResult` as a dict.

    A missing or unreadable record is empty (everything is rebuilt).
    """
    path = Path(outdir) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return {}
    return {str(k): v for k, v in (data.get("datasets") or {}).items() if isinstance(v, dict)}


def _save_state(outdir: Path, state: dict[str, dict[str, Any]]) -> Path:
    path = outdir / STATE_FILE
    blob = json.dumps({"version": STATE_VERSION, "datasets": state}, ensure_ascii=False, indent=1)
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
        From :func:`layers.batch.manifest.read_manifest`.
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
        from distributed import as_completed  # heavy; only with a cluster

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
