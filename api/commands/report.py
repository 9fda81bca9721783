"""``dangjian report``: the gap report of a dataset as JSON, CSV, XLSX or HTML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli_errors import friendly_errors
from api.commands.console import err, out, steps
from api.commands.options import LangOpt
from api.dataset_store import read_stored_dataset
from api.settings import DEMO_DATASET, Settings
from geo.files import check_output_folder, write_atomic
from layers.build import build_dataset
from layers.i18n import check_lang, text
from layers.reports.formats import ReportFormat, parse_format
from layers.reports.gap_tables import parse_group_by
from layers.reports.kinds import render_gap_report


@friendly_errors
def report(
    dataset: Annotated[Path, typer.Argument(help="Built GeoPackage (an unbuilt one is built in memory first)")] = DEMO_DATASET,
    by: Annotated[str, typer.Option("--by", help="subdistrict, community, unit or grid")] = "community",
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="json, csv, xlsx or html (default: from -o, else json)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (json/csv go to stdout when omitted)")] = None,
    table: Annotated[str, typer.Option("--table", help="CSV only: groups, uncovered or totals")] = "groups",
    lang: LangOpt = None,
) -> None:
    """Gap report: compounds and households no centre reaches, by subdistrict, community, unit or grid."""
    settings = Settings()
    lang = check_lang(lang or settings.lang)
    group = parse_group_by(by)
    if fmt is None:
        fmt = output.suffix if output is not None and output.suffix else ReportFormat.json.value
    kind = parse_format(fmt)
    if output is not None:
        check_output_folder(output)  # before a build that may take a while
    ds = read_stored_dataset(dataset, settings, notice=lambda line: err.print(line, highlight=False, markup=False))
    if not ds.built:
        with steps(lang, 7) as advance:
            ds = build_dataset(ds, settings.build_params(), progress=advance)
    rendered = render_gap_report(ds, by=group, fmt=kind, lang=lang, table=table)
    if output is None and kind in (ReportFormat.xlsx, ReportFormat.html):
        output = Path(rendered.filename)
    if output is None:
        sys.stdout.buffer.write(rendered.content)
        sys.stdout.buffer.flush()
        return
    path = write_atomic(output, rendered.content)
    t = rendered.report.totals
    out.print(
        text("summary.households", lang, total=t["households"], covered=t["covered_households"],
             uncovered=t["uncovered_households"], share=t["household_share"]),
        highlight=False, markup=False, soft_wrap=True,
    )
    err.print(text("summary.written", lang, path=path), highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``dangjian`` app."""
    app.command()(report)
