"""Static maps of the gaps (matplotlib, PNG) for reports and site suggestions.

Drawn in the dataset's metric CRS (metres, true shapes) with the Agg canvas
directly, so no GUI backend and no global pyplot state is involved.  Chinese
labels need a CJK font: :func:`cjk_font_family` finds one (Noto Sans CJK from
Debian's ``fonts-noto-cjk``, installed by ``scripts/system-deps.sh``, or
WenQuanYi, Source Han, SimHei, Microsoft YaHei); without one the map falls
back to English labels and warns.
"""

from __future__ import annotations

import io
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from layers.circles import DEFAULT_MINUTES, DEFAULT_SPEED_KMH, center_minutes, walk_metres
from layers.coverage import DEFAULT_STATUSES
from layers.dataset import Dataset, district_name
from layers.i18n import check_lang, text

#: Font families tried, best first.
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Noto Serif CJK SC",
)
_CJK_FILE_HINTS: tuple[str, ...] = ("notosanscjk", "notoserifcjk", "sourcehan", "wqy", "simhei", "msyh", "pingfang")

_COLOURS = {
    "covered": "#a8d5a2",
    "uncovered": "#d7301f",
    "circle": "#2c7fb8",
    "road": "#9a9a9a",
    "river": "#9ecae1",
    "boundary": "#555555",
    "center": "#08306b",
    "site": "#7a0177",
}
_MARKERS = {"district": ("*", 220), "subdistrict": ("s", 70), "community": ("^", 60), "compound": ("o", 28)}


class CJKFontMissingWarning(UserWarning):
    """No CJK font was found; Chinese map labels fall back to English."""


