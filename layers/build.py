"""Derive every map layer of a dataset in one pass, and summarise the result.

``build_dataset`` is what ``dangjian build`` and the service run: units,
coverage, grids, cells and service circles, with the parameters recorded in
the dataset's ``meta`` so the map and reports can say how it was computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import InvalidValueError
from geo.network import NetworkCoverage, WalkNetwork
from layers.cells import DEFAULT_CELL_SIZE_M, DEFAULT_H3_RESOLUTION, analysis_cells
from layers.circles import (
    DEFAULT_MINUTES,
    DEFAULT_SPEED_KMH,
    center_minutes,
    check_walk_params,
    service_circles,
)
from layers.coverage import DEFAULT_STATUSES, Method, compound_coverage, counted_centers, parse_method
from layers.dataset import Dataset, district_name
from layers.grid_codes import CodeBook, district_code, grid_codes
from layers.grids import DEFAULT_MAX_HOUSEHOLDS, DEFAULT_MIN_HOUSEHOLDS, governance_grids
from layers.i18n import flag_text, text
from layers.orgs import fill_org_communities, mark_listed_orgs, with_org_layers
from layers.schema import LEVELS
from layers.service_areas import walking_service_areas
from layers.services.catalogue import catalogue_from
from layers.services.match import NEEDS_COLUMNS, has_needs, match_needs
from layers.shares import covered_shares, polygon_counts
from layers.units import (
    DEFAULT_MIN_UNIT_AREA_M2,
    DEFAULT_UNIT_CLASSES,
    assign_to_polygons,
    data_extent,
    neighbourhood_units,
    study_area,
)
from layers.walking import MIN_CONNECTED_SHARE, fragmented_cause, network_counts, walking_network

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildParams:
    """Everything a build depends on (minutes, metres, households).

    Attributes
    ----------
    minutes, speed_kmh
        Walking time (min) and speed (km/h): 15 min at 4 km/h = 1000 m.
    level_minutes
        Per-level minutes, e.g. ``{"compound": 5}``.
    method
        ``circle`` or ``network``.
    bands
        Extra walking times (min) drawn as nested rings (default 5 and 10).
    statuses
        Centre statuses counted for coverage (default only ``existing``).
    unit_classes, min_unit_area_m2
        Road classes bounding neighbourhood units; smallest unit (m²).
    grid_parent
        Partition ``community`` polygons (falls back to units when the
        boundary has none) or neighbourhood ``unit`` s into grids.
    min_households, max_households
        Target grid size (households).
    cell_size_m, h3_resolution
        Square cell side (m) and H3 resolution of the analysis cells.
    max_snap_m, area_buffer_m
        Network method: farthest a point may be from a road (m); buffer of
        walking service areas (m).
    access_reach_m
        A compound without gates is entered where its perimeter meets the
        walkable roads within this many metres (30 is the rule of issue 14;
        see :func:`layers.walking.access_points`), and the straight line
        measures from the compound itself; ``0`` (for now the default): a
        point inside the polygon.  Units and grids use the same access point.
    district_code
        The district's 6-digit administrative code, the head of every grid
        code (``""``: the district boundary's id when it is one, else 000000).
    """

    minutes: float = DEFAULT_MINUTES
    speed_kmh: float = DEFAULT_SPEED_KMH
    level_minutes: dict[str, float] = field(default_factory=dict)
    method: str = Method.circle.value
    bands: tuple[float, ...] = (5.0, 10.0)
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    unit_classes: tuple[str, ...] = DEFAULT_UNIT_CLASSES
    min_unit_area_m2: float = DEFAULT_MIN_UNIT_AREA_M2
    grid_parent: str = "community"
    min_households: int = DEFAULT_MIN_HOUSEHOLDS
    max_households: int = DEFAULT_MAX_HOUSEHOLDS
    cell_size_m: float = DEFAULT_CELL_SIZE_M
    h3_resolution: int = DEFAULT_H3_RESOLUTION
    max_snap_m: float = 300.0
    area_buffer_m: float = 50.0
    access_reach_m: float = 0.0
    district_code: str = ""

    @classmethod
    def from_meta(cls, meta: dict[str, Any], fallback: BuildParams | None = None) -> BuildParams:
        """The parameters a dataset was built with (its ``meta["params"]``), ``fallback``'s (or the defaults) for the rest."""
        base = fallback or cls()
        stored = meta.get("params") or {}
        values = {f.name: getattr(base, f.name) for f in fields(cls)}
        for f in fields(cls):
            if f.name in stored:
                v = stored[f.name]
                values[f.name] = tuple(v) if f.type.startswith("tuple") and isinstance(v, list) else v
        return cls(**values)

    def validate(self) -> BuildParams:
        """Check the values, raising a named :class:`~geo.errors.InvalidValueError`."""
        check_walk_params(self.minutes, self.speed_kmh)
        parse_method(self.method)
        center_minutes([], minutes=self.minutes, level_minutes=self.level_minutes)
        for m in self.level_minutes.values():
            check_walk_params(float(m), self.speed_kmh)
        if self.district_code and not (len(self.district_code) == 6 and self.district_code.isdigit()):
            msg = f"`district_code` must be the district's 6-digit administrative code (e.g. 150603); got {self.district_code!r}"
            raise InvalidValueError(msg, field="district_code")
        return self


def _no_data(units: gpd.GeoDataFrame) -> np.ndarray:
    """Which units are the "no data" rest of the study area (none when the data fills it)."""
    return units["no_data"].to_numpy(bool) if "no_data" in units.columns else np.zeros(len(units), bool)


def _nothing(_: str) -> None:
    return None


def fill_admin(dataset: Dataset) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Fill blank ``community`` of compounds and centres from boundary polygons; add ``subdistrict``."""
    boundary = dataset["boundary"]
    compounds, centers = dataset["compounds"].copy(), dataset["centers"].copy()
    crs = dataset.metric_crs
    for level in ("community", "subdistrict"):
        polys = boundary[boundary["level"] == level] if len(boundary) else boundary
        for frame in (compounds, centers):
            if level not in frame.columns:
                frame[level] = ""
            blank = frame[level].astype(str) == ""
            frame.loc[blank, level] = assign_to_polygons(frame, polys, metric_crs=crs, column="name")[blank]
    if len(boundary) and (boundary["level"] == "community").any():
        # The subdistrict of a community named in the data, when the compound lies outside polygons.
        parents = boundary[boundary["level"] == "community"].set_index("name")["parent"]
        blank = compounds["subdistrict"].astype(str) == ""
        compounds.loc[blank, "subdistrict"] = compounds.loc[blank, "community"].map(parents).fillna("")
    return compounds, centers


def coverage_kwargs(dataset: Dataset, params: BuildParams) -> dict[str, Any]:
    """The arguments of :func:`layers.coverage.compound_coverage` a build uses, but the compounds, centres and network."""
    return {
        "metric_crs": dataset.metric_crs,
        "method": parse_method(params.method),
        "minutes": params.minutes,
        "speed_kmh": params.speed_kmh,
        "level_minutes": params.level_minutes,
        "statuses": params.statuses,
        "gates": dataset.layers.get("gates"),
        "roads": dataset["roads"],
        "max_snap_m": params.max_snap_m,
        "access_reach_m": params.access_reach_m,
    }


def centre_circles(centers: gpd.GeoDataFrame, dataset: Dataset, params: BuildParams) -> gpd.GeoDataFrame:
    """Straight-line service circles (with the time bands) of ``centers``, as a build draws them."""
    return service_circles(
        centers, metric_crs=dataset.metric_crs, minutes=params.minutes, speed_kmh=params.speed_kmh,
        level_minutes=params.level_minutes, bands=params.bands,
    )


def centre_service_areas(network: WalkNetwork, centers: gpd.GeoDataFrame, dataset: Dataset, params: BuildParams) -> gpd.GeoDataFrame:
    """Walking service areas of the counted ones of ``centers`` on ``network``, as a build draws them."""
    return walking_service_areas(
        network,
        centers[centers["status"].isin(list(params.statuses))],
        metric_crs=dataset.metric_crs,
        minutes=params.minutes,
        speed_kmh=params.speed_kmh,
        level_minutes=params.level_minutes,
        bands=params.bands,
        buffer_m=params.area_buffer_m,
        max_snap_m=params.max_snap_m,
    )


def coverage_layers(
    dataset: Dataset,
    params: BuildParams,
    *,
    progress: Progress = _nothing,
    network_pass: Callable[..., NetworkCoverage] | None = None,
    areas: bool = True,
) -> Dataset:
    """Coverage columns on compounds, plus circles (and walking service areas for ``network``).

    With the network method, the straight-line answer comes too
    (``covered_circle``, ``walk_m_circle``) so reports can show both.

    ``network_pass`` (network method only) replaces the whole-network walking
    pass, e.g. by the split pass of :mod:`geo.network.partition` for a very large
    district (see :func:`layers.coverage.compound_coverage`); the walking
    service areas are then not drawn (``service_areas`` is empty and
    ``meta["service_areas"]`` says why), since they would need the whole
    network again.  ``areas=False`` skips the walking service areas too (the
    polygons cost more than the coverage itself on a large city).

    Returns a new :class:`Dataset`; the input is not changed.
    """
    params.validate()
    method = parse_method(params.method)
    kwargs = coverage_kwargs(dataset, params)
    progress("progress.coverage")
    compounds = dataset["compounds"]
    centers = dataset["centers"]
    catalogue = catalogue_from(dataset.meta.get("service_catalogue"))
    layers: dict[str, gpd.GeoDataFrame] = {
        "service_areas": gpd.GeoDataFrame(columns=["center_id", "geometry"], geometry="geometry", crs=4326)
    }
    notes: dict[str, Any] = {}
    if method is Method.network:
        net = None if network_pass is not None else walking_network(dataset["roads"], metric_crs=dataset.metric_crs)
        covered = compound_coverage(compounds, centers, network=net, network_pass=network_pass, **kwargs)
        if net is not None:
            notes["network"] = network_counts(net)
        if has_needs(covered):
            progress("progress.needs")
            covered = match_needs(covered, centers, catalogue=catalogue, network=net, network_pass=network_pass, **kwargs)
        if net is None:
            notes["service_areas"] = "not drawn: the walking pass was split into tiles"
        elif not areas:
            notes["service_areas"] = "not drawn: coverage only"
        else:
            progress("progress.service_areas")
            layers["service_areas"] = centre_service_areas(net, centers, dataset, params)
    else:
        covered = compound_coverage(compounds, centers, **kwargs)
        if has_needs(covered):
            progress("progress.needs")
            covered = match_needs(covered, centers, catalogue=catalogue, **kwargs)
    if not has_needs(covered):
        covered = covered.drop(columns=[c for c in NEEDS_COLUMNS if c in covered.columns])
    progress("progress.circles")
    layers["circles"] = centre_circles(centers, dataset, params)
    out = dataset.replace(compounds=covered, **layers)
    out.meta["params"] = asdict(params)
    for key in ("service_areas", "network"):
        out.meta.pop(key, None)
    out.meta.update(notes)
    return out


def network_lines(counts: dict[str, Any], lang: str = "zh") -> list[str]:
    """The network's counts as lines of text, with the warning (and its likely cause) below :data:`MIN_CONNECTED_SHARE`."""
    apart = counts["apart"]
    lines = [
        text(
            "summary.network", lang, added=counts["junctions_added"], bridge=apart["bridge"],
            tunnel=apart["tunnel"], layer=apart["layer"], share=counts["largest_piece_share"],
        )
    ]
    if counts["largest_piece_share"] < MIN_CONNECTED_SHARE:
        lines.append(
            text("summary.network_fragmented", lang, share=counts["largest_piece_share"], limit=MIN_CONNECTED_SHARE)
            + text(fragmented_cause(counts), lang, n=sum(apart.values()))
        )
    return lines


def build_dataset(
    dataset: Dataset,
    params: BuildParams | None = None,
    *,
    progress: Progress = _nothing,
    network_pass: Callable[..., NetworkCoverage] | None = None,
) -> Dataset:
    """Derive units, coverage, grids, cells and circles for a dataset.

    Parameters
    ----------
    dataset
        Input layers as read by :func:`layers.dataset.read_dataset`.
    params
        Build parameters (defaults: 15 minutes at 4 km/h, straight line).
    progress
        Called with a catalogue key (``progress.units`` ...) as each step starts.
    network_pass
        Network method: the walking pass to use instead of the whole-network
        one (see :func:`coverage_layers`).

    Returns
    -------
    Dataset
        A new dataset with the derived layers ``units``, ``grids``, ``cells``,
        ``circles`` (and ``service_areas``), the coverage columns plus
        ``subdistrict``, ``unit`` and ``grid`` on ``compounds``, and ``meta``
        holding the parameters and the summary.
    """
    params = (params or BuildParams()).validate()
    compounds, centers = fill_admin(dataset)
    crs = dataset.metric_crs
    orgs = fill_org_communities(dataset.layers.get("party_orgs"), dataset["boundary"], metric_crs=crs)
    compounds = mark_listed_orgs(compounds, orgs, metric_crs=crs)
    ds = dataset.replace(compounds=compounds, centers=centers)
    progress("progress.units")
    extent = data_extent(study_area(ds["boundary"], ds["roads"], metric_crs=crs), ds["roads"], compounds, metric_crs=crs)
    units = neighbourhood_units(
        ds["boundary"], ds["roads"], ds["rivers"], compounds,
        metric_crs=crs, unit_classes=params.unit_classes, min_area_m2=params.min_unit_area_m2, extent=extent,
    )
    ds = coverage_layers(ds, params, progress=progress, network_pass=network_pass)
    compounds = ds["compounds"].copy()
    # units and grids place a compound by the same access point as its coverage (gates, perimeter entrances)
    gates, roads = ds.layers.get("gates"), ds["roads"] if params.access_reach_m > 0 else None
    compounds["unit"] = assign_to_polygons(compounds, units, metric_crs=crs, gates=gates, roads=roads)
    progress("progress.grids")
    boundary = ds["boundary"]
    communities = boundary[boundary["level"] == "community"] if len(boundary) else boundary
    if params.grid_parent == "community" and len(communities):
        grids, grid_of = governance_grids(
            compounds, communities, metric_crs=crs,
            min_households=params.min_households, max_households=params.max_households, parent_level="community",
            gates=gates, roads=roads,
        )
    else:
        grids, grid_of = governance_grids(
            compounds, units[~units["water"].to_numpy(bool) & ~_no_data(units)], metric_crs=crs,
            min_households=params.min_households, max_households=params.max_households, parent_level="unit",
            gates=gates, roads=roads,
        )
    compounds["grid"] = grid_of
    codes, book = grid_codes(
        grids, ds["boundary"], district=district_code(params.district_code, ds["boundary"]),
        book=CodeBook.from_meta(dataset.meta.get("grid_codes")),
    )
    grids["code"] = codes
    progress("progress.cells")
    cells = analysis_cells(extent.area, compounds, metric_crs=crs, size_m=params.cell_size_m, h3_resolution=params.h3_resolution)
    # Units count the compounds by the same access point as their coverage (gates where known).
    units = covered_shares(polygon_counts(units, compounds, "unit"), compounds, "unit")
    grids = covered_shares(grids, compounds, "grid")
    units, grids = with_org_layers(units, grids, compounds, orgs, metric_crs=crs)
    out = ds.replace(compounds=compounds, units=units, grids=grids, cells=cells)
    out.meta["params"] = asdict(params)
    out.meta["grid_codes"] = book.as_meta()
    out.meta["built_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.meta["load_report"] = {k: v.as_dict() for k, v in dataset.report.items()}
    out.meta["summary"] = summarize(out)
    if extent.rest is not None:
        out.meta["summary"]["data_extent"] = {"boundary_km2": round(extent.boundary_km2, 2), "data_km2": round(extent.data_km2, 2)}
    return out


def summarize(dataset: Dataset) -> dict[str, Any]:
    """The headline figures of a built dataset (counts, households, shares).

    Returns
    -------
    dict
        ``compounds`` / ``households``: ``total``, ``covered``, ``uncovered``,
        ``share``; ``centers``: total, counted and per level; layer counts;
        ``no_party_org``; ``method``, ``minutes``; ``circle_overcount`` (network
        builds: compounds and households the straight line wrongly counts as
        covered); ``uncovered_top``: the ten largest uncovered compounds.
    """
    c = dataset["compounds"]
    params = dataset.meta.get("params", {})
    statuses = params.get("statuses", list(DEFAULT_STATUSES))
    centers = dataset["centers"]
    counted = counted_centers(centers, statuses)
    cov = c["covered"].astype(bool) if "covered" in c else pd.Series(False, index=c.index)
    hh = c["households"].astype("int64")

    def _block(total: int, covered: int) -> dict[str, Any]:
        return {
            "total": int(total),
            "covered": int(covered),
            "uncovered": int(total - covered),
            "share": round(covered / total, 6) if total else 0.0,
        }

    top = c[~cov].sort_values("households", ascending=False).head(10)
    out: dict[str, Any] = {
        "name": district_name(dataset),
        "method": params.get("method", "circle"),
        "minutes": params.get("minutes", DEFAULT_MINUTES),
        "compounds": _block(len(c), int(cov.sum())),
        "households": _block(int(hh.sum()), int(hh[cov].sum())),
        "population": _block(int(c["population"].sum()), int(c.loc[cov, "population"].sum())),
        "no_party_org": int((~c["has_party_org"].astype(bool)).sum()),
        "centers": {
            "total": len(centers),
            "counted": len(counted),
            "by_level": {lv: int((counted["level"] == lv).sum()) for lv in LEVELS},
        },
        "layers": {k: len(dataset.layers[k]) for k in ("units", "grids", "cells", "circles", "service_areas") if k in dataset.layers},
        "repaired": int(sum(r.repaired for r in dataset.report.values())),
        "rejected": int(sum(len(r.rejected) for r in dataset.report.values())),
        "uncovered_top": [
            {
                "id": str(r["id"]),
                "name": str(r["name"]),
                "community": str(r.get("community", "")),
                "households": int(r["households"]),
                "nearest_center": str(r.get("nearest_center_name", "")),
                "walk_min": None if pd.isna(r.get("walk_min")) else float(r["walk_min"]),
                "flags": str(r.get("flags", "")),
            }
            for _, r in top.iterrows()
        ],
    }
    if "network" in dataset.meta:
        out["network"] = dataset.meta["network"]
    if "covered_circle" in c.columns:
        wrong = c["covered_circle"].astype(bool) & ~cov
        out["circle_overcount"] = {"compounds": int(wrong.sum()), "households": int(hh[wrong].sum())}
        ccov = c["covered_circle"].astype(bool)
        out["circle"] = _block(int(hh.sum()), int(hh[ccov].sum()))
    return out


def summary_lines(summary: dict[str, Any], lang: str = "zh") -> list[str]:
    """The summary as lines of text in ``lang`` (for the CLI and logs)."""
    by_level = ", ".join(
        f"{text('level.' + lv, lang)} {n}" for lv, n in summary["centers"]["by_level"].items()
    )
    lines = [
        text("summary.title", lang, name=summary["name"], minutes=summary["minutes"], method=text("method." + summary["method"], lang)),
        text("summary.compounds", lang, **summary["compounds"]),
        text("summary.households", lang, **summary["households"]),
        text("summary.centers", lang, counted=summary["centers"]["counted"], total=summary["centers"]["total"], by_level=by_level),
    ]
    if summary["centers"]["counted"] == 0:
        lines.append(text("summary.no_centers_reason", lang))
    if "circle_overcount" in summary:
        lines.append(text("summary.method_compare", lang, n=summary["circle_overcount"]["compounds"], households=summary["circle_overcount"]["households"]))
    if "network" in summary:
        lines.extend(network_lines(summary["network"], lang))
    layers = summary.get("layers", {})
    if "units" in layers:
        lines.append(
            text("summary.layers", lang, units=layers.get("units", 0), grids=layers.get("grids", 0), cells=layers.get("cells", 0), circles=layers.get("circles", 0))
        )
    lines.append(text("summary.no_party_org", lang, n=summary["no_party_org"]))
    if "data_extent" in summary:
        lines.append(text("summary.data_extent", lang, **summary["data_extent"]))
    if summary["repaired"] or summary["rejected"]:
        lines.append(text("summary.repaired", lang, n=summary["repaired"], rejected=summary["rejected"]))
    if summary["uncovered_top"]:
        lines.append(text("summary.top_uncovered", lang))
        for r in summary["uncovered_top"][:5]:
            walk = "-" if r["walk_min"] is None else f"{r['walk_min']:.1f}"
            lines.append(
                text("summary.uncovered_row", lang, name=r["name"], community=r["community"] or "-", households=r["households"], center=r["nearest_center"] or "-", walk_min=walk)
                + (f" [{flag_text(r['flags'], lang)}]" if r["flags"] else "")
            )
    return lines
