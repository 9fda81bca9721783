"""Which input layer a table is: the layer the reader knows, its own name, its file's name, else its geometry and columns.

:data:`LAYER_HINTS` lists the words (Chinese and English) that name a layer in
a file, layer or sheet name (``小区.shp``, sheet ``党群服务中心``).  Without
one, points with households are compounds, points with a level or status
centres, lines roads, and so on; a table nothing tells about is an error that
asks for ``--layer``.
"""

from __future__ import annotations

import pandas as pd

from geo.errors import InputError
from layers.importing.columns import HEADER_ALIASES
from layers.importing.options import TARGETS
from layers.importing.raw import RawLayer, header_key

#: Words in a file, layer or sheet name that say which layer it is (compared after header_key).
LAYER_HINTS: dict[str, tuple[str, ...]] = {
    # First: a "小区党组织" file is party organisations, not compounds.
    "party_orgs": ("partyorg", "partyorgs", "党组织", "党支部", "党委", "党总支", "党建联盟", "联盟成员", "成员单位"),
    "gates": ("gate", "gates", "出入口", "小区门", "大门"),
    "centers": ("center", "centre", "centers", "centres", "党群", "服务中心", "服务站", "阵地", "驿站"),
    "compounds": ("compound", "compounds", "residential", "小区", "居民区", "住宅", "楼盘"),
    "boundary": ("boundary", "boundaries", "admin", "district", "边界", "行政区", "区划", "辖区", "范围"),
    "rivers": ("river", "rivers", "water", "waterway", "河", "水系", "水域", "湖"),
    "roads": ("road", "roads", "street", "streets", "highway", "道路", "路网", "街巷"),
}


def _hint_layer(name: str) -> str | None:
    key = header_key(name)
    for layer, words in LAYER_HINTS.items():
        if any(w in key for w in words):
            return layer
    return None


def _alias_targets(frame: pd.DataFrame) -> set[str]:
    """Design columns the headers of ``frame`` can be mapped to (any layer)."""
    keys = {header_key(c) for c in frame.columns}
    found = set()
    for columns in HEADER_ALIASES.values():
        for column, names in columns.items():
            if keys & set(names):
                found.add(column)
    return found


def _named_layer(raw: RawLayer) -> tuple[str, str] | None:
    """The layer its layer/sheet name, else its file name, says, and why."""
    for hint_text, why in ((raw.hint, "name"), (str(raw.extra.get("file_stem", "")), "file name")):
        layer = _hint_layer(hint_text) if hint_text else None
        if layer:
            return layer, f"{why} `{hint_text}`"
    return None


def _shaped_layer(kinds: set[str], have: set[str]) -> tuple[str, str] | None:
    """The layer geometry kinds and mappable columns say, and why."""
    if kinds and kinds <= {"Point", "MultiPoint"}:
        if "households" in have:
            return "compounds", "points with households"
        if "level" in have or "status" in have:
            return "centers", "points with a level or status"
        if "type" in have or "members" in have:
            return "party_orgs", "points with an organisation type or members"
        if "compound" in have:
            return "gates", "points with a compound"
    if kinds and kinds <= {"Polygon", "MultiPolygon"}:
        if "households" in have:
            return "compounds", "polygons with households"
        if "members" in have or ("type" in have and "level" not in have):
            return "party_orgs", "polygons with an organisation type or members"
        if "parent" in have or "level" in have:
            return "boundary", "polygons with a level"
    if kinds and kinds <= {"LineString", "MultiLineString"}:
        return "roads", "lines"
    return None


def guess_layer(raw: RawLayer, *, columns: dict[str, str] | None = None) -> tuple[str, str]:
    """Which input layer a table is, and why: its layer/sheet name, its file name, else geometry and columns.

    Raises
    ------
    InputError
        When nothing tells; the message asks for ``--layer``.
    """
    if raw.target:
        return raw.target, "given by the reader"
    named = _named_layer(raw)
    if named:
        return named
    geoms = raw.frame.geometry
    present = geoms[~geoms.isna()]
    kinds = set(present.geom_type) if len(present) else set()
    shaped = _shaped_layer(kinds, _alias_targets(raw.frame) | set((columns or {}).values()))
    if shaped:
        return shaped
    msg = (
        f"cannot tell which layer `{raw.source}` is ({', '.join(sorted(kinds)) or 'no geometry'}); "
        f"give --layer {'|'.join(TARGETS)}"
    )
    raise InputError(msg, field="layer")
