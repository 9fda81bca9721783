"""The gap report's tables: their columns, the :class:`GapReport` that holds them, and how they read in a language.

:func:`layers.reports.gaps.gap_report` fills a :class:`GapReport` (plain
frames and integers, no language); :meth:`GapReport.document` reads it as a
:class:`~layers.reports.tables.ReportDocument` with headings from the text
catalogue (:mod:`layers.i18n`): the district total as item / value rows, one
row per group with the total last, the uncovered compounds and, when both
methods were computed, the straight line against the walking network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pandas as pd

from geo.errors import parse_choice
from layers.i18n import check_lang, text
from layers.reports.tables import ReportDocument, Section, Table, cell_value, column_kind, plain_record
from layers.schema import LEVELS


class GroupBy(StrEnum):
    """What the rows of a gap report are."""

    subdistrict = "subdistrict"
    community = "community"
    unit = "unit"
    grid = "grid"


def parse_group_by(value: str | GroupBy) -> GroupBy:
    """A :class:`GroupBy` from text, with an error listing the valid values."""
    return parse_choice(GroupBy, value, field="by")


class CsvTable(StrEnum):
    """Which table a CSV gap report holds."""

    groups = "groups"
    uncovered = "uncovered"
    totals = "totals"


#: Count columns of the group and total rows (integers), in report order.
COUNT_COLUMNS: tuple[str, ...] = (
    "compounds",
    "households",
    "population",
    "covered_compounds",
    "uncovered_compounds",
    "covered_households",
    "uncovered_households",
    "covered_population",
    "no_party_org",
    *(f"centers_{lv}" for lv in LEVELS),
)
#: Share columns (0-1 floats; NaN where the denominator is 0).
SHARE_COLUMNS: tuple[str, ...] = ("compound_share", "household_share")
#: Extra columns when the build computed both the straight line and the walking network.
CIRCLE_COLUMNS: tuple[str, ...] = (
    "circle_covered_compounds",
    "circle_compound_share",
    "circle_covered_households",
    "circle_household_share",
)
#: Columns of the group table, in report order (circle ones only when present).
GROUP_COLUMNS: tuple[str, ...] = (
    "key",
    "name",
    "compounds",
    "households",
    "population",
    "covered_compounds",
    "uncovered_compounds",
    "compound_share",
    "covered_households",
    "uncovered_households",
    "household_share",
    "covered_population",
    "no_party_org",
    *(f"centers_{lv}" for lv in LEVELS),
)
#: Columns of the uncovered-compounds list, in report order.
UNCOVERED_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "community",
    "subdistrict",
    "unit",
    "grid",
    "households",
    "population",
    "has_party_org",
    "nearest_center",
    "nearest_center_id",
    "walk_min",
    "walk_m",
    "target_min",
    "beyond_min",
    "straight_m",
    "flags",
)
#: Items of the totals table, in report order (the circle ones follow when both methods were computed).
TOTAL_ITEMS: tuple[str, ...] = (
    "compounds", "covered_compounds", "uncovered_compounds", "compound_share",
    "households", "covered_households", "uncovered_households", "household_share",
    "population", "covered_population", "no_party_org",
    *(f"centers_{lv}" for lv in LEVELS),
)
#: Columns of the method comparison.
_COMPARE_COLUMNS: tuple[str, ...] = ("covered_compounds", "compound_share", "covered_households", "household_share")


@dataclass
class GapReport:
    """The gap report of one dataset, as plain tables.

    Attributes
    ----------
    by
        The grouping of :attr:`groups`.
    district
        District name.
    totals
        The district total: the :data:`COUNT_COLUMNS` (int), the shares and,
        when both methods were computed, the :data:`CIRCLE_COLUMNS`.
    groups
        One row per group with :data:`GROUP_COLUMNS` (plus the circle ones),
        sorted by uncovered households, descending.  Compounds (or centres)
        outside every group make one row with ``key == ""``.
    uncovered
        The uncovered compounds with :data:`UNCOVERED_COLUMNS`, largest
        first.  ``walk_*`` is the walk to the nearest counted centre (NaN when
        none is reachable); ``target_min`` that centre's minutes;
        ``beyond_min`` = ``walk_min - target_min``.
    compare
        ``None``, or when the build used the walking network and also the
        straight line: ``{"circle": {...}, "network": {...}, "overcount":
        {...}}`` with covered compounds/households and shares per method.
    params
        ``method``, ``minutes``, ``speed_kmh``, ``level_minutes``, ``statuses``.
    built_at, generated_at
        ISO timestamps (UTC) of the build and of this report.
    """

    by: GroupBy
    district: str
    totals: dict[str, Any]
    groups: pd.DataFrame
    uncovered: pd.DataFrame
    compare: dict[str, dict[str, Any]] | None
    params: dict[str, Any]
    built_at: str = ""
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def has_compare(self) -> bool:
        """Whether the straight-line shares are reported beside the walking ones."""
        return self.compare is not None

    def group_columns(self) -> list[str]:
        """The columns of :attr:`groups` in report order."""
        return [*GROUP_COLUMNS, *(CIRCLE_COLUMNS if self.has_compare else ())]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (NaN becomes ``None``; shares rounded to 4 places)."""
        return {
            "district": self.district,
            "by": self.by.value,
            "params": self.params,
            "built_at": self.built_at,
            "generated_at": self.generated_at,
            "totals": plain_record(self.totals),
            "groups": [plain_record(r) for r in self.groups[self.group_columns()].to_dict("records")],
            "uncovered": [plain_record(r) for r in self.uncovered[list(UNCOVERED_COLUMNS)].to_dict("records")],
            "compare": None if self.compare is None else {k: plain_record(v) for k, v in self.compare.items()},
        }

    def document(self, lang: str) -> ReportDocument:
        """The report in ``lang``: see :func:`gap_document`."""
        return gap_document(self, lang)


