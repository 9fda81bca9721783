"""Source headers renamed to the design's columns: Chinese and English spellings, the user's own, safe names.

:data:`HEADER_ALIASES` lists, per layer and design column, the headers that
mean it (``户数``, ``总户数`` -> ``households``; ``所属社区`` -> ``community``),
compared after :func:`~layers.importing.raw.header_key` so ``户数(户)`` and
``Point_X`` match too.  :func:`map_columns` applies the user's ``--columns``
first, then these; :func:`safe_column_name` makes every kept header safe in a
GeoPackage, a CSV file and a spreadsheet (no formulas, no control characters).
"""

from __future__ import annotations

import re
from typing import Any

import geopandas as gpd
import pandas as pd

from layers.importing.raw import header_key
from layers.importing.tables import COORDINATE_COLUMNS

#: Header spellings per layer and design column (compared after :func:`~layers.importing.raw.header_key`).
HEADER_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "compounds": {
        "id": ("id", "编号", "小区编号", "代码", "小区代码"),
        "name": ("name", "名称", "小区名称", "小区名", "小区", "名字", "居民小区", "小区名字"),
        "households": ("households", "hh", "户数", "总户数", "住户数", "居民户数", "户数合计", "入住户数"),
        "population": ("population", "pop", "人口", "人口数", "常住人口", "总人口", "居住人口", "人数"),
        "community": ("community", "所属社区", "社区", "社区名称", "所在社区"),
        "has_party_org": (
            "haspartyorg", "partyorg", "是否有小区党组织", "小区党组织", "是否建立小区党组织",
            "有无党组织", "是否有党组织", "党组织", "是否成立党组织",
            # DBF field names stop at 10 bytes: five Chinese characters in GBK.
            "是否有小区", "是否建立小", "是否成立党", "是否有党组",
        ),
        "needs": ("needs", "服务需求", "需求", "需求清单", "服务需求清单", "居民需求"),
    },
    "centers": {
        "id": ("id", "编号", "代码", "中心编号"),
        "name": ("name", "名称", "中心名称", "站点名称", "服务中心名称", "阵地名称", "名字", "党群服务中心"),
        "level": ("level", "级别", "等级", "层级", "中心级别"),
        "status": ("status", "状态", "建设状态", "现状"),
        "community": ("community", "所属社区", "社区", "所在社区", "社区名称"),
        "capacity": ("capacity", "容量", "服务能力", "服务人数"),
        "services": ("services", "服务项目", "服务内容", "服务项目清单", "服务类别", "提供服务"),
    },
    "roads": {
        "id": ("id", "编号"),
        "name": ("name", "名称", "道路名称", "路名"),
        "class": ("class", "道路等级", "等级", "道路类型", "类别", "道路级别"),
        "walkable": ("walkable", "可步行", "是否可步行"),
        "bridge": ("bridge", "桥梁", "是否桥梁", "桥", "是否桥", "是否为桥梁", "高架"),
        "tunnel": ("tunnel", "隧道", "是否隧道", "是否为隧道", "地道"),
        "layer": ("layer", "层", "层级", "道路层", "立交层", "道路层级"),
    },
    "rivers": {"id": ("id", "编号"), "name": ("name", "名称", "河流名称", "河名", "水系名称")},
    "boundary": {
        "id": ("id", "编号", "代码", "区划代码"),
        "name": ("name", "名称", "行政区名称", "区划名称", "社区名称", "街道名称"),
        "level": ("level", "级别", "层级", "行政级别"),
        "parent": ("parent", "上级", "所属街道", "上级区划", "上级名称"),
    },
    "gates": {"compound": ("compound", "所属小区", "小区", "小区编号"), "name": ("name", "名称", "门名称")},
    "party_orgs": {
        "id": ("id", "编号", "组织编号", "组织代码", "党组织编号"),
        "name": ("name", "名称", "组织名称", "党组织名称", "单位名称", "支部名称"),
        "type": ("type", "组织类型", "类型", "党组织类型", "单位类型", "类别"),
        "members": ("members", "党员数", "党员人数", "党员", "党员数量"),
        "parent": ("parent", "上级党组织", "上级组织", "上级", "隶属党组织"),
        "compound": ("compound", "所属小区", "小区", "小区编号"),
        "alliance": ("alliance", "联盟", "所属联盟", "邻里联盟", "党建联盟", "联盟单元", "结对单元", "结对社区"),
        "role": ("role", "结对方式", "联系方式类型", "关系", "角色", "共建方式"),
        "community": ("community", "所属社区", "社区", "所在社区", "社区名称"),
    },
}