@lru_cache(maxsize=1)
def cjk_font_family() -> str | None:
    """The name of an installed CJK font family matplotlib can use, or ``None``.

    Looks in matplotlib's font list first, then registers CJK font files found
    among the system fonts (matplotlib's cache may predate their install).
    """
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return family
    for path in font_manager.findSystemFonts():
        stem = Path(path).name.lower().replace("-", "").replace("_", "")
        if any(h in stem for h in _CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # pragma: no cover - unreadable font file
                continue
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return family
    return None


def map_language(lang: str) -> tuple[str, str | None]:
    """The language the map can be labelled in and the font family to use.

    Returns ``(lang, family)``; ``("en", None)`` with a
    :class:`CJKFontMissingWarning` when Chinese was asked for and no CJK font
    is installed.
    """
    lang = check_lang(lang)
    family = cjk_font_family()
    if lang == "zh" and family is None:
        warnings.warn(text("report.font_missing", "en"), CJKFontMissingWarning, stacklevel=3)
        return "en", None
    return lang, family


def _nice_length(width_m: float) -> float:
    """A round scale-bar length (m) near a fifth of the map width."""
    target = max(width_m / 5.0, 1.0)
    exp = 10 ** np.floor(np.log10(target))
    for step in (1, 2, 5, 10):
        if step * exp >= target:
            return float(step * exp)
    return float(10 * exp)  # pragma: no cover


def gap_map_png(
    dataset: Dataset,
    *,
    lang: str = "zh",
    sites: gpd.GeoDataFrame | None = None,
    site_radius_m: float | None = None,
    label_top: int = 8,
    size_in: float = 8.0,
    dpi: int = 110,
) -> bytes:
    """Draw the gaps of a built dataset as a PNG.

    Parameters
    ----------
    dataset
        Built dataset: compounds carry ``covered``; centres, roads, rivers and
        boundary are drawn when present.
    lang
        ``zh`` (default) or ``en`` for the title, legend and scale.
    sites
        Optional suggested sites (points, EPSG:4326) drawn as stars, with
        their service circles of ``site_radius_m`` metres.
    site_radius_m
        Radius of the suggested sites' circles (metres); none drawn if ``None``.
    label_top
        Label this many of the largest uncovered compounds with their name
        and households.
    size_in, dpi
        Map height (inches; the legend column adds 30 % width) and resolution.

    Returns
    -------
    bytes
        The PNG.
    """
    lang, family = map_language(lang)
    crs = dataset.metric_crs
    params = dataset.meta.get("params") or {}
    minutes = float(params.get("minutes", DEFAULT_MINUTES))
    speed = float(params.get("speed_kmh", DEFAULT_SPEED_KMH))
    statuses = list(params.get("statuses") or DEFAULT_STATUSES)

    fig = Figure(figsize=(size_in * 1.3, size_in), dpi=dpi)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, 2, width_ratios=(3.3, 1), wspace=0.02)
    ax = fig.add_subplot(grid[0, 0])
    side = fig.add_subplot(grid[0, 1])
    side.set_axis_off()
    font: dict[str, Any] = {"family": family} if family else {}

    compounds = dataset["compounds"].to_crs(crs)
    cov = compounds["covered"].astype(bool) if "covered" in compounds.columns else pd.Series(False, index=compounds.index)
    boundary = dataset["boundary"].to_crs(crs) if dataset.has("boundary") else None
    if boundary is not None:
        inner = boundary[boundary["level"] != "district"]
        if len(inner):
            inner.boundary.plot(ax=ax, color=_COLOURS["boundary"], linewidth=0.5, linestyle="--", zorder=1)
        outer = boundary[boundary["level"] == "district"]
        if len(outer):
            outer.boundary.plot(ax=ax, color=_COLOURS["boundary"], linewidth=1.4, zorder=1)
    if dataset.has("rivers"):
        rivers = dataset["rivers"].to_crs(crs)
        polys = rivers[rivers.geom_type.str.contains("Polygon")]
        lines = rivers[~rivers.geom_type.str.contains("Polygon")]
        if len(polys):
            polys.plot(ax=ax, color=_COLOURS["river"], zorder=1)
        if len(lines):
            lines.plot(ax=ax, color=_COLOURS["river"], linewidth=3, zorder=1)
    if dataset.has("roads"):
        roads = dataset["roads"].to_crs(crs)
        major = roads["class"].isin(["arterial", "secondary"]) if "class" in roads.columns else pd.Series(False, index=roads.index)
        if (~major).any():
            roads[~major].plot(ax=ax, color=_COLOURS["road"], linewidth=0.4, zorder=2)
        if major.any():
            roads[major].plot(ax=ax, color=_COLOURS["road"], linewidth=1.0, zorder=2)
    centers = dataset["centers"]
    counted = centers[centers["status"].isin(statuses)] if len(centers) else centers
    # Draw the service areas the coverage was measured with: walking areas for the network method.
    areas = dataset.layers.get("service_areas")
    walking = params.get("method") == "network" and areas is not None and len(areas) > 0
    if len(counted):
        cm = counted.to_crs(crs)
        if walking:
            own = areas[areas["center_id"].isin(cm["id"])]
            own = own[own["minutes"] == own.groupby("center_id")["minutes"].transform("max")]
            circles = gpd.GeoSeries([own.to_crs(crs).geometry.union_all()], crs=crs)
        else:
            radius = walk_metres(
                center_minutes(cm["level"], minutes=minutes, level_minutes=params.get("level_minutes") or {}), speed
            )
            circles = gpd.GeoSeries(cm.geometry.buffer(np.asarray(radius), quad_segs=32).to_numpy(), crs=crs)
        circles.plot(ax=ax, facecolor=_COLOURS["circle"], alpha=0.07 if not walking else 0.25, edgecolor="none", zorder=3)
        circles.boundary.plot(ax=ax, color=_COLOURS["circle"], linewidth=0.5, alpha=0.6, zorder=3)
    if cov.any():
        compounds[cov].plot(ax=ax, color=_COLOURS["covered"], edgecolor="#5a9e52", linewidth=0.3, zorder=4)
    if (~cov).any():
        compounds[~cov].plot(ax=ax, color=_COLOURS["uncovered"], edgecolor="#7f0000", linewidth=0.4, zorder=5)
    if len(counted):
        for level, (marker, size) in _MARKERS.items():
            pts = cm[cm["level"] == level]
            if len(pts):
                ax.scatter(pts.geometry.x, pts.geometry.y, marker=marker, s=size, c=_COLOURS["center"],
                           edgecolors="white", linewidths=0.6, zorder=7)
    if sites is not None and len(sites):
        sm = sites.to_crs(crs)
        if site_radius_m:
            gpd.GeoSeries(sm.geometry.buffer(site_radius_m, quad_segs=32).to_numpy(), crs=crs).boundary.plot(
                ax=ax, color=_COLOURS["site"], linewidth=1.0, linestyle="--", zorder=6
            )
        ax.scatter(sm.geometry.x, sm.geometry.y, marker="*", s=260, c=_COLOURS["site"], edgecolors="white",
                   linewidths=0.8, zorder=8)
        for i, (x, y) in enumerate(zip(sm.geometry.x, sm.geometry.y, strict=True), start=1):
            ax.annotate(str(i), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9, color=_COLOURS["site"],
                        fontweight="bold", zorder=9)
    top = compounds[~cov].sort_values("households", ascending=False).head(label_top) if label_top else compounds.iloc[:0]
    if len(top):
        pts = top.geometry.representative_point()
        ax.scatter(pts.x, pts.y, s=110, c="white", edgecolors="#67000d", linewidths=0.8, zorder=9)
        for i, (x, y) in enumerate(zip(pts.x, pts.y, strict=True), start=1):
            ax.annotate(str(i), (x, y), ha="center", va="center", fontsize=6.5, color="#67000d", zorder=10)

    name = district_name(dataset)
    title = text("report.map_title", lang, name=name if family or name.isascii() else "District", minutes=minutes)
    fig.suptitle(title, fontsize=13, **font)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    length = _nice_length(xmax - xmin)
    x0, y0 = xmin + 0.04 * (xmax - xmin), ymin + 0.04 * (ymax - ymin)
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=3, zorder=10, solid_capstyle="butt")
    ax.annotate(text("report.map_scale", lang, km=length / 1000), (x0 + length / 2, y0), xytext=(0, 5),
                textcoords="offset points", ha="center", fontsize=8, zorder=10, **font)
    ax.annotate(text("report.map_north", lang), xy=(0.96, 0.96), xytext=(0.96, 0.88), xycoords="axes fraction",
                ha="center", fontsize=10, arrowprops={"arrowstyle": "-|>", "color": "black"}, **font)
    handles: list[Artist] = [
        Patch(facecolor=_COLOURS["covered"], edgecolor="#5a9e52", label=text("state.covered", lang)),
        Patch(facecolor=_COLOURS["uncovered"], edgecolor="#7f0000", label=text("state.uncovered", lang)),
        Patch(facecolor=_COLOURS["circle"], alpha=0.25, label=text("layer.service_areas" if walking else "layer.circles", lang)),
    ]
    for level, (marker, _) in _MARKERS.items():
        if len(counted) and (counted["level"] == level).any():
            handles.append(Line2D([], [], marker=marker, linestyle="none", color=_COLOURS["center"],
                                  label=text("level." + level, lang)))
    if sites is not None and len(sites):
        handles.append(Line2D([], [], marker="*", markersize=12, linestyle="none", color=_COLOURS["site"],
                              label=text("col.site", lang)))
    prop = font_manager.FontProperties(family=family, size=8) if family else font_manager.FontProperties(size=8)
    legend = side.legend(handles=handles, loc="upper left", prop=prop, frameon=False, title=text("map.legend", lang))
    legend.get_title().set_fontproperties(font_manager.FontProperties(family=family, size=9) if family else None)
    if len(top):
        lines = [text("report.map_top_uncovered", lang)]
        for i, (name, hh) in enumerate(zip(top["name"], top["households"], strict=True), start=1):
            shown = str(name) if family or str(name).isascii() else ""
            lines.append(f"{i:>2}  {shown[:14]}  {int(hh):,}")
        side.text(0.0, 0.45, "\n".join(lines), transform=side.transAxes, va="top", fontsize=8, **font)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.93, bottom=0.02)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
