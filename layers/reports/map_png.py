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
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from layers.circles import center_minutes, walk_metres
from layers.coverage import counted_centers
from layers.dataset import Dataset, district_name
from layers.i18n import check_lang, text
from layers.reports.gaps import coverage_params

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


def _figure(size_in: float, dpi: int) -> tuple[Figure, Axes, Axes]:
    """The figure on an Agg canvas: the map axes and, right of it, the legend column."""
    fig = Figure(figsize=(size_in * 1.3, size_in), dpi=dpi)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, 2, width_ratios=(3.3, 1), wspace=0.02)
    ax = fig.add_subplot(grid[0, 0])
    side = fig.add_subplot(grid[0, 1])
    side.set_axis_off()
    return fig, ax, side


def _draw_boundary(ax: Axes, dataset: Dataset, crs: Any) -> None:
    """Subdistrict and community borders dashed, the district border solid."""
    if not dataset.has("boundary"):
        return
    boundary = dataset["boundary"].to_crs(crs)
    inner = boundary[boundary["level"] != "district"]
    if len(inner):
        inner.boundary.plot(ax=ax, color=_COLOURS["boundary"], linewidth=0.5, linestyle="--", zorder=1)
    outer = boundary[boundary["level"] == "district"]
    if len(outer):
        outer.boundary.plot(ax=ax, color=_COLOURS["boundary"], linewidth=1.4, zorder=1)


def _draw_rivers(ax: Axes, dataset: Dataset, crs: Any) -> None:
    """Water areas filled, river lines wide."""
    if not dataset.has("rivers"):
        return
    rivers = dataset["rivers"].to_crs(crs)
    polys = rivers[rivers.geom_type.str.contains("Polygon")]
    lines = rivers[~rivers.geom_type.str.contains("Polygon")]
    if len(polys):
        polys.plot(ax=ax, color=_COLOURS["river"], zorder=1)
    if len(lines):
        lines.plot(ax=ax, color=_COLOURS["river"], linewidth=3, zorder=1)


def _draw_roads(ax: Axes, dataset: Dataset, crs: Any) -> None:
    """Local roads thin, arterial and secondary roads thicker."""
    if not dataset.has("roads"):
        return
    roads = dataset["roads"].to_crs(crs)
    major = roads["class"].isin(["arterial", "secondary"]) if "class" in roads.columns else pd.Series(False, index=roads.index)
    if (~major).any():
        roads[~major].plot(ax=ax, color=_COLOURS["road"], linewidth=0.4, zorder=2)
    if major.any():
        roads[major].plot(ax=ax, color=_COLOURS["road"], linewidth=1.0, zorder=2)


def _walking_areas(dataset: Dataset) -> bool:
    """Whether the coverage was measured on the walking network and its service areas are there to draw."""
    areas = dataset.layers.get("service_areas")
    method = (dataset.meta.get("params") or {}).get("method")
    return method == "network" and areas is not None and len(areas) > 0


def _service_areas(
    dataset: Dataset, centers_m: gpd.GeoDataFrame, params: dict[str, Any], *, walking: bool
) -> gpd.GeoSeries:
    """The areas coverage was measured with: each centre's widest walking area, or its circle (metric CRS)."""
    crs = dataset.metric_crs
    if walking:
        areas = dataset.layers["service_areas"]
        own = areas[areas["center_id"].isin(centers_m["id"])]
        own = own[own["minutes"] == own.groupby("center_id")["minutes"].transform("max")]
        return gpd.GeoSeries([own.to_crs(crs).geometry.union_all()], crs=crs)
    minutes = center_minutes(centers_m["level"], minutes=params["minutes"], level_minutes=params["level_minutes"])
    radius = walk_metres(minutes, params["speed_kmh"])
    return gpd.GeoSeries(centers_m.geometry.buffer(np.asarray(radius), quad_segs=32).to_numpy(), crs=crs)


def _draw_service_areas(ax: Axes, areas: gpd.GeoSeries, *, walking: bool) -> None:
    areas.plot(ax=ax, facecolor=_COLOURS["circle"], alpha=0.07 if not walking else 0.25, edgecolor="none", zorder=3)
    areas.boundary.plot(ax=ax, color=_COLOURS["circle"], linewidth=0.5, alpha=0.6, zorder=3)


def _draw_compounds(ax: Axes, compounds: gpd.GeoDataFrame, covered: pd.Series) -> None:
    """Covered compounds green, uncovered ones red on top."""
    if covered.any():
        compounds[covered].plot(ax=ax, color=_COLOURS["covered"], edgecolor="#5a9e52", linewidth=0.3, zorder=4)
    if (~covered).any():
        compounds[~covered].plot(ax=ax, color=_COLOURS["uncovered"], edgecolor="#7f0000", linewidth=0.4, zorder=5)


def _draw_centers(ax: Axes, centers_m: gpd.GeoDataFrame) -> None:
    """One marker shape per centre level."""
    for level, (marker, size) in _MARKERS.items():
        pts = centers_m[centers_m["level"] == level]
        if len(pts):
            ax.scatter(pts.geometry.x, pts.geometry.y, marker=marker, s=size, c=_COLOURS["center"],
                       edgecolors="white", linewidths=0.6, zorder=7)


