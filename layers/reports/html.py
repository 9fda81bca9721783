"""Write a report as one self-contained HTML page a planner can email.

Inline CSS, the map embedded as a PNG data URI, nothing fetched from
elsewhere; every name from the data is escaped.  The page is the report's
:class:`~layers.reports.tables.ReportDocument`: the title and meta lines,
the headline cards, then each section (heading, table, note) with the map
before the section the document names.
"""

from __future__ import annotations

import base64
import html
import math
from typing import Any

from layers.i18n import check_lang, text
from layers.reports.tables import Report, ReportDocument, Section, Table

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


def _html_cell(tab: Table, i: int, col: str, value: Any, kind: str, *, data_attrs: bool) -> str:
    e = html.escape
    num = kind not in ("text", "bool", "flags")
    attrs = ' class="n"' if num else ""
    if data_attrs and num and value is not None:
        key = tab.row_keys[i] if tab.row_keys is not None else col
        attrs += f' data-key="{e(key)}" data-value="{e(str(value))}"'
    return f"<td{attrs}>{e(format_value(value, kind))}</td>"


def _html_table(tab: Table, *, total_last: bool = False, data_attrs: bool = False) -> str:
    """A table as HTML: numbers right-aligned (with ``data-key`` / ``data-value`` when asked), a bold total row last."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in tab.headings)
    body = []
    last = len(tab.rows) - 1
    for i, row in enumerate(tab.rows):
        cls = ' class="total"' if total_last and i == last else ""
        cells = (
            _html_cell(tab, i, col, value, kind, data_attrs=data_attrs)
            for col, value, kind in zip(tab.columns, row, tab.kinds_of(i), strict=True)
        )
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _section_html(section: Section) -> list[str]:
    e = html.escape
    parts = [f"<h2>{e(section.heading)}</h2>"]
    if section.empty and not section.table.rows:
        return [*parts, f'<p class="meta">{e(section.empty)}</p>']
    table = _html_table(section.table, total_last=section.total_last, data_attrs=section.data_attrs)
    parts.append(f'<div id="{e(section.name)}">{table}</div>' if section.boxed else table)
    if section.note:
        parts.append(f'<p class="meta">{e(section.note)}</p>')
    return parts


def _map_html(doc: ReportDocument, map_png: bytes | None, map_error: str) -> list[str]:
    e = html.escape
    heading = text("report.section.map", doc.lang)
    parts = [f"<h2>{e(heading)}</h2>"]
    if map_png:
        data = base64.b64encode(map_png).decode("ascii")
        parts.append(f'<img class="map" alt="{e(heading)}" src="data:image/png;base64,{data}">')
    else:
        parts.append(f'<p class="meta">{e(text("report.no_map", doc.lang, reason=map_error or "-"))}</p>')
    return parts


def report_html(report: Report, lang: str = "zh", *, map_png: bytes | None = None, map_error: str = "") -> str:
    """The report as one self-contained HTML page (inline CSS, the map embedded as a PNG data URI).

    Parameters
    ----------
    map_png
        The map (for gaps :func:`layers.reports.map_png.gap_map_png`); omitted if ``None``.
    map_error
        Why there is no map, shown in its place.
    """
    doc = report.document(check_lang(lang))
    e = html.escape
    cards = "".join(f'<div class="card">{e(k)}<b>{e(format_value(v, kind))}</b></div>' for k, v, kind in doc.cards)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if doc.lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{e(doc.title)}</title><style>{REPORT_CSS}</style></head><body>",
        f"<h1>{e(doc.title)}</h1>",
        "".join(f'<p class="meta">{e(line)}</p>' for line in doc.meta),
        f'<div class="cards">{cards}</div>',
    ]
    for section in doc.sections:
        if section.name == doc.map_before:
            parts += _map_html(doc, map_png, map_error)
        parts += _section_html(section)
    parts.append("</body></html>")
    return "\n".join(parts)
