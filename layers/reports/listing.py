"""A report made of headline figures and plain tables: the form of the organisation, alliance and needs reports.

A kind computes a :class:`ListingReport` once, without language (frames of
raw values, codes such as ``private_enterprise``); :meth:`ListingReport.document`
reads it in a language with headings from the text catalogue
(``col.<column>``), section headings ``report.<kind>.section.<name>`` and
the title ``report.<kind>.title``.  Values of a column listed in
``value_labels`` are shown by their label in the language (an organisation
type, a service category).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pandas as pd

from layers.i18n import check_lang, text
from layers.reports.tables import ReportDocument, Section, Table, cell_value, column_kind, plain_record

#: Separator of the items of a list cell.
NAME_SEPARATOR = "、"
#: Per column, per language, the label of each raw value.
ValueLabels = dict[str, dict[str, dict[str, str]]]


#: The raw key of a total row (shown as ``report.total``).
TOTAL = "__total__"


def group_labels(column: str) -> ValueLabels:
    """Labels of a grouping column: the blank group and the total row, in both languages."""
    return {column: {lang: {"": text("report.blank_group", lang), TOTAL: text("report.total", lang)} for lang in ("zh", "en")}}


def _label(item: str, labels: dict[str, str]) -> str:
    """The label of one list item; in ``类别:S1`` only the part before the colon is a value."""
    head, sep, tail = item.partition(":")
    return labels.get(head, head) + sep + tail


@dataclass(frozen=True)
class Listing:
    """One table of a listing report: its section name, rows and columns in report order."""

    name: str
    frame: pd.DataFrame
    columns: tuple[str, ...]
    #: The last row is a total.
    total_last: bool = False


@dataclass
class ListingReport:
    """Headline figures and tables of one dataset, without language.

    Attributes
    ----------
    kind
        The report kind (``orgs``, ``alliance``, ``needs``): file name stem and catalogue prefix.
    district
        The district's name (in the title).
    cards
        Headline figures: ``(column, value)``, shown with the heading ``col.<column>``.
    listings
        The tables, in page order; the first is the default CSV table.
    value_labels
        Labels of raw values per column and language.
    built_at
        When the dataset was built (ISO text, ``""`` when unknown).
    """

    kind: str
    district: str
    cards: list[tuple[str, Any]]
    listings: list[Listing]
    value_labels: ValueLabels = field(default_factory=dict)
    built_at: str = ""
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def _cell(self, column: str, value: Any, lang: str) -> Any:
        labels = self.value_labels.get(column, {}).get(lang)
        if labels is not None and isinstance(value, str):
            if value in labels:
                return labels[value]
            return NAME_SEPARATOR.join(_label(item, labels) for item in value.split(NAME_SEPARATOR))
        return cell_value(value, column_kind(column), lang)

    def table(self, listing: Listing, lang: str) -> Table:
        """One listing in ``lang``."""
        columns = list(listing.columns)
        kinds = [column_kind(c) for c in columns]
        rows = [[self._cell(c, r.get(c), lang) for c in columns] for r in listing.frame.to_dict("records")]
        return Table(columns, [text(f"col.{c}", lang) for c in columns], kinds, rows)

    def as_dict(self, lang: str) -> dict[str, Any]:
        """The JSON body: cards and every table as records of raw values, with headings in ``lang``."""
        columns = sorted({c for listing in self.listings for c in listing.columns} | {k for k, _ in self.cards})
        return {
            "kind": self.kind,
            "district": self.district,
            "lang": lang,
            "built_at": self.built_at,
            "generated_at": self.generated_at,
            "cards": plain_record(dict(self.cards)),
            "tables": {
                listing.name: [plain_record({c: r.get(c) for c in listing.columns}) for r in listing.frame.to_dict("records")]
                for listing in self.listings
            },
            "labels": {c: text(f"col.{c}", lang) for c in columns},
        }

    def document(self, lang: str) -> ReportDocument:
        """The report in ``lang``: one section, sheet and CSV table per listing."""
        lang = check_lang(lang)
        heading = {item.name: text(f"report.{self.kind}.section.{item.name}", lang) for item in self.listings}
        sections = tuple(
            Section(item.name, heading[item.name], functools.partial(self.table, item, lang), total_last=item.total_last,
                    empty=text("report.listing.empty", lang))
            for item in self.listings
        )
        csv_tables = StrEnum(f"{self.kind.title()}Table", [(item.name, item.name) for item in self.listings])  # type: ignore[misc]
        return ReportDocument(
            name=self.kind,
            lang=lang,
            title=text(f"report.{self.kind}.title", lang, name=self.district),
            meta=(text("report.generated", lang, built_at=self.built_at or "-", generated_at=self.generated_at),),
            cards=tuple((text(f"col.{k}", lang), v, column_kind(k)) for k, v in self.cards),
            sections=sections,
            sheets=tuple((heading[item.name][:31], item.name) for item in self.listings),
            csv_tables=csv_tables,
            make_json=lambda: self.as_dict(lang),
        )


