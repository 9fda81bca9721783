"""The text catalogue: every word a planner reads, in Chinese (default) and English.

Map legends, popups, report headings and CLI summaries take their words from
here and nowhere else.  ``text(key, lang)`` looks one up; a key missing in
English falls back to Chinese.
"""

from __future__ import annotations

from typing import Any

from geo.errors import InvalidValueError

LANGS: tuple[str, ...] = ("zh", "en")

ZH: dict[str, str] = {
    # layers
    "layer.boundary": "行政边界",
    "layer.roads": "道路",
    "layer.rivers": "河流",
    "layer.compounds": "居民小区",
    "layer.centers": "党群服务中心",
    "layer.units": "邻里单元",
    "layer.grids": "网格",
    "layer.cells": "分析格网",
    "layer.circles": "服务圈(直线)",
    "layer.service_areas": "服务圈(步行网络)",
    # centre levels and statuses
    "level.district": "区级",
    "level.subdistrict": "街道级",
    "level.community": "社区级",
    "level.compound": "小区级",
    "status.existing": "已建",
    "status.planned": "规划",
    "status.proposed": "拟建",
    "boundary.district": "区",
    "boundary.subdistrict": "街道",
    "boundary.community": "社区",
    # compound states and flags
    "state.covered": "已覆盖",
    "state.uncovered": "未覆盖",
    "state.covered_no_org": "已覆盖·无小区党组织",
    "flag.uncovered": "未覆盖",
    "flag.no_party_org": "无小区党组织",
    "flag.far_from_road": "距道路过远",
    "flag.disconnected": "路网不连通",
    "flag.no_centers": "无服务中心",
    "flag.oversize": "超出规模",
    "flag.undersize": "不足规模",
    "flag.empty": "无小区",
    "method.circle": "直线距离",
    "method.network": "步行网络",
    # fields
    "field.name": "名称",
    "field.households": "户数",
    "field.population": "人口",
    "field.community": "所属社区",
    "field.has_party_org": "小区党组织",
    "field.nearest_center": "最近服务中心",
    "field.walk_min": "步行时间(分钟)",
    "field.walk_m": "步行距离(米)",
    "field.straight_m": "直线距离(米)",
    "field.level": "级别",
    "field.status": "状态",
    "field.compounds": "小区数",
    "field.coverage": "覆盖率",
    "field.staffing": "人员配置(1+1+1+N)",
    "field.area_m2": "面积(平方米)",
    "field.bounded_by": "边界道路/河流",
    "field.flags": "问题",
    "field.minutes": "服务时间(分钟)",
    "yes": "有",
    "no": "无",
    # summary
    "summary.title": "{name} 党群服务中心覆盖情况({minutes:g}分钟, {method})",
    "summary.compounds": "居民小区 {total} 个: 已覆盖 {covered} 个, 未覆盖 {uncovered} 个 (覆盖率 {share:.1%})",
    "summary.households": "居民户数 {total:,} 户: 已覆盖 {covered:,} 户, 未覆盖 {uncovered:,} 户 (覆盖率 {share:.1%})",
    "summary.centers": "计入的服务中心 {counted} 个 (共 {total} 个; {by_level})",
    "summary.layers": "邻里单元 {units} 个, 网格 {grids} 个, 分析格网 {cells} 个, 服务圈 {circles} 个",
    "summary.no_party_org": "无小区党组织的小区 {n} 个",
    "summary.repaired": "已修复几何 {n} 处, 舍弃无效记录 {rejected} 条",
    "summary.top_uncovered": "户数最多的未覆盖小区:",
    "summary.uncovered_row": "  {name}({community}) {households} 户, 最近 {center} 步行 {walk_min} 分钟",
    "summary.no_centers_reason": "数据中没有计入的党群服务中心, 所有小区均为未覆盖",
    "summary.written": "已写入 {path}",
    "summary.method_compare": "直线距离法误判为已覆盖的小区 {n} 个 ({households:,} 户)",
    "progress.read": "读取数据",
    "progress.units": "划分邻里单元",
    "progress.coverage": "计算覆盖",
    "progress.grids": "划分网格",
    "progress.cells": "生成分析格网",
    "progress.circles": "生成服务圈",
    "progress.service_areas": "生成步行服务圈",
    "progress.write": "写出结果",
    # map
    "map.title": "党群服务中心 15分钟服务圈",
    "map.legend": "图例",
    "map.search": "搜索小区或服务中心",
}

