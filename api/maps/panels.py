"""The panels of the map pages as JSON for their scripts: title card, legend and the words they show.

Every text comes from the catalogue (:mod:`layers.i18n`), Chinese unless the page asks for English.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from layers.i18n import CATALOGUES, text
from layers.schema import LEVELS, ORG_TYPES, CenterStatus
from layers.tiles.style import COMPOUND_STATES

#: Catalogue key prefixes the page scripts use.
_WORD_PREFIXES = ("layer.", "field.", "state.", "level.", "status.", "flag.", "map.", "map3d.", "method.", "org_type.")


def page_words(lang: str) -> dict[str, str]:
    """The catalogue entries the page scripts need, in ``lang`` (Chinese where English has none)."""
    cat = {**CATALOGUES["zh"], **CATALOGUES[lang]}
    return {k: v for k, v in cat.items() if k.startswith(_WORD_PREFIXES) or k in ("yes", "no")}


def _tone(share: float) -> str:
    return "good" if share >= 0.95 else ("warn" if share >= 0.8 else "bad")


def title_card(
    summary: dict[str, Any], compounds: pd.DataFrame, params: dict[str, Any], focus: dict[str, str] | None, lang: str,
    scenario: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The title card: district name, subtitle and the three headline figures (of the focus area when zoomed).

    ``scenario`` (``meta["scenario"]`` of a what-if dataset) adds a line naming the scenario shown.
    """
    if focus is not None and focus["level"] in compounds.columns:
        part = compounds[compounds[focus["level"]].astype(str) == focus["name"]]
    else:
        part = compounds
    cov = part["covered"].astype(bool).to_numpy() if "covered" in part else np.zeros(len(part), bool)
    hh = part["households"].to_numpy(dtype="int64")
    n, n_cov = len(part), int(cov.sum())
    h, h_cov = int(hh.sum()), int(hh[cov].sum())
    c_share = n_cov / n if n else 0.0
    h_share = h_cov / h if h else 0.0
    return {
        "name": summary.get("name", ""),
        "subtitle": text("map.subtitle", lang, minutes=float(params.get("minutes", 15))),
        "kpis": [
            {"label": text("map.kpi.compounds", lang), "value": f"{c_share:.1%}", "sub": text("map.kpi.compounds_of", lang, covered=n_cov, total=n), "tone": _tone(c_share)},
            {"label": text("map.kpi.households", lang), "value": f"{h_share:.1%}", "sub": text("map.kpi.households_of", lang, covered=h_cov, total=h), "tone": _tone(h_share)},
            {"label": text("map.kpi.uncovered", lang), "value": str(n - n_cov), "sub": text("map.kpi.uncovered_of", lang, households=h - h_cov), "tone": "good" if n == n_cov else "bad"},
        ],
        "note": text(
            "map.note", lang,
            method=text("method." + str(params.get("method", "circle")), lang),
            speed=float(params.get("speed_kmh", 4.0)),
            centers=int(summary.get("centers", {}).get("counted", 0)),
        ),
        "focus": text("map.focus", lang, name=focus["name"]) if focus else None,
        "scenario": text("map.scenario", lang, name=scenario.get("name") or scenario.get("id", "")) if scenario else None,
    }


def legend(params: dict[str, Any], lang: str, method: str) -> dict[str, Any]:
    """The legend's sections: compounds (states, minutes beyond the target, no party organisation, land without
    compounds), centre levels and statuses, service circles, boundary/unit/grid lines, analysis cells.

    The page shows a section only while its layer is on.
    """
    bands = sorted({float(b) for b in params.get("bands", []) if float(b) < float(params.get("minutes", 15))} | {float(params.get("minutes", 15))})
    return {
        "title": text("map.legend", lang),
        "compounds": text("layer.compounds", lang),
        "states": [{"key": s, "label": text("state." + s, lang)} for s in COMPOUND_STATES],
        "centers": text("layer.centers", lang),
        "levels": [{"key": lv, "label": text("level." + lv, lang)} for lv in LEVELS],
        "status": text("map.legend.status", lang),
        "statuses": [{"key": s.value, "label": text("status." + s.value, lang)} for s in CenterStatus],
        "circles": text("map.legend.circles", lang, minutes="/".join(f"{b:g}" for b in bands)),
        "circle_note": text("layer.service_areas" if method == "network" else "layer.circles", lang),
        "network": method == "network",
        "cells": text("map.legend.cells", lang),
        "gap": text("map.legend.gap", lang),
        "no_org": text("map.legend.no_org", lang),
        "land": text("map.legend.land", lang),
        "lines": text("map.legend.lines", lang),
        "boundary": {lv: text("map.legend.boundary." + lv, lang) for lv in ("district", "subdistrict", "community")},
        "party_orgs": text("layer.party_orgs", lang),
        "org_types": [{"key": t, "label": text("org_type." + t, lang)} for t in ORG_TYPES],
    }
