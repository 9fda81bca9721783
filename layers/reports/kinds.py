"""The report kinds, and one call that makes a report of any kind in any format (CLI, service, batch runs).

:data:`REPORT_KINDS` maps a kind's name to how it is made: a builder that
computes the report from a built dataset (plain tables, see
:class:`~layers.reports.tables.Report`) and, optionally, its map for the HTML
page.  Adding a kind is a module with its builder and report class plus one
entry here; the writers (JSON, CSV, XLSX, HTML) need nothing new.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from layers.dataset import Dataset
from layers.i18n import check_lang
from layers.reports.formats import (
    MEDIA_TYPES,
    ReportFormat,
    csv_section,
    parse_format,
    report_csv,
    report_json,
    report_xlsx,
)
from layers.reports.gap_tables import CsvTable, GapReport, GroupBy
from layers.reports.gaps import gap_report
from layers.reports.html import report_html
from layers.reports.needs import needs_report
from layers.reports.orgs import alliance_report, org_report
from layers.reports.tables import Report

R = TypeVar("R", bound=Report)


def _gap_map(dataset: Dataset, *, lang: str) -> bytes:
    # matplotlib takes about half a second to import: load the map module only when a page wants its map.
    from layers.reports.map_png import gap_map_png

    return gap_map_png(dataset, lang=lang)


@dataclass(frozen=True)
class ReportKind:
    """How one kind of report is made.

    Attributes
    ----------
    build
        ``build(dataset, **options)``: the report of a built dataset (a :class:`~layers.reports.tables.Report`).
    draw_map
        ``draw_map(dataset, lang=...)``: the PNG map of its HTML page; ``None``: the page has no map.
    """

    build: Callable[..., Report]
    draw_map: Callable[..., bytes] | None = None


#: Every report kind by name.
REPORT_KINDS: dict[str, ReportKind] = {
    "gaps": ReportKind(build=gap_report, draw_map=_gap_map),
    "orgs": ReportKind(build=org_report),
    "alliance": ReportKind(build=alliance_report),
    "needs": ReportKind(build=needs_report),
}


#: The report kinds as a choice (the CLI's ``--kind``, the service's ``kind``).
ReportKindName = StrEnum("ReportKindName", [(k, k) for k in REPORT_KINDS])  # type: ignore[misc]


@dataclass(frozen=True)
class RenderedReport(Generic[R]):
    """A report file: its bytes, media type, a suggested ASCII file name and the report it was written from."""

    content: bytes
    media_type: str
    filename: str
    report: R


def _map_png(draw: Callable[..., bytes], dataset: Dataset, lang: str) -> tuple[bytes | None, str]:
    """The map, or ``None`` and why not: a map that cannot be drawn must not cost the planner the report."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return draw(dataset, lang=lang), ""
    except Exception as exc:  # noqa: BLE001 - any failure of the drawing becomes the page's note
        return None, f"{type(exc).__name__}: {exc}"


def render_report(
    dataset: Dataset,
    kind: str = "gaps",
    *,
    fmt: str | ReportFormat = ReportFormat.json,
    lang: str = "zh",
    table: str | StrEnum | None = None,
    map_renderer: Callable[..., bytes] | None = None,
    **options: Any,
) -> RenderedReport[Any]:
    """Compute a report of a built dataset and write it in one format.

    Parameters
    ----------
    dataset
        A built dataset.
    kind
        A name in :data:`REPORT_KINDS`.
    fmt
        ``json``, ``csv``, ``xlsx`` or ``html``.
    lang
        ``zh`` (default) or ``en``.
    table
        CSV only: which table (default the kind's first, for gaps ``groups``).
    map_renderer
        HTML only: replaces the kind's map (tests).
    **options
        The kind's options (gaps: ``by``).

    Returns
    -------
    RenderedReport
        File name ``{stem}.{format}``, for CSV ``{stem}.{table}.csv`` (gaps: ``gaps_community.groups.csv``).
    """
    lang = check_lang(lang)
    fmt = parse_format(fmt)
    how = REPORT_KINDS[kind]
    report = how.build(dataset, **options)
    suffix = fmt.value
    if fmt is ReportFormat.json:
        content = report_json(report, lang)
    elif fmt is ReportFormat.csv:
        content = report_csv(report, lang, table=table)
        suffix = f"{csv_section(report, lang, table=table).name}.csv"
    elif fmt is ReportFormat.xlsx:
        content = report_xlsx(report, lang)
    else:
        draw = map_renderer or how.draw_map
        png, error = _map_png(draw, dataset, lang) if draw is not None else (None, "")
        content = report_html(report, lang, map_png=png, map_error=error).encode("utf-8")
    return RenderedReport(content, MEDIA_TYPES[fmt], f"{report.document(lang).name}.{suffix}", report)


def render_gap_report(
    dataset: Dataset,
    *,
    by: str | GroupBy = GroupBy.community,
    fmt: str | ReportFormat = ReportFormat.json,
    lang: str = "zh",
    table: str | CsvTable = CsvTable.groups,
    map_renderer: Callable[..., bytes] | None = None,
) -> RenderedReport[GapReport]:
    """The gap report (:func:`render_report` of kind ``gaps``) grouped ``by`` subdistrict, community, unit or grid."""
    return render_report(dataset, "gaps", fmt=fmt, lang=lang, table=table, map_renderer=map_renderer, by=by)