def _heading(column: str, by: GroupBy, lang: str) -> str:
    if column == "key":
        return text(f"report.by.{by.value}", lang)
    if column == "name" and by in (GroupBy.unit, GroupBy.grid):
        return text("field.name", lang)
    return text(f"col.{column}", lang)


def _row(record: dict[str, Any], columns: list[str], kinds: list[str], lang: str) -> list[Any]:
    return [cell_value(record.get(c), k, lang) for c, k in zip(columns, kinds, strict=True)]


def group_table(report: GapReport, lang: str = "zh", *, with_total: bool = True) -> Table:
    """The grouping table in ``lang``: one row per group, the district total last."""
    lang = check_lang(lang)
    columns = report.group_columns()
    if report.by in (GroupBy.community, GroupBy.subdistrict):
        columns = [c for c in columns if c != "name"]
    kinds = [column_kind(c) for c in columns]
    blank = text("report.blank_group", lang)
    rows = []
    for record in report.groups[columns].to_dict("records"):
        if record["key"] == "":
            record["key"] = blank
            if "name" in record:
                record["name"] = blank
        rows.append(_row(record, columns, kinds, lang))
    if with_total:
        total = {**report.totals, "key": text("report.total", lang), "name": report.district}
        rows.append(_row(total, columns, kinds, lang))
    return Table(columns, [_heading(c, report.by, lang) for c in columns], kinds, rows)


def uncovered_table(report: GapReport, lang: str = "zh") -> Table:
    """The uncovered compounds in ``lang``, largest first."""
    lang = check_lang(lang)
    columns = list(UNCOVERED_COLUMNS)
    kinds = [column_kind(c) for c in columns]
    records = report.uncovered[columns].to_numpy(dtype=object).tolist()
    rows = [[cell_value(v, k, lang) for v, k in zip(r, kinds, strict=True)] for r in records]
    return Table(columns, [text(f"col.{c}", lang) for c in columns], kinds, rows)


def totals_table(report: GapReport, lang: str = "zh") -> Table:
    """The district total as item / value rows (counts, shares, centres by level)."""
    lang = check_lang(lang)
    keys = [*TOTAL_ITEMS, *(CIRCLE_COLUMNS if report.has_compare else ())]
    rows: list[list[Any]] = [
        [text("field.name", lang), report.district],
        [text("col.method", lang), text(f"method.{report.params['method']}", lang)],
        [text("field.minutes", lang), float(report.params["minutes"])],
    ]
    row_kinds = ["text", "text", "float2"]
    for k in keys:
        rows.append([text(f"col.{k}", lang), cell_value(report.totals[k], column_kind(k), lang)])
        row_kinds.append(column_kind(k))
    return Table(["item", "value"], [text("report.item", lang), text("report.value", lang)], ["text", "text"], rows, row_kinds,
                 ["name", "method", "minutes", *keys])