#: Characters a column name may not start with (a spreadsheet would read a formula) and may not hold at all.
_FORMULA_LEAD = "=+-@\t\r\n '\""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_COLUMN_NAME = 63


def safe_column_name(name: str, position: int) -> str:
    """A source column name safe in a GeoPackage, a CSV header and a spreadsheet.

    Control characters go, leading formula characters (``= + - @``, quotes,
    blanks) are stripped, the name is cut to 63 characters; an empty result
    becomes ``column_<position>``.  The import report keeps the original.
    """
    cleaned = _CONTROL.sub("", name).lstrip(_FORMULA_LEAD).strip()[:_MAX_COLUMN_NAME]
    return cleaned or f"column_{position}"


def _alias_renames(columns: pd.Index, layer: str, geom: Any, user: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    """The user's renames plus one header per design column of ``layer`` matched by its spellings; the design columns filled."""
    renames = {src: dst for src, dst in user.items() if src in columns and src != geom and dst not in COORDINATE_COLUMNS}
    taken = set(renames.values())
    for column, names in HEADER_ALIASES.get(layer, {}).items():
        if column in taken:
            continue
        if column in columns and column not in renames:
            taken.add(column)
            continue
        src = next((c for c in columns if c not in renames and c != geom and c not in taken and header_key(c) in names), None)
        if src is not None:
            renames[src] = column
            taken.add(column)
    return renames, taken


def _case_fixes(columns: pd.Index, geom: Any) -> dict[Any, str]:
    """Columns named ``fid`` (GeoPackage's own) or repeating an earlier name case-insensitively, renamed ``*_source``."""
    seen: set[str] = set()
    fixes: dict[Any, str] = {}
    for c in columns:
        low = str(c).lower()
        if low == "fid" or (low in seen and c != geom):
            fixes[c] = f"{c}_source"
        seen.add(low)
    return fixes


def _safe_renames(columns: pd.Index, geom: Any) -> dict[Any, str]:
    """Columns whose names :func:`safe_column_name` changes, with new names unique case-insensitively."""
    cleaned: dict[Any, str] = {}
    names = {str(c).lower() for c in columns}
    for i, c in enumerate(columns):
        new = safe_column_name(str(c), i) if c != geom else c
        if new != c:
            new = new if new.lower() not in names else f"{new}_{i}"
            names.add(new.lower())
            cleaned[c] = new
    return cleaned


def map_columns(frame: gpd.GeoDataFrame, layer: str, user: dict[str, str]) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Rename source headers to the design's columns of ``layer``.

    The user's ``--columns`` pairs come first, then a header already named as
    the design column, then the built-in spellings (``户数`` -> ``households``).

    Returns
    -------
    (GeoDataFrame, mapping)
        The renamed frame (columns colliding with GeoPackage's ``fid`` or with
        each other case-insensitively are renamed ``*_source``) and the
        ``{source header: design column}`` mapping used.
    """
    geom = frame.geometry.name
    renames, taken = _alias_renames(frame.columns, layer, geom, user)
    # A source column already named like a design column that another header now fills moves aside.
    displaced = {c: f"{c}_source" for c in frame.columns if c in taken and c not in renames and c in renames.values()}
    out = frame.rename(columns={**displaced, **renames})
    fixes = _case_fixes(out.columns, geom)
    if fixes:
        out = out.rename(columns=fixes)
    cleaned = _safe_renames(out.columns, geom)
    if cleaned:  # a header such as `=HYPERLINK(...)` never reaches a spreadsheet as a formula
        out = out.rename(columns=cleaned)
        renames.update({str(src): new for src, new in cleaned.items()})
    return out, renames
