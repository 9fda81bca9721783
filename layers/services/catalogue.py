"""The service catalogue: categories a centre offers and a compound needs.

Each category has a stable key and Chinese and English names.  The default
follows the seeds (政策宣讲, 帮扶救助, 文体活动, 亲情代办, 小区治理) plus
就业服务 (employment services), which the seeds list among centre services.
A dataset may store its own catalogue as ``(key, zh, en)`` triples.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One service category: a stable key and its names."""

    key: str
    zh: str
    en: str


DEFAULT_CATALOGUE: tuple[Category, ...] = (
    Category("policy", "政策宣讲", "policy"),
    Category("assistance", "帮扶救助", "assistance"),
    Category("culture", "文体活动", "culture/sports"),
    Category("errands", "亲情代办", "errands"),
    Category("governance", "小区治理", "compound governance"),
    Category("employment", "就业服务", "employment"),
)


def catalogue_from(rows: list[tuple[str, str, str]] | None) -> tuple[Category, ...]:
    """A catalogue from stored ``(key, zh, en)`` rows; the default when none."""
    if not rows:
        return DEFAULT_CATALOGUE
    return tuple(Category(k, zh, en) for k, zh, en in rows)


def lookup(catalogue: tuple[Category, ...]) -> dict[str, str]:
    """Map every key, Chinese and (case-folded) English name to the key."""
    names: dict[str, str] = {}
    for cat in catalogue:
        for name in (cat.key, cat.zh, cat.en):
            names[name.casefold()] = cat.key
    return names
