"""Map styling: one palette and one style per layer for the web map, the PNG tiles and the report maps' colours.

The colours a planner sees are defined once here (:data:`PALETTE`,
:func:`layer_style`): compounds covered / uncovered / covered without a party
organisation, centres per level with their status, analysis cells on a
red-yellow-green coverage ramp.  The web map takes :func:`layer_style` as
JSON; :func:`layer_paint` turns it into per-feature colours and widths
(vectorised) for :mod:`layers.tiles.raster`, and :func:`draw_order` says
which features go on top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

#: Compound states, in legend order.
COMPOUND_STATES: tuple[str, ...] = ("covered", "covered_no_org", "uncovered")

PALETTE: dict[str, Any] = {
    "compound": {"covered": "#2f9e5a", "covered_no_org": "#f2a93b", "uncovered": "#d7301f"},
    "level": {"district": "#a50026", "subdistrict": "#e35a1a", "community": "#1f6fb4", "compound": "#6a3d9a"},
    "coverage_ramp": [[0.0, "#d73027"], [0.5, "#fee08b"], [1.0, "#1a9850"]],
    # uncovered compounds by minutes of walk beyond the target (0 = just over, 20 or more = far)
    "gap_ramp": [[0.0, "#fcbba1"], [5.0, "#fb6a4a"], [10.0, "#cb181d"], [20.0, "#67000d"]],
    "no_party_org": "#3f007d",
    # party organisations by type: the community's own in party red, the units of the alliance around it
    "org_type": {
        "community": "#c8102e", "compound": "#e8590c", "grid": "#d4a017", "government": "#1c3d8c",
        "institution": "#0b7a75", "state_enterprise": "#6a1b9a", "private_enterprise": "#2e7d32",
        "social_org": "#c2185b", "joint": "#795548",
    },
    "no_households": "#cfd8dc",
    "boundary": {"district": "#8b1a1a", "subdistrict": "#455a64", "community": "#78909c"},
    "units": "#37474f",
    "grids": "#7b1fa2",
    "road": "#ffffff",
    "road_casing": "#c8c0b2",
    "water": "#a9d3e6",
    "water_edge": "#7fb3d0",
    "paper": "#f4f2ee",
    # a compound's walk to its centre: within the target, and the part beyond it
    "route": "#0b4f9c",
    "route_beyond": "#b71c1c",
}

#: Road line widths per class (px at 1x) on the offline context tiles.
ROAD_WIDTH_PX: dict[str, float] = {"arterial": 5.0, "secondary": 3.5, "local": 2.0, "path": 1.2}

#: Marker radius of a party organisation (px at 1x): smaller than the smallest centre.
ORG_RADIUS_PX = 5.0
#: Marker radius of a centre per level (px at 1x).
CENTER_RADIUS_PX: dict[str, float] = {"district": 13.0, "subdistrict": 11.0, "community": 9.0, "compound": 7.5}


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` to an (r, g, b) tuple of 0-255 ints."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _darker(colour: str, factor: float = 0.72) -> str:
    r, g, b = hex_rgb(colour)
    return "#{:02x}{:02x}{:02x}".format(*(int(v * factor) for v in (r, g, b)))


def compound_state(compounds: pd.DataFrame) -> pd.Series:
    """``covered``, ``covered_no_org`` (covered, no party organisation) or ``uncovered`` per compound."""
    covered = compounds["covered"].to_numpy(bool) if "covered" in compounds else np.zeros(len(compounds), bool)
    org = compounds["has_party_org"].to_numpy(bool) if "has_party_org" in compounds else np.ones(len(compounds), bool)
    state = np.where(covered, np.where(org, "covered", "covered_no_org"), "uncovered")
    return pd.Series(state, index=compounds.index, dtype=object)


def coverage_colours(share: np.ndarray) -> np.ndarray:
    """RGB (n x 3 uint8) of coverage shares 0-1 on the red-yellow-green ramp; NaN gets the no-households grey."""
    share = np.asarray(share, dtype=float)
    stops = np.array([s for s, _ in PALETTE["coverage_ramp"]])
    rgb = np.array([hex_rgb(c) for _, c in PALETTE["coverage_ramp"]], dtype=float)
    clipped = np.clip(np.nan_to_num(share, nan=0.0), 0.0, 1.0)
    out = np.column_stack([np.interp(clipped, stops, rgb[:, k]) for k in range(3)])
    out[np.isnan(share)] = hex_rgb(PALETTE["no_households"])
    return np.round(out).astype(np.uint8)


def layer_style() -> dict[str, Any]:
    """The map style of every layer as plain JSON (Leaflet path options and the palette).

    The web map's script and the PNG renderer read the same values.
    """
    compound = PALETTE["compound"]
    return {
        "palette": PALETTE,
        "center_radius": CENTER_RADIUS_PX,
        "compounds": {
            "fill": compound,
            "stroke": {k: _darker(v) for k, v in compound.items()},
            "weight": 1.0,
            "fillOpacity": 0.62,
            "no_party_org": {"color": PALETTE["no_party_org"], "weight": 1.6, "dashArray": "3 2"},
        },
        "cells": {"weight": 0.6, "color": "#ffffff", "fillOpacity": 0.6},
        "route": {"color": PALETTE["route"], "beyond": PALETTE["route_beyond"], "casing": "#ffffff", "weight": 4.0, "dashArray": "7 6"},
        "units": {"color": PALETTE["units"], "weight": 2.0, "dashArray": "6 4", "fillOpacity": 0.0},
        "grids": {"color": PALETTE["grids"], "weight": 1.0, "dashArray": "2 3", "fillOpacity": 0.0},
        "boundary": {
            "district": {"color": PALETTE["boundary"]["district"], "weight": 3.5, "fillOpacity": 0.0},
            "subdistrict": {"color": PALETTE["boundary"]["subdistrict"], "weight": 2.5, "fillOpacity": 0.0},
            "community": {"color": PALETTE["boundary"]["community"], "weight": 1.2, "dashArray": "5 4", "fillOpacity": 0.0},
        },
        "circles": {"weight": 1.2, "dashArray": "4 4", "fillOpacity": 0.04},
        "roads": {"color": PALETTE["road"], "casing": PALETTE["road_casing"], "width": ROAD_WIDTH_PX},
        "rivers": {"color": PALETTE["water_edge"], "fillColor": PALETTE["water"], "weight": 1.0, "fillOpacity": 1.0},
        "service_areas": {"weight": 1.5, "fillOpacity": 0.08},
        "party_orgs": {"radius": ORG_RADIUS_PX, "color": "#ffffff", "weight": 1.2, "fillOpacity": 0.95},
    }


# --------------------------------------------------------------------------------------------
# per-feature paint (vectorised)


@dataclass(frozen=True)
class Paint:
    """Per-feature colours (RGBA uint8, alpha 0 = none) and widths (px at 1x) of one layer."""

    fill: np.ndarray
    stroke: np.ndarray
    width: np.ndarray
    radius: np.ndarray | None = None
    casing: np.ndarray | None = None


def _rgba(colours: np.ndarray | list[str], alpha: float | np.ndarray) -> np.ndarray:
    rgb = np.array([hex_rgb(c) for c in colours], dtype=np.uint8).reshape(-1, 3)
    a = np.broadcast_to(np.round(np.asarray(alpha, dtype=float) * 255), (len(rgb),)).astype(np.uint8)
    return np.column_stack([rgb, a])


def _level_colour(levels: pd.Series) -> np.ndarray:
    return levels.astype(str).map(PALETTE["level"]).fillna("#607d8b").to_numpy(dtype=object)


def _none(n: int) -> np.ndarray:
    """No colour for ``n`` features."""
    return np.zeros((n, 4), dtype=np.uint8)


def _paint_compounds(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
    state = compound_state(frame)
    fill = _rgba(state.map(style["compounds"]["fill"]).to_numpy(), style["compounds"]["fillOpacity"])
    stroke = _rgba(state.map(style["compounds"]["stroke"]).to_numpy(), 1.0)
    return Paint(fill, stroke, np.full(len(frame), style["compounds"]["weight"]))


def _paint_cells(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
    rgb = coverage_colours(frame["coverage"].to_numpy(dtype=float))
    alpha = np.where(frame["households"].to_numpy(dtype=float) > 0, style["cells"]["fillOpacity"], 0.0)
    fill = np.column_stack([rgb, np.round(alpha * 255).astype(np.uint8)])
    stroke = np.tile(np.array([255, 255, 255, 140], dtype=np.uint8), (len(frame), 1))
    stroke[alpha == 0] = 0
    return Paint(fill, stroke, np.full(len(frame), style["cells"]["weight"]))


def _paint_outline(layer: str) -> Callable[[pd.DataFrame, dict[str, Any]], Paint]:
    """Units and grids: an outline of one colour and width, no fill."""

    def paint(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
        n, s = len(frame), style[layer]
        return Paint(_none(n), _rgba([s["color"]] * n, 1.0), np.full(n, s["weight"]))

    return paint


def _paint_boundary(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
    n = len(frame)
    lv = frame["level"].astype(str) if "level" in frame else pd.Series(["district"] * n)
    colours = lv.map(lambda v: style["boundary"].get(v, style["boundary"]["community"])["color"]).to_numpy()
    widths = lv.map(lambda v: style["boundary"].get(v, style["boundary"]["community"])["weight"]).to_numpy(dtype=float)
    return Paint(_none(n), _rgba(colours, 1.0), widths)


def _paint_areas(layer: str) -> Callable[[pd.DataFrame, dict[str, Any]], Paint]:
    """Circles and walking service areas: filled lightly and outlined in the colour of their centre's level."""

    def paint(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
        n, s = len(frame), style[layer]
        colours = _level_colour(frame["level"]) if "level" in frame else np.array(["#1f6fb4"] * n, dtype=object)
        return Paint(_rgba(colours, s["fillOpacity"] * 1.5), _rgba(colours, 1.0), np.full(n, s["weight"]))

    return paint


def _paint_roads(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
    n = len(frame)
    cls = frame["class"].astype(str) if "class" in frame else pd.Series(["local"] * n)
    widths = cls.map(ROAD_WIDTH_PX).fillna(2.0).to_numpy(dtype=float)
    return Paint(_none(n), _rgba([PALETTE["road"]] * n, 1.0), widths, casing=_rgba([PALETTE["road_casing"]] * n, 1.0))


def _paint_rivers(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
    is_line = np.isin(shapely.get_type_id(np.asarray(frame.geometry.to_numpy())), [1, 2, 5])
    stroke = _rgba(np.where(is_line, PALETTE["water"], PALETTE["water_edge"]), 1.0)
    return Paint(_rgba([PALETTE["water"]] * len(frame), 1.0), stroke, np.where(is_line, 6.0, 1.0))


def _paint_centers(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
    """Open centres filled in their level's colour with a white ring; planned ones white with a coloured ring."""
    colours = _level_colour(frame["level"])
    status = frame["status"].astype(str).to_numpy() if "status" in frame else np.full(len(frame), "existing")
    fill = _rgba(colours, 1.0)
    fill[status != "existing"] = (255, 255, 255, 255)
    stroke = _rgba(colours, 1.0)
    stroke[status == "existing"] = (255, 255, 255, 255)
    radius = frame["level"].astype(str).map(CENTER_RADIUS_PX).fillna(6.0).to_numpy(dtype=float)
    return Paint(fill, stroke, np.where(status == "existing", 1.5, 2.5), radius)


def _paint_orgs(frame: pd.DataFrame, style: dict[str, Any]) -> Paint:
    """Party organisations as small dots in their type's colour with a white ring."""
    kinds = frame["type"].astype(str) if "type" in frame else pd.Series("", index=frame.index)
    fill = _rgba(kinds.map(PALETTE["org_type"]).fillna("#607d8b").to_numpy(dtype=object), 1.0)
    stroke = _rgba(np.full(len(frame), "#ffffff", dtype=object), 1.0)
    return Paint(fill, stroke, np.full(len(frame), 1.2), np.full(len(frame), ORG_RADIUS_PX))


_PAINTERS: dict[str, Callable[[pd.DataFrame, dict[str, Any]], Paint]] = {
    "party_orgs": _paint_orgs,
    "compounds": _paint_compounds,
    "cells": _paint_cells,
    "units": _paint_outline("units"),
    "grids": _paint_outline("grids"),
    "boundary": _paint_boundary,
    "circles": _paint_areas("circles"),
    "service_areas": _paint_areas("service_areas"),
    "roads": _paint_roads,
    "rivers": _paint_rivers,
    "centers": _paint_centers,
}


def layer_paint(layer: str, frame: pd.DataFrame) -> Paint:
    """Colours and widths of every feature of ``layer`` as the PNG tiles draw them."""
    painter = _PAINTERS.get(layer)
    if painter is None:
        msg = f"no style for layer {layer!r}"
        raise KeyError(msg)
    return painter(frame, layer_style())


def draw_order(layer: str, frame: pd.DataFrame) -> np.ndarray:
    """Row order to draw in: wide circles under narrow ones, big centres on top of small ones."""
    if layer in ("circles", "service_areas") and "minutes" in frame:
        return np.argsort(-frame["minutes"].to_numpy(dtype=float), kind="stable")
    if layer == "centers" and "level" in frame:
        rank = frame["level"].astype(str).map({"compound": 0, "community": 1, "subdistrict": 2, "district": 3})
        return np.argsort(rank.fillna(0).to_numpy(), kind="stable")
    if layer == "roads" and "class" in frame:
        rank = frame["class"].astype(str).map({"path": 0, "local": 1, "secondary": 2, "arterial": 3})
        return np.argsort(rank.fillna(1).to_numpy(), kind="stable")
    if layer == "boundary" and "level" in frame:
        rank = frame["level"].astype(str).map({"community": 0, "subdistrict": 1, "district": 2})
        return np.argsort(rank.fillna(0).to_numpy(), kind="stable")
    return np.arange(len(frame))
