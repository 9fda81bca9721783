"""Governance grid codes in the CJ/T 349-2010 style, kept across rebuilds.

A code is 16 digits: the district's 6-digit administrative code, a 3-digit
street (subdistrict) number, a 3-digit community number within the street and
a 4-digit grid number within the community (``150603001002 0003`` without the
space).  Street and community numbers come from the boundary's ids when they
are administrative codes (9 and 12 digits), else they are given in name order
and remembered; a grid keeps its number while its compounds stay the same
(the numbers are remembered by the grid's parent and compound ids), and a new
grid takes the next free number of its community.  The memory is the
dataset's ``meta["grid_codes"]``, so a rebuild in the store keeps the codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np

#: Code used for the district when neither a setting nor the district boundary gives one.
UNKNOWN_DISTRICT = "000000"
_DIGITS = re.compile(r"\d+")


@dataclass
class CodeBook:
    """The numbers given so far: streets by name, communities by street and name, grids by signature."""

    streets: dict[str, str] = field(default_factory=dict)
    communities: dict[str, str] = field(default_factory=dict)
    grids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_meta(cls, stored: Any) -> CodeBook:
        """The code book stored in meta (an empty one when absent or unreadable)."""
        if not isinstance(stored, dict):
            return cls()
        parts = {k: v for k, v in stored.items() if k in ("streets", "communities", "grids") and isinstance(v, dict)}
        return cls(**{k: {str(a): str(b) for a, b in v.items()} for k, v in parts.items()})

    def as_meta(self) -> dict[str, dict[str, str]]:
        """Plain JSON for ``meta["grid_codes"]``."""
        return {"streets": dict(self.streets), "communities": dict(self.communities), "grids": dict(self.grids)}


def _numbered(book: dict[str, str], names: list[str], width: int, given: dict[str, str]) -> None:
    """Give every name of ``names`` a number of ``width`` digits: its given code, its old number, else the next free one."""
    for name, code in given.items():
        book.setdefault(name, code)
    used = {int(v) for v in book.values() if v.isdigit()}
    nxt = 1
    for name in sorted(n for n in names if n not in book):
        while nxt in used:
            nxt += 1
        book[name] = f"{nxt:0{width}d}"
        used.add(nxt)


def _admin_part(value: Any, start: int, stop: int) -> str | None:
    """Digits ``start:stop`` of an id that is an administrative code of at least ``stop`` digits."""
    digits = "".join(_DIGITS.findall(str(value)))
    return digits[start:stop] if len(digits) >= stop and str(value).strip().isdigit() else None


def district_code(setting: str, boundary: gpd.GeoDataFrame) -> str:
    """The 6-digit district code: the setting, else the district boundary's id when it is one, else ``000000``."""
    if setting:
        return setting
    if len(boundary) and "level" in boundary.columns:
        for value in boundary.loc[boundary["level"] == "district", "id"]:
            code = _admin_part(value, 0, 6)
            if code:
                return code
    return UNKNOWN_DISTRICT


def grid_codes(grids: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame, *, district: str, book: CodeBook) -> tuple[np.ndarray, CodeBook]:
    """The 16-digit code of every grid, and the code book to remember.

    Parameters
    ----------
    grids
        Grids with ``id``, ``parent`` (the community or unit name), ``parent_level`` and ``compound_ids``.
    boundary
        The boundary layer (``name``, ``level``, ``parent``, ``id``): the street each community belongs to.
    district
        The district's 6-digit code (:func:`district_code`).
    book
        What earlier builds gave (:meth:`CodeBook.from_meta`); not changed.
    """
    out = CodeBook(dict(book.streets), dict(book.communities), dict(book.grids))
    codes = np.full(len(grids), "", dtype=object)
    if not len(grids):
        return codes, out
    communities = boundary[boundary["level"] == "community"] if len(boundary) else boundary
    street_of = dict(zip(communities["name"].astype(str), communities["parent"].astype(str), strict=True)) if len(communities) else {}
    streets = boundary[boundary["level"] == "subdistrict"] if len(boundary) else boundary
    given_streets = {str(n): c for n, i in zip(streets.get("name", []), streets.get("id", []), strict=True) if (c := _admin_part(i, 6, 9))}
    given_comms = {
        f"{street_of.get(str(n), '')}/{n}": c
        for n, i in zip(communities.get("name", []), communities.get("id", []), strict=True)
        if (c := _admin_part(i, 9, 12))
    }
    parents = grids["parent"].astype(str).to_numpy()
    street = np.array([street_of.get(p, "") for p in parents], dtype=object)
    _numbered(out.streets, sorted(set(street)), 3, given_streets)
    keys = [f"{s}/{p}" for s, p in zip(street, parents, strict=True)]
    for s in sorted(set(street)):
        mine = sorted({k for k, st in zip(keys, street, strict=True) if st == s})
        local = {k: v for k, v in out.communities.items() if k.startswith(f"{s}/")}
        _numbered(local, mine, 3, {k: v for k, v in given_comms.items() if k.startswith(f"{s}/")})
        out.communities.update(local)
    signatures = [f"{k}|{ids}" for k, ids in zip(keys, grids["compound_ids"].fillna("").astype(str), strict=True)]
    for key in dict.fromkeys(keys):  # each community in grid order
        positions = [i for i, k in enumerate(keys) if k == key]
        taken = {out.grids[signatures[i]] for i in positions if signatures[i] in out.grids}
        nxt = 1
        for i in positions:
            seq = out.grids.get(signatures[i])
            if seq is None:
                while f"{nxt:04d}" in taken:
                    nxt += 1
                seq = f"{nxt:04d}"
                taken.add(seq)
                out.grids[signatures[i]] = seq
            s = street[i]
            codes[i] = f"{district}{out.streets[s]}{out.communities[key]}{seq}"
    out.grids = {sig: out.grids[sig] for sig in signatures}  # remember today's grids only
    return codes, out
