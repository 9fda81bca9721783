"""Parse category lists such as ``政策宣讲、帮扶救助`` or ``policy; errands``.

Separators: 、 , ; ， ； and whitespace.  Names may be keys, Chinese or
English names (multi-word English names kept whole); unknown names are returned so the importer can warn.
"""

from __future__ import annotations

import re

from layers.services.catalogue import DEFAULT_CATALOGUE, Category, lookup

_SEPARATORS = re.compile(r"[、,;，；\s]+")


def parse_categories(
    value: str | None, catalogue: tuple[Category, ...] = DEFAULT_CATALOGUE
) -> tuple[list[str], list[str]]:
    """Return (keys in catalogue order without duplicates, unknown names)."""
    if not value:
        return [], []
    names = lookup(catalogue)
    text = value.strip()
    for name in sorted((n for n in names if " " in n), key=len, reverse=True):
        text = re.sub(re.escape(name), names[name], text, flags=re.IGNORECASE)
    found: set[str] = set()
    unknown: list[str] = []
    for token in _SEPARATORS.split(text):
        if not token:
            continue
        key = names.get(token.casefold())
        if key is None:
            unknown.append(token)
        else:
            found.add(key)
    return [c.key for c in catalogue if c.key in found], unknown