EN: dict[str, str] = {
    "layer.boundary": "Boundaries",
    "layer.roads": "Roads",
    "layer.rivers": "Rivers",
    "layer.compounds": "Residential compounds",
    "layer.centers": "Party-mass service centres",
    "layer.units": "Neighbourhood units",
    "layer.grids": "Governance grids",
    "layer.cells": "Analysis cells",
    "layer.circles": "Service circles (straight line)",
    "layer.service_areas": "Service areas (walking network)",
    "level.district": "District",
    "level.subdistrict": "Subdistrict",
    "level.community": "Community",
    "level.compound": "Compound",
    "status.existing": "existing",
    "status.planned": "planned",
    "status.proposed": "proposed",
    "boundary.district": "District",
    "boundary.subdistrict": "Subdistrict",
    "boundary.community": "Community",
    "state.covered": "Covered",
    "state.uncovered": "Not covered",
    "state.covered_no_org": "Covered, no party organisation",
    "flag.uncovered": "not covered",
    "flag.no_party_org": "no party organisation",
    "flag.far_from_road": "far from any road",
    "flag.disconnected": "network cut off",
    "flag.no_centers": "no service centre",
    "flag.oversize": "over size",
    "flag.undersize": "under size",
    "flag.empty": "no compounds",
    "method.circle": "straight line",
    "method.network": "walking network",
    "field.name": "Name",
    "field.households": "Households",
    "field.population": "Population",
    "field.community": "Community",
    "field.has_party_org": "Party organisation",
    "field.nearest_center": "Nearest centre",
    "field.walk_min": "Walk (min)",
    "field.walk_m": "Walk (m)",
    "field.straight_m": "Straight line (m)",
    "field.level": "Level",
    "field.status": "Status",
    "field.compounds": "Compounds",
    "field.coverage": "Coverage",
    "field.staffing": "Staffing (1+1+1+N)",
    "field.area_m2": "Area (m²)",
    "field.bounded_by": "Bounded by",
    "field.flags": "Issues",
    "field.minutes": "Minutes",
    "yes": "yes",
    "no": "no",
    "summary.title": "{name}: service-centre coverage ({minutes:g} min, {method})",
    "summary.compounds": "Compounds {total}: covered {covered}, not covered {uncovered} ({share:.1%} covered)",
    "summary.households": "Households {total:,}: covered {covered:,}, not covered {uncovered:,} ({share:.1%} covered)",
    "summary.centers": "Centres counted {counted} (of {total}; {by_level})",
    "summary.layers": "{units} neighbourhood units, {grids} grids, {cells} analysis cells, {circles} service circles",
    "summary.no_party_org": "Compounds without a party organisation: {n}",
    "summary.repaired": "Geometries repaired: {n}; unusable rows left out: {rejected}",
    "summary.top_uncovered": "Largest compounds not covered:",
    "summary.uncovered_row": "  {name} ({community}) {households} households, nearest {center} {walk_min} min walk",
    "summary.no_centers_reason": "The data has no counted service centre: every compound is uncovered",
    "summary.written": "Written to {path}",
    "summary.method_compare": "Compounds the straight-line circle wrongly calls covered: {n} ({households:,} households)",
    "progress.read": "Reading data",
    "progress.units": "Neighbourhood units",
    "progress.coverage": "Coverage",
    "progress.grids": "Governance grids",
    "progress.cells": "Analysis cells",
    "progress.circles": "Service circles",
    "progress.service_areas": "Walking service areas",
    "progress.write": "Writing",
    "map.title": "Party-mass service centres: 15-minute service circles",
    "map.legend": "Legend",
    "map.search": "Find a compound or centre",
}

CATALOGUES: dict[str, dict[str, str]] = {"zh": ZH, "en": EN}


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise an error listing the languages."""
    if lang not in CATALOGUES:
        msg = f"`lang` must be one of {', '.join(LANGS)}; got {lang!r}"
        raise InvalidValueError(msg, field="lang")
    return lang


def text(key: str, lang: str = "zh", **values: Any) -> str:
    """The text for ``key`` in ``lang``, formatted with ``values``.

    Unknown keys come back as the key itself so a missing word shows, not crashes.
    """
    template = CATALOGUES[check_lang(lang)].get(key) or ZH.get(key) or key
    return template.format(**values) if values else template


def flag_text(flags: str, lang: str = "zh") -> str:
    """Translate a comma-separated flag code list (``uncovered,no_party_org``)."""
    sep = "、" if lang == "zh" else ", "
    return sep.join(text(f"flag.{f}", lang) for f in str(flags).split(",") if f)
