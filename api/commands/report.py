"""``dangjian report``: the gap, organisation, alliance or needs report of a dataset as JSON, CSV, XLSX or HTML."""

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
from geo.errors import parse_choice
from geo.files import check_output_folder, write_atomic
from layers.build import build_dataset
from layers.i18n import check_lang, text
from layers.reports.formats import ReportFormat, parse_format
from layers.reports.gap_tables import parse_group_by
from layers.reports.html import format_value
from layers.reports.kinds import REPORT_KINDS, ReportKindName, render_gap_report, render_report


@friendly_errors
def report(
    dataset: Annotated[Path, typer.Argument(help="Built GeoPackage (an unbuilt one is built in memory first)")] = DEMO_DATASET,
    by: Annotated[str, typer.Option("--by", help="subdistrict, community, unit or grid")] = "community",
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="json, csv, xlsx or html (default: from -o, else json)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (json/csv go to stdout when omitted)")] = None,
    table: Annotated[
        str | None,
        typer.Option("--table", help="CSV only: gaps groups/uncovered/totals; orgs by_community/by_type/roster; "
                     "alliance units; needs by_category/by_community/compounds (default: the first)"),
    ] = None,
    kind_name: Annotated[str, typer.Option("--kind", "-k", help=f"Report kind: {', '.join(REPORT_KINDS)}")] = "gaps",
    lang: LangOpt = None,
) -> None:
    """Gap report (default: compounds and households no centre reaches, by subdistrict, community, unit or grid),
    or the party organisation (orgs), neighbourhood alliance (alliance) or needs-and-services (needs) report."""
    settings = Settings()
    lang = check_lang(lang or settings.lang)
    which = parse_choice(ReportKindName, kind_name, field="kind")
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
    if which is ReportKindName.gaps:
        rendered = render_gap_report(ds, by=group, fmt=kind, lang=lang, table=table or "groups")
    else:
        rendered = render_report(ds, which.value, fmt=kind, lang=lang, table=table)
    if output is None and kind in (ReportFormat.xlsx, ReportFormat.html):
        output = Path(rendered.filename)
    if output is None:
        sys.stdout.buffer.write(rendered.content)
        sys.stdout.buffer.flush()
        return
    path = write_atomic(output, rendered.content)
    if which is ReportKindName.gaps:
        t = rendered.report.totals
        line = text("summary.households", lang, total=t["households"], covered=t["covered_households"],
                    uncovered=t["uncovered_households"], share=t["household_share"])
    else:
        doc = rendered.report.document(lang)
        line = "; ".join(f"{label} {format_value(value, cell)}" for label, value, cell in doc.cards)
    out.print(line, highlight=False, markup=False, soft_wrap=True)
    err.print(text("summary.written", lang, path=path), highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``dangjian`` app."""
    app.command()(report)
