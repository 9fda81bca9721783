"""``dangjian batch``: every district of a manifest on a Dask cluster, and the province roll-up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn

from api.cli_errors import friendly_errors
from api.commands.console import out, progress_bar
from api.commands.options import level_minutes_option
from api.settings import Settings
from geo.errors import InvalidValueError
from layers.batch.manifest import read_manifest
from layers.batch.run import run_batch
from layers.batch.task import DEFAULT_SPLIT_EDGES, DatasetResult
from layers.i18n import check_lang, text
from layers.reports.formats import parse_format


@contextmanager
def dask_client(*, scheduler: str | None = None, workers: int | None = None, memory_limit: str = "auto") -> Iterator[Any]:
    """A ``dask.distributed.Client``: on an existing scheduler, else on a new local cluster.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``); its workers must
        have dangjian-map installed and see the manifest's paths and the
        output folder at the same paths.
    workers
        Local cluster only: number of worker processes, one thread each
        (default: the number of CPUs, at most 4).
    memory_limit
        Local cluster only: memory per worker (``"4GB"``, ``"auto"``).
    """
    from distributed import Client, LocalCluster  # heavy (about a second); only when a batch runs

    if scheduler and workers:
        msg = "give either `--scheduler` (an existing cluster) or `--workers` (a local one), not both"
        raise InvalidValueError(msg, field="scheduler")
    if workers is not None and workers < 1:
        msg = f"`--workers` must be at least 1; got {workers}"
        raise InvalidValueError(msg, field="workers")
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            msg = f"cannot reach the Dask scheduler at {scheduler}: {exc}"
            raise InvalidValueError(msg, field="scheduler") from exc
        with client:
            yield client
        return
    n = workers or min(4, os.cpu_count() or 1)
    with (
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, memory_limit=memory_limit,
            dashboard_address=":0", silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@friendly_errors
def batch(
    manifest: Annotated[Path, typer.Argument(help="CSV (name,path[,city,minutes,speed_kmh,method,...]) or TOML manifest")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder: <name>.gpkg, <name>.<report>, province.xlsx/.html")],
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Existing Dask scheduler, e.g. tcp://host:8786")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes of a local Dask cluster (default: CPUs, at most 4)")] = None,
    memory_limit: Annotated[str, typer.Option("--memory-limit", help="Local cluster: memory per worker, e.g. 4GB")] = "auto",
    minutes: Annotated[float | None, typer.Option("--minutes", help="Default walking minutes (default 15)")] = None,
    speed_kmh: Annotated[float | None, typer.Option("--speed-kmh", help="Default walking speed, km/h (default 4)")] = None,
    method: Annotated[str, typer.Option("--method", help="Default method: network (default) or circle")] = "network",
    level_minutes: Annotated[str | None, typer.Option("--level-minutes", help="Default per-level minutes, e.g. compound=5,community=15")] = None,
    report_format: Annotated[str, typer.Option("--report-format", help="Per-dataset report: xlsx (default), html, json or csv")] = "xlsx",
    by: Annotated[str, typer.Option("--by", help="Report rows: subdistrict, community (default), unit or grid")] = "community",
    split_edges: Annotated[int, typer.Option("--split-edges", help="Split the walking pass of districts with more road segments than this")] = DEFAULT_SPLIT_EDGES,
    title: Annotated[str | None, typer.Option("--title", help="Heading of the roll-up (e.g. the province's name)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild every dataset, even unchanged ones")] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="zh (default) or en")] = None,
) -> None:
    """Build every dataset of a manifest on a Dask cluster and write the province roll-up.

    Unchanged datasets (same input file, same settings, outputs present)
    are skipped; a dataset that fails is reported with its reason and the
    others go on.  Exit code 1 when any dataset failed, 2 on a bad
    manifest or option.
    """
    settings = Settings()
    lang = check_lang(lang or settings.lang)
    parse_format(report_format)
    defaults = settings.build_params(
        minutes=minutes, speed_kmh=speed_kmh, method=method, level_minutes=level_minutes_option(level_minutes)
    ).validate()
    entries, manifest_title = read_manifest(manifest, defaults=defaults)
    out.print(text("batch.start", lang, n=len(entries), outdir=output), highlight=False, markup=False)
    with dask_client(scheduler=scheduler, workers=workers, memory_limit=memory_limit) as client:
        info = client.scheduler_info()
        n_workers = len(info.get("workers", {}))
        threads = sum(w.get("nthreads", 0) for w in info.get("workers", {}).values())
        out.print(text("batch.cluster", lang, address=client.scheduler.address, workers=n_workers, threads=threads),
                  highlight=False, markup=False)
        out.print(text("batch.dashboard", lang, link=client.dashboard_link), highlight=False, markup=False)
        with progress_bar(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False) as bar:
            task = bar.add_task(text("batch.progress", lang), total=len(entries))

            def on_result(res: DatasetResult) -> None:
                if res.status == "failed":
                    detail = res.reason
                else:
                    share = (res.row.get("covered_households", 0) / res.row["households"]) if res.row.get("households") else 0.0
                    detail = text("batch.row_ok", lang, share=share, seconds=res.seconds)
                line = text("batch.row", lang, status=text(f"batch.status.{res.status}", lang), name=res.name, detail=detail)
                style = "red" if res.status == "failed" else ("dim" if res.status == "skipped" else "")
                bar.console.print(f"[{style}]{escape(line)}[/]" if style else escape(line), highlight=False, soft_wrap=True)
                bar.update(task, advance=1)

            outcome = run_batch(
                entries, output, client=client, title=title or manifest_title, report_format=report_format,
                by=by, lang=lang, split_edges=split_edges, force=force, on_result=on_result,
            )
    out.print(text("batch.done", lang, built=outcome.count("built"), skipped=outcome.count("skipped"),
                   failed=outcome.count("failed")), highlight=False, markup=False)
    out.print(text("batch.rollup_written", lang, xlsx=outcome.rollup_xlsx, html=outcome.rollup_html),
              highlight=False, markup=False)
    out.print(text("batch.state_written", lang, path=outcome.state), highlight=False, markup=False)
    if outcome.count("failed"):
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to the ``dangjian`` app."""
    app.command("batch")(batch)