def _draw_sites(ax: Axes, sites: gpd.GeoDataFrame, crs: Any, radius_m: float | None) -> None:
    """Suggested sites as numbered stars, with their service circles dashed."""
    sm = sites.to_crs(crs)
    if radius_m:
        gpd.GeoSeries(sm.geometry.buffer(radius_m, quad_segs=32).to_numpy(), crs=crs).boundary.plot(
            ax=ax, color=_COLOURS["site"], linewidth=1.0, linestyle="--", zorder=6
        )
    ax.scatter(sm.geometry.x, sm.geometry.y, marker="*", s=260, c=_COLOURS["site"], edgecolors="white",
               linewidths=0.8, zorder=8)
    for i, (x, y) in enumerate(zip(sm.geometry.x, sm.geometry.y, strict=True), start=1):
        ax.annotate(str(i), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9, color=_COLOURS["site"],
                    fontweight="bold", zorder=9)


def _draw_top_labels(ax: Axes, top: gpd.GeoDataFrame) -> None:
    """Numbered white discs on the largest uncovered compounds."""
    pts = top.geometry.representative_point()
    ax.scatter(pts.x, pts.y, s=110, c="white", edgecolors="#67000d", linewidths=0.8, zorder=9)
    for i, (x, y) in enumerate(zip(pts.x, pts.y, strict=True), start=1):
        ax.annotate(str(i), (x, y), ha="center", va="center", fontsize=6.5, color="#67000d", zorder=10)


def _draw_frame(ax: Axes, lang: str, font: dict[str, Any]) -> None:
    """No ticks, true shapes, a scale bar bottom left and a north arrow top right."""
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


def _legend_handles(counted: gpd.GeoDataFrame, lang: str, *, walking: bool, sites: bool) -> list[Artist]:
    """Compound states, the service areas, the centre levels present and the suggested sites."""
    handles: list[Artist] = [
        Patch(facecolor=_COLOURS["covered"], edgecolor="#5a9e52", label=text("state.covered", lang)),
        Patch(facecolor=_COLOURS["uncovered"], edgecolor="#7f0000", label=text("state.uncovered", lang)),
        Patch(facecolor=_COLOURS["circle"], alpha=0.25, label=text("layer.service_areas" if walking else "layer.circles", lang)),
    ]
    for level, (marker, _) in _MARKERS.items():
        if len(counted) and (counted["level"] == level).any():
            handles.append(Line2D([], [], marker=marker, linestyle="none", color=_COLOURS["center"],
                                  label=text("level." + level, lang)))
    if sites:
        handles.append(Line2D([], [], marker="*", markersize=12, linestyle="none", color=_COLOURS["site"],
                              label=text("col.site", lang)))
    return handles


def _draw_legend(side: Axes, handles: list[Artist], lang: str, family: str | None) -> None:
    prop = font_manager.FontProperties(family=family, size=8) if family else font_manager.FontProperties(size=8)
    legend = side.legend(handles=handles, loc="upper left", prop=prop, frameon=False, title=text("map.legend", lang))
    legend.get_title().set_fontproperties(font_manager.FontProperties(family=family, size=9) if family else None)


def _draw_top_list(side: Axes, top: gpd.GeoDataFrame, lang: str, family: str | None, font: dict[str, Any]) -> None:
    """The numbered largest uncovered compounds with their households (names only where the font can show them)."""
    lines = [text("report.map_top_uncovered", lang)]
    for i, (name, hh) in enumerate(zip(top["name"], top["households"], strict=True), start=1):
        shown = str(name) if family or str(name).isascii() else ""
        lines.append(f"{i:>2}  {shown[:14]}  {int(hh):,}")
    side.text(0.0, 0.45, "\n".join(lines), transform=side.transAxes, va="top", fontsize=8, **font)


def _png(fig: Figure, dpi: int) -> bytes:
    fig.subplots_adjust(left=0.02, right=0.98, top=0.93, bottom=0.02)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


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
    fig, ax, side = _figure(size_in, dpi)
    font: dict[str, Any] = {"family": family} if family else {}
    compounds = dataset["compounds"].to_crs(crs)
    covered = compounds["covered"].astype(bool) if "covered" in compounds.columns else pd.Series(False, index=compounds.index)
    _draw_boundary(ax, dataset, crs)
    _draw_rivers(ax, dataset, crs)
    _draw_roads(ax, dataset, crs)
    params = coverage_params(dataset)
    counted = counted_centers(dataset["centers"], params["statuses"])
    centers_m = counted.to_crs(crs) if len(counted) else counted
    walking = _walking_areas(dataset)
    if len(counted):
        _draw_service_areas(ax, _service_areas(dataset, centers_m, params, walking=walking), walking=walking)
    _draw_compounds(ax, compounds, covered)
    if len(counted):
        _draw_centers(ax, centers_m)
    has_sites = sites is not None and len(sites) > 0
    if has_sites:
        _draw_sites(ax, sites, crs, site_radius_m)
    top = compounds[~covered].sort_values("households", ascending=False).head(label_top) if label_top else compounds.iloc[:0]
    if len(top):
        _draw_top_labels(ax, top)
    name = district_name(dataset)
    title = text("report.map_title", lang, name=name if family or name.isascii() else "District",
                 minutes=params["minutes"])
    fig.suptitle(title, fontsize=13, **font)
    _draw_frame(ax, lang, font)
    _draw_legend(side, _legend_handles(counted, lang, walking=walking, sites=has_sites), lang, family)
    if len(top):
        _draw_top_list(side, top, lang, family, font)
    return _png(fig, dpi)