def compare_table(report: GapReport, lang: str = "zh") -> Table:
    """Straight line vs walking network, side by side (empty when only one method was computed)."""
    lang = check_lang(lang)
    cols = list(_COMPARE_COLUMNS)
    rows: list[list[Any]] = []
    if report.compare is not None:
        for method in ("circle", "network"):
            block = report.compare[method]
            rows.append([text(f"method.{method}", lang), *(cell_value(block[c], column_kind(c), lang) for c in cols)])
    return Table(["method", *cols], [text("col.method", lang), *(text(f"col.{c}", lang) for c in cols)],
                 ["text", *(column_kind(c) for c in cols)], rows)


def gap_json(report: GapReport, lang: str = "zh") -> dict[str, Any]:
    """The JSON body: :meth:`GapReport.as_dict` plus ``lang`` and ``labels`` (column headings in ``lang``)."""
    lang = check_lang(lang)
    data = report.as_dict()
    columns = {*report.group_columns(), *UNCOVERED_COLUMNS}
    data["lang"] = lang
    data["labels"] = {c: _heading(c, report.by, lang) for c in sorted(columns)}
    data["labels"]["total"] = text("report.total", lang)
    return data


def _meta(report: GapReport, lang: str) -> tuple[str, str]:
    p = report.params
    statuses = "、".join(text(f"status.{s}", lang) for s in p["statuses"]) if lang == "zh" else ", ".join(p["statuses"])
    meta = text("report.params", lang, minutes=p["minutes"], speed_kmh=p["speed_kmh"],
                method=text(f"method.{p['method']}", lang), statuses=statuses)
    generated = text("report.generated", lang, built_at=report.built_at or "-", generated_at=report.generated_at)
    return meta, generated


def _sections(report: GapReport, lang: str) -> tuple[Section, ...]:
    """Totals, the comparison (both methods only), the grouping and the uncovered compounds, in page order."""
    compare: tuple[Section, ...] = ()
    if report.compare is not None:
        note = text("report.compare.overcount", lang, **report.compare["overcount"])
        compare = (Section("compare", text("report.section.compare", lang), lambda: compare_table(report, lang),
                           boxed=False, note=note),)
    by_label = text(f"report.by.{report.by.value}", lang)
    return (
        Section("totals", text("report.section.totals", lang), lambda: totals_table(report, lang), data_attrs=True),
        *compare,
        Section("groups", text("report.section.groups", lang, by=by_label), lambda: group_table(report, lang),
                total_last=True),
        Section("uncovered", text("report.section.uncovered", lang), lambda: uncovered_table(report, lang),
                empty=text("report.none_uncovered", lang)),
    )


def gap_document(report: GapReport, lang: str = "zh") -> ReportDocument:
    """The gap report in ``lang``: the page, the workbook (totals, grouping, uncovered, comparison) and CSV tables."""
    lang = check_lang(lang)
    t = report.totals
    sheets = [
        (text("report.sheet.totals", lang), "totals"),
        (text(f"report.by.{report.by.value}", lang), "groups"),
        (text("report.sheet.uncovered", lang), "uncovered"),
    ]
    if report.compare is not None:
        sheets.append((text("report.sheet.compare", lang), "compare"))
    return ReportDocument(
        name=f"gaps_{report.by.value}",
        lang=lang,
        title=text("report.title", lang, name=report.district),
        meta=_meta(report, lang),
        cards=tuple(
            (text(f"col.{k}", lang), t[k], column_kind(k))
            for k in ("household_share", "compound_share", "uncovered_households", "uncovered_compounds")
        ),
        sections=_sections(report, lang),
        sheets=tuple(sheets),
        csv_tables=CsvTable,
        make_json=lambda: gap_json(report, lang),
        map_before="groups",
    )
