"""Write a :class:`~layers.reports.GapReport` as JSON, CSV, XLSX or HTML.

Every format shows the same integers: the district total, one row per group
and the uncovered compounds, with headings from the text catalogue
(:mod:`layers.i18n`, Chinese by default).

- JSON: the report's plain form plus the headings in the chosen language.
- CSV: UTF-8 with a byte-order mark so Excel opens Chinese correctly; one
  table (groups with the district total as the last row, the uncovered
  compounds, or the totals).
- XLSX (openpyxl, write-only): a totals sheet, one sheet for the grouping
  (total row last), one of uncovered compounds, and a method comparison
  sheet when both methods were computed; widths, number formats, frozen
  header and filters set.
- HTML: one self-contained file (inline CSS, the gap map as an embedded PNG)
  a planner can email; every name from the data is escaped.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from geo.errors import parse_choice
from layers.dataset import Dataset
from layers.i18n import check_lang, flag_text, text
from layers.reports import CIRCLE_COLUMNS, UNCOVERED_COLUMNS, GapReport, GroupBy, gap_report


class ReportFormat(StrEnum):
    """File formats of a gap report."""

    json = "json"
    csv = "csv"
    xlsx = "xlsx"
    html = "html"


class CsvTable(StrEnum):
    """Which table a CSV report holds."""

    groups = "groups"
    uncovered = "uncovered"
    totals = "totals"


MEDIA_TYPES: dict[ReportFormat, str] = {
    ReportFormat.json: "application/json",
    ReportFormat.csv: "text/csv; charset=utf-8",
    ReportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ReportFormat.html: "text/html; charset=utf-8",
}


def parse_format(value: str | ReportFormat) -> ReportFormat:
    """A :class:`ReportFormat` from text, with an error listing the valid values."""
    return parse_choice(ReportFormat, value, field="format", normalised=str(value).lower().lstrip("."))


def parse_csv_table(value: str | CsvTable) -> CsvTable:
    """A :class:`CsvTable` from text, with an error listing the valid values."""
    return parse_choice(CsvTable, value, field="table")


# ---------------------------------------------------------------------------
# tables in a language: headings, cell kinds and values
# ---------------------------------------------------------------------------

#: How a column is shown: text, integer, share (0-1 as percent), one or two decimals, yes/no, flag codes.
_KINDS: dict[str, str] = {
    "key": "text", "name": "text", "id": "text", "community": "text", "subdistrict": "text", "unit": "text",
    "grid": "text", "nearest_center": "text", "nearest_center_id": "text",
    "compound_share": "share", "household_share": "share",
    "circle_compound_share": "share", "circle_household_share": "share",
    "walk_min": "float2", "target_min": "float2", "beyond_min": "float2",
    "walk_m": "float1", "straight_m": "float1",
    "has_party_org": "bool", "flags": "flags",
}
_NUMBER_FORMATS = {"int": "#,##0", "share": "0.0%", "float1": "#,##0.0", "float2": "0.00"}
_WIDTHS = {"text": 16, "int": 12, "share": 11, "float1": 12, "float2": 11, "bool": 10, "flags": 22}


def _kind(column: str) -> str:
    return _KINDS.get(column, "int")


@dataclass(frozen=True)
class Table:
    """One table of a report: column keys, headings, kinds and rows of raw values."""

    columns: list[str]
    headings: list[str]
    kinds: list[str]
    rows: list[list[Any]]
    #: Item / value tables: the kind of each row's value (the item column is text).
    row_kinds: list[str] | None = None
    #: Item / value tables: the key of each row's item (``households`` ...).
    row_keys: list[str] | None = None

    def kinds_of(self, i: int) -> list[str]:
        """Cell kinds of row ``i``."""
        return ["text", self.row_kinds[i]] if self.row_kinds is not None else self.kinds


def _heading(column: str, by: GroupBy, lang: str) -> str:
    if column == "key":
        return text(f"report.by.{by.value}", lang)
    if column == "name" and by in (GroupBy.unit, GroupBy.grid):
        return text("field.name", lang)
    return text(f"col.{column}", lang)


def _cell(value: Any, kind: str, lang: str) -> Any:
    """A raw value ready for a cell: numbers stay numbers, NaN becomes None."""
    if value is None:
        return None
    if kind == "bool":
        return text("yes" if bool(value) else "no", lang)
    if kind == "flags":
        return flag_text(str(value), lang)
    if kind == "text":
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def group_table(report: GapReport, lang: str = "zh", *, with_total: bool = True) -> Table:
    """The grouping table in ``lang``: one row per group, the district total last."""
    lang = check_lang(lang)
    columns = report.group_columns()
    if report.by in (GroupBy.community, GroupBy.subdistrict):
        columns = [c for c in columns if c != "name"]
    kinds = [_kind(c) for c in columns]
    blank = text("report.blank_group", lang)
    rows = []
    for record in report.groups[columns].to_dict("records"):
        if record["key"] == "":
            record["key"] = blank
            if "name" in record:
                record["name"] = blank
        rows.append([_cell(record[c], k, lang) for c, k in zip(columns, kinds, strict=True)])
    if with_total:
        total = dict(report.totals)
        total["key"] = text("report.total", lang)
        total["name"] = report.district
        rows.append([_cell(total.get(c), k, lang) for c, k in zip(columns, kinds, strict=True)])
    return Table(columns, [_heading(c, report.by, lang) for c in columns], kinds, rows)


def uncovered_table(report: GapReport, lang: str = "zh") -> Table:
    """The uncovered compounds in ``lang``, largest first."""
    lang = check_lang(lang)
    columns = list(UNCOVERED_COLUMNS)
    kinds = [_kind(c) for c in columns]
    records = report.uncovered[columns].to_numpy(dtype=object).tolist()
    rows = [[_cell(v, k, lang) for v, k in zip(r, kinds, strict=True)] for r in records]
    return Table(columns, [text(f"col.{c}", lang) for c in columns], kinds, rows)


def totals_table(report: GapReport, lang: str = "zh") -> Table:
    """The district total as item / value rows (counts, shares, centres by level)."""
    lang = check_lang(lang)
    t = report.totals
    keys = [
        "compounds", "covered_compounds", "uncovered_compounds", "compound_share",
        "households", "covered_households", "uncovered_households", "household_share",
        "population", "covered_population", "no_party_org",
        "centers_district", "centers_subdistrict", "centers_community", "centers_compound",
    ]
    if report.has_compare:
        keys += list(CIRCLE_COLUMNS)
    rows: list[list[Any]] = [
        [text("field.name", lang), report.district],
        [text("col.method", lang), text(f"method.{report.params['method']}", lang)],
        [text("field.minutes", lang), float(report.params["minutes"])],
    ]
    row_kinds = ["text", "text", "float2"]
    for k in keys:
        rows.append([text(f"col.{k}", lang), _cell(t[k], _kind(k), lang)])
        row_kinds.append(_kind(k))
    return Table(["item", "value"], [text("report.item", lang), text("report.value", lang)], ["text", "text"], rows, row_kinds,
                 ["name", "method", "minutes", *keys])


# ---------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------


def report_json(report: GapReport, lang: str = "zh") -> bytes:
    """The report as UTF-8 JSON: :meth:`GapReport.as_dict` plus ``lang`` and ``labels`` (column headings)."""
    lang = check_lang(lang)
    data = report.as_dict()
    columns = {*report.group_columns(), *UNCOVERED_COLUMNS}
    data["lang"] = lang
    data["labels"] = {c: _heading(c, report.by, lang) for c in sorted(columns)}
    data["labels"]["total"] = text("report.total", lang)
    return json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse_formula(value: str) -> str:
    """Text that a spreadsheet would run as a formula gets a leading quote (CSV injection); numbers stay."""
    if value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def _csv_value(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return defuse_formula(value)
    if kind == "share" and isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if kind != "int" else int(value)
    return value


def report_csv(report: GapReport, lang: str = "zh", *, table: str | CsvTable = CsvTable.groups) -> bytes:
    """One table of the report as CSV, UTF-8 with a byte-order mark (Excel opens Chinese correctly).

    Parameters
    ----------
    table
        ``groups`` (default; the district total is the last row),
        ``uncovered`` or ``totals``.  Shares are fractions (0-1, 4 places).
    """
    lang = check_lang(lang)
    which = parse_csv_table(table)
    tab = {
        CsvTable.groups: lambda: group_table(report, lang),
        CsvTable.uncovered: lambda: uncovered_table(report, lang),
        CsvTable.totals: lambda: totals_table(report, lang),
    }[which]()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([defuse_formula(h) for h in tab.headings])
    for i, row in enumerate(tab.rows):
        writer.writerow([_csv_value(v, k) for v, k in zip(row, tab.kinds_of(i), strict=True)])
    return buf.getvalue().encode("utf-8-sig")


_HEAD_FONT = Font(bold=True, color="FFFFFF")
_HEAD_FILL = PatternFill("solid", fgColor="B22222")
_TOTAL_FONT = Font(bold=True)
_TOTAL_FILL = PatternFill("solid", fgColor="FCE4D6")
_WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")


def _sheet_title(name: str) -> str:
    bad = '[]:*?/\\'
    return "".join("_" if ch in bad else ch for ch in name)[:31]


def _write_sheet(wb: Workbook, title: str, tab: Table, *, total_last: bool = False) -> None:
    ws = wb.create_sheet(_sheet_title(title))
    n_cols = len(tab.headings)
    item_kinds = tab.row_kinds is not None
    for j, kind in enumerate(tab.kinds, start=1):
        width = _WIDTHS.get(kind, 12)
        head_len = max(len(tab.headings[j - 1]) * (2 if not tab.headings[j - 1].isascii() else 1), 6)
        if kind == "text" and tab.rows:
            longest = max(
                (len(str(r[j - 1])) * (2 if not str(r[j - 1]).isascii() else 1) for r in tab.rows[:500]), default=0
            )
            width = max(width, min(longest + 2, 40))
        ws.column_dimensions[get_column_letter(j)].width = max(width, min(head_len + 2, 30))
    ws.freeze_panes = "B2" if not item_kinds else "A2"
    ws.row_dimensions[1].height = 32
    header = []
    for h in tab.headings:
        cell = WriteOnlyCell(ws, value=h)
        cell.font, cell.fill, cell.alignment = _HEAD_FONT, _HEAD_FILL, _WRAP
        header.append(cell)
    ws.append(header)
    last = len(tab.rows) - 1
    for i, row in enumerate(tab.rows):
        out = []
        for value, kind in zip(row, tab.kinds_of(i), strict=True):
            cell = WriteOnlyCell(ws, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # data text, never a formula
            fmt = _NUMBER_FORMATS.get(kind)
            if fmt and isinstance(value, (int, float)):
                cell.number_format = fmt
            if total_last and i == last:
                cell.font, cell.fill = _TOTAL_FONT, _TOTAL_FILL
            out.append(cell)
        ws.append(out)
    if not item_kinds and tab.rows:
        ws.auto_filter.ref = f"A1:{get_column_letter(n_cols)}{len(tab.rows) + 1 - (1 if total_last else 0)}"


def report_xlsx(report: GapReport, lang: str = "zh") -> bytes:
    """The report as an Excel workbook (openpyxl).

    Sheets: totals (item / value), the grouping (district total last, bold),
    the uncovered compounds, and the method comparison when both methods
    were computed.  Counts use ``#,##0``, shares ``0.0%``, minutes ``0.00``.
    """
    lang = check_lang(lang)
    wb = Workbook(write_only=True)
    _write_sheet(wb, text("report.sheet.totals", lang), totals_table(report, lang))
    _write_sheet(wb, text(f"report.by.{report.by.value}", lang), group_table(report, lang), total_last=True)
    _write_sheet(wb, text("report.sheet.uncovered", lang), uncovered_table(report, lang))
    if report.compare is not None:
        _write_sheet(wb, text("report.sheet.compare", lang), compare_table(report, lang))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def compare_table(report: GapReport, lang: str = "zh") -> Table:
    """Straight line vs walking network, side by side (empty when only one method was computed)."""
    lang = check_lang(lang)
    cols = ["covered_compounds", "compound_share", "covered_households", "household_share"]
    rows: list[list[Any]] = []
    if report.compare is not None:
        for method in ("circle", "network"):
            block = report.compare[method]
            rows.append([text(f"method.{method}", lang), *(_cell(block[c], _kind(c), lang) for c in cols)])
    return Table(["method", *cols], [text("col.method", lang), *(text(f"col.{c}", lang) for c in cols)],
                 ["text", *(_kind(c) for c in cols)], rows)


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

REPORT_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1200px}
h1{color:#b22222;font-size:22px;border-bottom:2px solid #b22222;padding-bottom:6px}
h2{font-size:17px;margin-top:28px;color:#7a1010}
p.meta{color:#666;font-size:13px;margin:2px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 16px;min-width:150px;background:#fafafa}
.card b{display:block;font-size:20px;color:#b22222}
table{border-collapse:collapse;font-size:13px;margin:8px 0;width:100%}
th{background:#b22222;color:#fff;padding:5px 6px;font-weight:600}
td{border-bottom:1px solid #e5e5e5;padding:4px 6px}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:700;background:#fce4d6}
img.map{max-width:100%;border:1px solid #ddd}
#totals table{width:auto;min-width:420px}
td:first-child{white-space:nowrap}
"""


