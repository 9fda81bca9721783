"""Write a report as JSON, CSV or XLSX (the HTML page is :mod:`layers.reports.html`).

Every writer takes a :class:`~layers.reports.tables.Report` and a language
and writes its :class:`~layers.reports.tables.ReportDocument`, so every
format shows the same integers with headings from the text catalogue.

- JSON: the document's JSON body (the report's plain form plus the headings).
- CSV: UTF-8 with a byte-order mark so Excel opens Chinese correctly; one
  table of the document (for gaps: the groups with the district total as the
  last row, the uncovered compounds, or the totals).
- XLSX (openpyxl, write-only): one sheet per table of the document's
  workbook; widths, number formats, frozen header, filters and a bold total
  row set.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from geo.errors import parse_choice
from layers.i18n import check_lang
from layers.reports.tables import Report, Section, Table


class ReportFormat(StrEnum):
    """File formats of a report."""

    json = "json"
    csv = "csv"
    xlsx = "xlsx"
    html = "html"


MEDIA_TYPES: dict[ReportFormat, str] = {
    ReportFormat.json: "application/json",
    ReportFormat.csv: "text/csv; charset=utf-8",
    ReportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ReportFormat.html: "text/html; charset=utf-8",
}


def parse_format(value: str | ReportFormat) -> ReportFormat:
    """A :class:`ReportFormat` from text (``.xlsx`` and ``XLSX`` too), with an error listing the valid values."""
    return parse_choice(ReportFormat, value, field="format", normalised=str(value).lower().lstrip("."))


def report_json(report: Report, lang: str = "zh") -> bytes:
    """The report as UTF-8 JSON: its document's JSON body (for gaps :meth:`GapReport.as_dict` plus ``lang`` and ``labels``)."""
    doc = report.document(check_lang(lang))
    return json.dumps(doc.json, ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse_formula(value: str) -> str:
    """Text that a spreadsheet would run as a formula gets a leading quote (CSV injection); numbers stay."""
    if value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def defused_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` fit for a CSV file: every text cell and every column name through :func:`defuse_formula`."""
    out = frame.copy()
    out.columns = [defuse_formula(str(c)) for c in out.columns]
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(lambda v: defuse_formula(v) if isinstance(v, str) else v)
    return out


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


def csv_section(report: Report, lang: str = "zh", *, table: str | StrEnum | None = None) -> Section:
    """The section a CSV file of ``report`` holds: ``table``, else the document's first CSV table.

    Raises
    ------
    InvalidValueError
        ``table`` is not one of the document's CSV tables (the error lists them).
    """
    doc = report.document(check_lang(lang))
    which = next(iter(doc.csv_tables)) if table is None else parse_choice(doc.csv_tables, str(table), field="table")
    return doc.section(which.value)


def report_csv(report: Report, lang: str = "zh", *, table: str | StrEnum | None = None) -> bytes:
    """One table of the report as CSV, UTF-8 with a byte-order mark (Excel opens Chinese correctly).

    Parameters
    ----------
    table
        The table (gaps: ``groups``, the default, with the district total as
        the last row; ``uncovered`` or ``totals``).  Shares are fractions
        (0-1, 4 places).
    """
    tab = csv_section(report, lang, table=table).table
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([defuse_formula(h) for h in tab.headings])
    for i, row in enumerate(tab.rows):
        writer.writerow([_csv_value(v, k) for v, k in zip(row, tab.kinds_of(i), strict=True)])
    return buf.getvalue().encode("utf-8-sig")


# ---------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------

_NUMBER_FORMATS = {"int": "#,##0", "share": "0.0%", "float1": "#,##0.0", "float2": "0.00"}
_WIDTHS = {"text": 16, "int": 12, "share": 11, "float1": 12, "float2": 11, "bool": 10, "flags": 22}
_HEAD_FONT = Font(bold=True, color="FFFFFF")
_HEAD_FILL = PatternFill("solid", fgColor="B22222")
_TOTAL_FONT = Font(bold=True)
_TOTAL_FILL = PatternFill("solid", fgColor="FCE4D6")
_WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")


def _sheet_title(name: str) -> str:
    bad = '[]:*?/\\'
    return "".join("_" if ch in bad else ch for ch in name)[:31]


def _display_len(value: Any) -> int:
    """Width of a value in characters, CJK counted double."""
    s = str(value)
    return len(s) * (2 if not s.isascii() else 1)


def _set_widths(ws: Worksheet, tab: Table) -> None:
    """Column widths from the cell kind, widened for long text and headings."""
    for j, kind in enumerate(tab.kinds, start=1):
        width = _WIDTHS.get(kind, 12)
        head_len = max(_display_len(tab.headings[j - 1]), 6)
        if kind == "text" and tab.rows:
            longest = max((_display_len(r[j - 1]) for r in tab.rows[:500]), default=0)
            width = max(width, min(longest + 2, 40))
        ws.column_dimensions[get_column_letter(j)].width = max(width, min(head_len + 2, 30))


def _header_row(ws: Worksheet, tab: Table) -> list[WriteOnlyCell]:
    header = []
    for h in tab.headings:
        cell = WriteOnlyCell(ws, value=h)
        cell.font, cell.fill, cell.alignment = _HEAD_FONT, _HEAD_FILL, _WRAP
        header.append(cell)
    return header


def _body_row(ws: Worksheet, row: list[Any], kinds: list[str], *, total: bool) -> list[WriteOnlyCell]:
    out = []
    for value, kind in zip(row, kinds, strict=True):
        cell = WriteOnlyCell(ws, value=value)
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"  # data text, never a formula
        fmt = _NUMBER_FORMATS.get(kind)
        if fmt and isinstance(value, (int, float)):
            cell.number_format = fmt
        if total:
            cell.font, cell.fill = _TOTAL_FONT, _TOTAL_FILL
        out.append(cell)
    return out


def _write_sheet(wb: Workbook, title: str, section: Section) -> None:
    tab = section.table
    ws = wb.create_sheet(_sheet_title(title))
    item_kinds = tab.row_kinds is not None
    _set_widths(ws, tab)
    ws.freeze_panes = "B2" if not item_kinds else "A2"
    ws.row_dimensions[1].height = 32
    ws.append(_header_row(ws, tab))
    last = len(tab.rows) - 1
    for i, row in enumerate(tab.rows):
        ws.append(_body_row(ws, row, tab.kinds_of(i), total=section.total_last and i == last))
    if not item_kinds and tab.rows:
        n_rows = len(tab.rows) + 1 - (1 if section.total_last else 0)
        ws.auto_filter.ref = f"A1:{get_column_letter(len(tab.headings))}{n_rows}"


def report_xlsx(report: Report, lang: str = "zh") -> bytes:
    """The report as an Excel workbook (openpyxl), one sheet per table of its document's workbook.

    For gaps: totals (item / value), the grouping (district total last,
    bold), the uncovered compounds, and the method comparison when both
    methods were computed.  Counts use ``#,##0``, shares ``0.0%``, minutes
    ``0.00``.
    """
    doc = report.document(check_lang(lang))
    wb = Workbook(write_only=True)
    for title, name in doc.sheets:
        _write_sheet(wb, title, doc.section(name))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
