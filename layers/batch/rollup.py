"""The province roll-up of a batch run: coverage by district, by city and in total, as Excel and HTML.

Households and compounds are summed from each district's figures
(:attr:`layers.batch.task.DatasetResult.row`); shares are recomputed from the
sums; failed districts are listed but not summed.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from layers.batch.task import DatasetResult
from layers.i18n import check_lang, text
from layers.reports.html import REPORT_CSS, format_value

__all__ = ["ROLLUP_COLUMNS", "province_rollup", "rollup_html", "rollup_xlsx"]

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