def format_value(value: Any, kind: str) -> str:
    """A table cell as HTML reports show it: ``-`` when missing, shares in %, thousands separated."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "share":
        return f"{float(value):.1%}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float1":
        return f"{float(value):,.0f}"
    if kind == "float2":
        return f"{float(value):.1f}"
    return str(value)


def _html_table(tab: Table, *, total_last: bool = False, data_attrs: bool = False) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in tab.headings)
    body = []
    last = len(tab.rows) - 1
    for i, row in enumerate(tab.rows):
        cls = ' class="total"' if total_last and i == last else ""
        cells = []
        for col, value, kind in zip(tab.columns, row, tab.kinds_of(i), strict=True):
            num = kind not in ("text", "bool", "flags")
            attrs = ' class="n"' if num else ""
            if data_attrs and num and value is not None:
                key = tab.row_keys[i] if tab.row_keys is not None else col
                attrs += f' data-key="{e(key)}" data-value="{e(str(value))}"'
            cells.append(f"<td{attrs}>{e(format_value(value, kind))}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def report_html(report: GapReport, lang: str = "zh", *, map_png: bytes | None = None, map_error: str = "") -> str:
    """The report as one self-contained HTML page (inline CSS, the map embedded as a PNG data URI).

    Parameters
    ----------
    map_png
        The gap map (see :func:`layers.report_map.gap_map_png`); omitted if ``None``.
    map_error
        Why there is no map, shown in its place.
    """
    lang = check_lang(lang)
    e = html.escape
    t = report.totals
    p = report.params
    title = text("report.title", lang, name=report.district)
    statuses = "、".join(text(f"status.{s}", lang) for s in p["statuses"]) if lang == "zh" else ", ".join(p["statuses"])
    meta = text("report.params", lang, minutes=p["minutes"], speed_kmh=p["speed_kmh"],
                method=text(f"method.{p['method']}", lang), statuses=statuses)
    generated = text("report.generated", lang, built_at=report.built_at or "-", generated_at=report.generated_at)
    cards = [
        (text("col.household_share", lang), format_value(t["household_share"], "share")),
        (text("col.compound_share", lang), format_value(t["compound_share"], "share")),
        (text("col.uncovered_households", lang), format_value(t["uncovered_households"], "int")),
        (text("col.uncovered_compounds", lang), format_value(t["uncovered_compounds"], "int")),
    ]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{REPORT_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="meta">{e(meta)}</p><p class="meta">{e(generated)}</p>',
        '<div class="cards">' + "".join(f"<div class=\"card\">{e(k)}<b>{e(v)}</b></div>" for k, v in cards) + "</div>",
        f"<h2>{e(text('report.section.totals', lang))}</h2>",
        '<div id="totals">' + _html_table(totals_table(report, lang), data_attrs=True) + "</div>",
    ]
    if report.compare is not None:
        over = report.compare["overcount"]
        parts += [
            f"<h2>{e(text('report.section.compare', lang))}</h2>",
            _html_table(compare_table(report, lang)),
            f'<p class="meta">{e(text("report.compare.overcount", lang, **over))}</p>',
        ]
    parts.append(f"<h2>{e(text('report.section.map', lang))}</h2>")
    if map_png:
        data = base64.b64encode(map_png).decode("ascii")
        parts.append(f'<img class="map" alt="{e(text("report.section.map", lang))}" src="data:image/png;base64,{data}">')
    else:
        parts.append(f'<p class="meta">{e(text("report.no_map", lang, reason=map_error or "-"))}</p>')
    by_label = text(f"report.by.{report.by.value}", lang)
    parts += [
        f"<h2>{e(text('report.section.groups', lang, by=by_label))}</h2>",
        '<div id="groups">' + _html_table(group_table(report, lang), total_last=True) + "</div>",
        f"<h2>{e(text('report.section.uncovered', lang))}</h2>",
    ]
    if len(report.uncovered):
        parts.append('<div id="uncovered">' + _html_table(uncovered_table(report, lang)) + "</div>")
    else:
        parts.append(f'<p class="meta">{e(text("report.none_uncovered", lang))}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# one call for the CLI and the service
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedReport:
    """A report file: its bytes, media type and a suggested ASCII file name."""

    content: bytes
    media_type: str
    filename: str
    report: GapReport


def render_gap_report(
    dataset: Dataset,
    *,
    by: str | GroupBy = GroupBy.community,
    fmt: str | ReportFormat = ReportFormat.json,
    lang: str = "zh",
    table: str | CsvTable = CsvTable.groups,
    map_renderer: Callable[..., bytes] | None = None,
) -> RenderedReport:
    """Compute the gap report of a built dataset and write it in one format.

    Parameters
    ----------
    dataset
        A built dataset.
    by
        ``subdistrict``, ``community``, ``unit`` or ``grid``.
    fmt
        ``json``, ``csv``, ``xlsx`` or ``html``.
    lang
        ``zh`` (default) or ``en``.
    table
        CSV only: ``groups``, ``uncovered`` or ``totals``.
    map_renderer
        HTML only: replaces :func:`layers.report_map.gap_map_png` (tests).

    Returns
    -------
    RenderedReport
    """
    lang = check_lang(lang)
    fmt = parse_format(fmt)
    report = gap_report(dataset, by=by)
    suffix = fmt.value
    if fmt is ReportFormat.json:
        content = report_json(report, lang)
    elif fmt is ReportFormat.csv:
        content = report_csv(report, lang, table=table)
        suffix = f"{parse_csv_table(table).value}.csv"
    elif fmt is ReportFormat.xlsx:
        content = report_xlsx(report, lang)
    else:
        png, error = None, ""
        try:
            if map_renderer is None:
                from layers.report_map import gap_map_png

                map_renderer = gap_map_png
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                png = map_renderer(dataset, lang=lang)
        except Exception as exc:  # a map that cannot be drawn must not cost the planner the report
            error = f"{type(exc).__name__}: {exc}"
        content = report_html(report, lang, map_png=png, map_error=error).encode("utf-8")
    return RenderedReport(content, MEDIA_TYPES[fmt], f"gaps_{report.by.value}.{suffix}", report)


def table_rows(tab: Table) -> Sequence[dict[str, Any]]:
    """A table as records keyed by column (for tests and JSON)."""
    return [dict(zip(tab.columns, r, strict=True)) for r in tab.rows]


__all__ = [
    "CsvTable",
    "MEDIA_TYPES",
    "RenderedReport",
    "ReportFormat",
    "Table",
    "compare_table",
    "group_table",
    "parse_format",
    "render_gap_report",
    "report_csv",
    "report_html",
    "report_json",
    "report_xlsx",
    "table_rows",
    "totals_table",
    "uncovered_table",
]
