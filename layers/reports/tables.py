"""The form every report kind hands the writers: tables of cell values with headings, in one language.

A report kind computes its report once, without language (plain frames and
integers, see :mod:`layers.reports.gaps`); :meth:`Report.document` then
reads it in a language as a :class:`ReportDocument`: a title, meta lines,
headline cards and :class:`Section` s, each one :class:`Table`.  The
writers (:mod:`layers.reports.formats`, :mod:`layers.reports.html`) know
only documents, so a new kind needs no writer of its own.

Cells keep raw values (numbers stay numbers, NaN becomes ``None``); how a
column is shown is its *cell kind* (:func:`column_kind`): text, integer,
share (0-1), one or two decimals, yes/no or flag codes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from geo.plain import jsonable
from layers.i18n import flag_text, text

#: The cell kind of every column that is not an integer count.
_KINDS: dict[str, str] = {
    "key": "text", "name": "text", "id": "text", "community": "text", "subdistrict": "text", "unit": "text",
    "grid": "text", "nearest_center": "text", "nearest_center_id": "text",
    "compound_share": "share", "household_share": "share",
    "circle_compound_share": "share", "circle_household_share": "share",
    "walk_min": "float2", "target_min": "float2", "beyond_min": "float2",
    "walk_m": "float1", "straight_m": "float1",
    "has_party_org": "bool", "flags": "flags",
    # party organisations, alliances, needs (layers.reports.orgs, layers.reports.needs)
    "type": "text", "parent": "text", "alliance": "text", "role": "text", "org_names": "text", "alliance_lead": "text",
    "alliance_roster": "text", "category": "text", "needs": "text", "unmet_needs": "text", "unmet_needs_nearby": "text",
    "org_compound_share": "share", "grid_branch_share": "share", "met_share": "share", "grid_branch": "bool",
}


def column_kind(column: str) -> str:
    """How ``column`` is shown: ``text``, ``int`` (the default), ``share``, ``float1``, ``float2``, ``bool`` or ``flags``."""
    return _KINDS.get(column, "int")


def cell_value(value: Any, kind: str, lang: str) -> Any:
    """A raw value ready for a cell: numbers stay numbers, NaN becomes None, yes/no and flags become words."""
    if value is None:
        return None
    if kind == "bool":
        return text("yes" if bool(value) else "no", lang)
    if kind == "flags":
        return flag_text(str(value), lang)
    if kind == "text":
        return "" if isinstance(value, float) and math.isnan(value) else str(value)
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def plain_record(row: dict[str, Any]) -> dict[str, Any]:
    """A record in plain JSON form: numpy scalars to Python, NaN to ``None``, shares to 4 places, other floats to 2."""
    out = jsonable(row)
    for k, v in out.items():
        if isinstance(v, float):
            out[k] = round(v, 4 if "share" in k else 2)
    return out


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


def table_rows(tab: Table) -> Sequence[dict[str, Any]]:
    """A table as records keyed by column (for tests and JSON)."""
    return [dict(zip(tab.columns, r, strict=True)) for r in tab.rows]


@dataclass(frozen=True)
class Section:
    """One table of a document and how it shows; the table is made when a writer first asks for it.

    Attributes
    ----------
    name
        The table's key: the CSV ``table`` and the id of its HTML block.
    heading
        Its heading on the HTML page.
    make
        Makes the :class:`Table` (called once, only by a writer that needs it).
    total_last
        The last row is a total (bold in XLSX and HTML).
    data_attrs
        HTML: numeric cells carry ``data-key`` / ``data-value`` (the raw value).
    boxed
        HTML: the table sits in a ``<div id="{name}">``.
    note
        HTML: a line under the table.
    empty
        HTML: shown instead of the table when it has no rows (``""``: the empty table shows).
    """

    name: str
    heading: str
    make: Callable[[], Table] = field(repr=False)
    total_last: bool = False
    data_attrs: bool = False
    boxed: bool = True
    note: str = ""
    empty: str = ""

    @cached_property
    def table(self) -> Table:
        """The table (made on first use)."""
        return self.make()


@dataclass(frozen=True)
class ReportDocument:
    """A report read in one language: what every writer puts on the page, the sheet or in the file.

    Attributes
    ----------
    name
        File name stem (ASCII), e.g. ``gaps_community``.
    lang
        ``zh`` or ``en``.
    title
        The page title.
    meta
        Lines under the title (parameters, timestamps).
    cards
        Headline figures: (label, value, cell kind).
    sections
        The tables in page order.
    sheets
        The workbook: (sheet title, section name) in sheet order.
    csv_tables
        The sections a CSV file may hold, the first the default.
    map_before
        The section the map goes before on the HTML page (``""``: no map).
    make_json
        Makes the JSON body (called once, only by the JSON writer).
    """

    name: str
    lang: str
    title: str
    meta: tuple[str, ...]
    cards: tuple[tuple[str, Any, str], ...]
    sections: tuple[Section, ...]
    sheets: tuple[tuple[str, str], ...]
    csv_tables: type[StrEnum]
    make_json: Callable[[], dict[str, Any]] = field(repr=False)
    map_before: str = ""

    def section(self, name: str) -> Section:
        """The section called ``name``."""
        return next(s for s in self.sections if s.name == name)

    @cached_property
    def json(self) -> dict[str, Any]:
        """The JSON body (made on first use)."""
        return self.make_json()


class Report(Protocol):
    """What a report kind computes: plain tables that read as a :class:`ReportDocument` in a language."""

    def document(self, lang: str) -> ReportDocument:
        """The report in ``lang`` (``zh`` or ``en``)."""
        ...
