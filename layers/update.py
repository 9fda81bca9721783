"""Coverage after a change: whole-dataset variants, and incremental updates after an edit.

:func:`coverage_variant` recomputes coverage of a whole built dataset for
other parameters (minutes, method).

:func:`update_after_edit` brings a built dataset up to date after some centres
or compounds were added, changed or deleted, touching only what the edit can
reach, and says which rows of which layers changed so a store can write just
those:

- edited compounds get their community / subdistrict (when blank), unit and
  grid, then their coverage; edited centres their community / subdistrict;
- a centre's edit can only change the answer of compounds it was the nearest
  or covering centre of, or that its old or new place lies within reach of:
  a walk is never shorter than the straight line, so a compound whose access
  points all lie farther from the centre than both its own current distance
  and the longest service radius keeps its answer.  Those compounds are
  recomputed exactly (the same :func:`layers.coverage.compound_coverage` as a
  build, on the same cached walking network), the others are kept;
- circles and walking service areas of the edited centres are redrawn;
- units and grids holding a changed compound are recounted (households,
  compounds and the grid flags only when compounds were edited), cells
  overlapping one get their area-weighted shares again;
- the summary is recounted over the whole dataset.

Governance grids and neighbourhood units keep their shapes: a new compound
joins the grid and unit its access point lies in.  Redrawing grids is a
planning decision (``dangjian build``), not a side effect of an edit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidValueError
from geo.network import WalkNetwork
from layers.build import (
    BuildParams,
    centre_circles,
    centre_service_areas,
    coverage_kwargs,
    coverage_layers,
    fill_admin,
    summarize,
)
from layers.cells import cell_totals
from layers.circles import center_minutes, walk_metres
from layers.coverage import (
    CIRCLE_COMPARISON_COLUMNS,
    COVERAGE_COLUMNS,
    Method,
    compound_coverage,
    coverage_flags,
    parse_method,
)
from layers.dataset import Dataset
from layers.orgs import fill_org_communities, mark_listed_orgs, with_org_layers
from layers.shares import covered_shares, grid_attributes, polygon_counts
from layers.units import assign_to_polygons
from layers.walking import SHARED_NETWORKS, access_points

#: Metres added to every distance bound (rounding of the stored distances).
_SLACK_M = 1.0


# ---------------------------------------------------------------------------
# whole-dataset variants
# ---------------------------------------------------------------------------


def coverage_variant(dataset: Dataset, params: BuildParams) -> Dataset:
    """The built ``dataset`` with coverage recomputed for other ``params`` (minutes, method).

    Coverage columns, circles and service areas come from
    :func:`layers.build.coverage_layers`; the coverage shares of units, grids
    and cells are recounted from the new compound coverage; ``meta`` gets the
    new parameters and summary.  The input is not changed.

    Raises
    ------
    InvalidValueError
        The walking-network engine is missing for ``method="network"``.
    """
    try:
        out = coverage_layers(dataset, params)
    except ImportError as exc:  # the walking-network engine is not installed
        msg = f"`method` {params.method!r} is not available in this installation ({exc})"
        raise InvalidValueError(msg, field="method") from exc
    compounds = out["compounds"]
    layers: dict[str, gpd.GeoDataFrame] = {}
    if "units" in out.layers:
        layers["units"] = covered_shares(out["units"], compounds, "unit")
    if "grids" in out.layers:
        layers["grids"] = covered_shares(out["grids"], compounds, "grid")
    if "cells" in out.layers:
        layers["cells"] = cell_totals(out["cells"], compounds, metric_crs=dataset.metric_crs, households=False)
    out = out.replace(**layers)
    out.meta["summary"] = summarize(out)
    return out


# ---------------------------------------------------------------------------
# incremental updates
# ---------------------------------------------------------------------------


@dataclass
class LayerRows:
    """The rows of one layer an edit replaced.

    Attributes
    ----------
    key
        The column naming rows: ``id`` (one row each) or ``center_id``
        (circles and service areas: several rows per centre).
    keys
        The keys whose rows are replaced.
    rows
        Their new rows (EPSG:4326): rows of a key in ``keys`` that are missing
        here are gone.
    """

    key: str
    keys: list[str]
    rows: gpd.GeoDataFrame


@dataclass
class EditUpdate:
    """What :func:`update_after_edit` made.

    Attributes
    ----------
    dataset
        The dataset after the edit (``meta["summary"]`` recounted).
    changes
        Per layer, the rows that changed (layers absent did not change).
    boxes
        Per changed layer, WGS84 boxes ``(minx, miny, maxx, maxy)`` of the
        old and new rows that changed: the map tiles to redraw.
    recomputed
        Compounds whose coverage was recomputed.
    seconds
        Time taken.
    """

    dataset: Dataset
    changes: dict[str, LayerRows] = field(default_factory=dict)
    boxes: dict[str, np.ndarray] = field(default_factory=dict)
    recomputed: int = 0
    seconds: float = 0.0


def splice(frame: gpd.GeoDataFrame, key: str, keys: Iterable[str], rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` with its rows of ``keys`` replaced by ``rows``.

    Replaced rows keep their place (the first row of their key); rows of new
    keys come last.  Columns ``rows`` adds are added (missing elsewhere).
    """
    keys = {str(k) for k in keys}
    own = frame[key].astype(str).to_numpy() if len(frame) else np.array([], dtype=object)
    keep = ~np.isin(own, list(keys))
    first = pd.Series(np.arange(len(frame)), index=own)
    first = first[~first.index.duplicated()]
    new_keys = rows[key].astype(str).to_numpy() if len(rows) else np.array([], dtype=object)
    place = np.array(first.reindex(new_keys).to_numpy(dtype=float))
    fresh = np.isnan(place)
    place[fresh] = len(frame) + np.arange(int(fresh.sum()))
    if not len(rows):
        return frame[keep].copy()
    rows = rows.to_crs(frame.crs) if frame.crs is not None and rows.crs is not None else rows
    parts = [frame[keep], rows] if keep.any() else [rows]
    out = pd.concat(parts, ignore_index=True)
    order = np.argsort(np.concatenate([np.flatnonzero(keep).astype(float), place]), kind="stable")
    return gpd.GeoDataFrame(out.iloc[order].reset_index(drop=True), geometry=frame.geometry.name, crs=frame.crs)


def _longest_radius_m(params: BuildParams, levels: Iterable[str]) -> float:
    """The longest service radius (metres) of any of these centre levels, or of any level named in the params."""
    names = [*levels, *params.level_minutes]
    minutes = center_minutes(pd.Series(names, dtype=object), minutes=params.minutes, level_minutes=params.level_minutes) if names else []
    longest = max([float(params.minutes), *(float(m) for m in minutes)])
    return float(walk_metres(longest, params.speed_kmh))


def _finite_or_inf(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), -np.inf)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(values), np.inf, values)


def _reached_by_centres(
    compounds: gpd.GeoDataFrame, gates: gpd.GeoDataFrame | None, points_m: np.ndarray, radius_m: float, metric_crs: object
) -> np.ndarray:
    """Compounds an edited centre at one of ``points_m`` could now be the answer of (see the module docstring)."""
    if not len(points_m) or not len(compounds):
        return np.zeros(len(compounds), dtype=bool)
    cm = compounds.to_crs(metric_crs)
    access, owner = access_points(cm, gates.to_crs(metric_crs) if gates is not None and len(gates) else None)
    polygons = cm.geometry.to_numpy()
    nearest = np.full(len(compounds), np.inf)
    for p in points_m:
        # a gate, or the polygon itself: no perimeter entrance is nearer than its compound
        np.minimum.at(nearest, owner, shapely.distance(access, p))
        np.minimum(nearest, shapely.distance(polygons, p), out=nearest)
    current = np.maximum.reduce(
        [_finite_or_inf(compounds, c) for c in ("walk_m", "straight_m", "walk_m_circle")] + [np.full(len(compounds), radius_m)]
    )
    return nearest <= current + _SLACK_M


def row_hashes(frame: pd.DataFrame, columns: Iterable[str] | None = None, *, geometry: bool = True) -> np.ndarray:
    """One 64-bit hash per row over ``columns`` (default: every attribute; in name order) and, with ``geometry``, its WKB.

    Missing values hash alike whatever their dtype (NaN, None), so a layer
    read back from a store hashes as it was written.
    """
    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    cols = sorted(c for c in (frame.columns if columns is None else columns) if c in frame.columns and c != geom)
    attrs = frame[cols]
    text = attrs.astype(object).where(attrs.notna(), None).astype(str)
    hashes = pd.util.hash_pandas_object(text, index=False).to_numpy()
    if geometry and geom is not None:
        hashes = hashes ^ pd.util.hash_array(shapely.to_wkb(frame.geometry.to_numpy()).astype(object))
    return hashes


def _changed_rows(old: pd.DataFrame, new: pd.DataFrame, columns: Iterable[str]) -> np.ndarray:
    """Positions in ``new`` of rows whose ``columns`` differ from the row of the same ``id`` in ``old`` (or that are new)."""
    cols = [c for c in columns if c in new.columns]
    if not len(new):
        return np.array([], dtype=int)
    before = pd.Series(row_hashes(old, cols, geometry=False), index=old["id"].astype(str).to_numpy())
    before = before[~before.index.duplicated()]
    after = pd.Series(row_hashes(new, cols, geometry=False), index=new["id"].astype(str).to_numpy())
    was = before.reindex(after.index)
    return np.flatnonzero(~(was.to_numpy() == after.to_numpy()) | was.isna().to_numpy())


def _changed_keys(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, key: str, keys: Iterable[str]) -> list[str]:
    """Those of ``keys`` whose rows (values and geometry, in any order) differ between ``old`` and ``new``."""

    def groups(frame: gpd.GeoDataFrame) -> dict[str, tuple[int, ...]]:
        if not len(frame):
            return {}
        digests = pd.Series(row_hashes(frame), index=frame[key].astype(str).to_numpy())
        return {k: tuple(sorted(v.tolist())) for k, v in digests.groupby(level=0)}

    before, after = groups(old), groups(new)
    return sorted(k for k in {str(k) for k in keys} if before.get(k) != after.get(k))


def _boxes(*frames: gpd.GeoDataFrame | None) -> np.ndarray:
    geoms = [f.geometry.to_numpy() for f in frames if f is not None and len(f)]
    if not geoms:
        return np.empty((0, 4))
    b = shapely.bounds(np.concatenate(geoms))
    return b[np.isfinite(b).all(axis=1)]


def update_after_edit(
    before: Dataset,
    params: BuildParams,
    *,
    centers: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    edited: Mapping[str, Iterable[str]],
    network: WalkNetwork | None = None,
    orgs: gpd.GeoDataFrame | None = None,
) -> EditUpdate:
    """Bring a built dataset up to date after an edit of centres, compounds and/or party organisations.

    Parameters
    ----------
    before
        The built dataset before the edit.
    params
        The parameters it was built with.
    centers, compounds
        Both layers after the edit (EPSG:4326): edited rows as stored,
        deleted ones absent; other rows as in ``before``.
    edited
        ``{"centers": ids, "compounds": ids}``: what the edit added, changed
        or deleted.
    network
        The walking network of ``before``'s roads (network method); built
        when not given (:data:`layers.walking.SHARED_NETWORKS`).
    orgs
        ``party_orgs`` after the edit, when the edit touched it (default:
        as in ``before``).

    Returns
    -------
    EditUpdate
        The dataset after the edit and the rows that changed.
    """
    t0 = time.perf_counter()
    crs = before.metric_crs
    method = parse_method(params.method)
    edited_centres = {str(i) for i in edited.get("centers", ())}
    edited_compounds = {str(i) for i in edited.get("compounds", ())}
    old_compounds, old_centres = before["compounds"], before["centers"]
    gates = before.layers.get("gates")
    entry_roads = before["roads"] if params.access_reach_m > 0 else None
    if method is Method.network and network is None:
        network = SHARED_NETWORKS.get(before["roads"], metric_crs=crs)

    # 1. where edited features lie: community, subdistrict; unit and grid of compounds
    compounds = compounds.reset_index(drop=True)
    centers = centers.reset_index(drop=True)
    c_pos = np.flatnonzero(compounds["id"].astype(str).isin(edited_compounds).to_numpy())
    s_pos = np.flatnonzero(centers["id"].astype(str).isin(edited_centres).to_numpy())
    if len(c_pos) or len(s_pos):
        sub_c, sub_s = compounds.iloc[c_pos].copy(), centers.iloc[s_pos].copy()
        for frame in (sub_c, sub_s):
            for col in ("community", "subdistrict"):
                frame[col] = frame[col].fillna("").astype(str) if col in frame.columns else ""
        sub_c, sub_s = fill_admin(before.replace(compounds=sub_c, centers=sub_s))
        if "units" in before.layers and len(sub_c):
            sub_c["unit"] = assign_to_polygons(sub_c, before["units"], metric_crs=crs, gates=gates, roads=entry_roads).to_numpy()
        if "grids" in before.layers and len(sub_c):
            sub_c["grid"] = assign_to_polygons(sub_c, before["grids"], metric_crs=crs, gates=gates, roads=entry_roads).to_numpy()
        compounds = splice(compounds, "id", sub_c["id"].astype(str), sub_c)
        centers = splice(centers, "id", sub_s["id"].astype(str), sub_s)

    # 2. which compounds' coverage the edit can change, recomputed exactly
    ids = compounds["id"].astype(str)
    affected = np.array(ids.isin(edited_compounds).to_numpy(), dtype=bool)
    if edited_centres:
        moved = pd.concat([old_centres[old_centres["id"].astype(str).isin(edited_centres)], centers.iloc[np.flatnonzero(centers["id"].astype(str).isin(edited_centres))]])
        points = moved.to_crs(crs).geometry.to_numpy()
        radius = _longest_radius_m(params, moved["level"].astype(str))
        affected |= compounds["nearest_center"].astype(str).isin(edited_centres).to_numpy() if "nearest_center" in compounds else True
        affected |= _reached_by_centres(compounds, gates, points, radius, crs)
    pos = np.flatnonzero(affected)
    if len(pos):
        recomputed = compound_coverage(compounds.iloc[pos], centers, network=network, **coverage_kwargs(before, params))
        compounds = splice(compounds, "id", recomputed["id"].astype(str), recomputed)
    watched = [*COVERAGE_COLUMNS, *CIRCLE_COMPARISON_COLUMNS, "community", "subdistrict", "unit", "grid"]
    candidates = set(compounds["id"].astype(str).to_numpy()[pos]) | edited_compounds
    maybe = np.flatnonzero(compounds["id"].astype(str).isin(candidates).to_numpy())
    changed_pos = maybe[_changed_rows(old_compounds[old_compounds["id"].astype(str).isin(candidates)], compounds.iloc[maybe], watched)]
    changed_ids = set(compounds["id"].astype(str).to_numpy()[changed_pos]) | edited_compounds
    changes: dict[str, LayerRows] = {}
    boxes: dict[str, np.ndarray] = {}
    layers: dict[str, gpd.GeoDataFrame] = {"compounds": compounds, "centers": centers}
    # the rows touched, before and after: recomputed ones that changed, and the edited ones (a moved compound
    # whose gate stayed keeps its coverage, but its polygon lies elsewhere)
    new_rows = compounds[compounds["id"].astype(str).isin(changed_ids)]
    old_rows = old_compounds[old_compounds["id"].astype(str).isin(changed_ids)]
    if len(changed_pos):
        rows = compounds.iloc[changed_pos]
        changes["compounds"] = LayerRows("id", sorted(set(rows["id"].astype(str))), rows.copy())
    if len(old_rows) or len(new_rows):
        boxes["compounds"] = _boxes(old_rows, new_rows)
    if edited_centres:
        boxes["centers"] = _boxes(old_centres[old_centres["id"].astype(str).isin(edited_centres)], centers.iloc[s_pos])

    # 3. circles and walking service areas of the edited centres
    if edited_centres:
        drawn = centers[centers["id"].astype(str).isin(edited_centres)]
        circles = centre_circles(drawn, before, params)
        _replace(layers, changes, boxes, before, "circles", "center_id", edited_centres, circles, only_changed=True)
        areas_drawn = method is Method.network and "service_areas" in before.layers and not before.meta.get("service_areas")
        if areas_drawn:
            areas = centre_service_areas(network, drawn, before, params)
            _replace(layers, changes, boxes, before, "service_areas", "center_id", edited_centres, areas, only_changed=True)

    # 4. units, grids and cells holding a changed compound
    recount = bool(edited_compounds)
    for name, key in (("units", "unit"), ("grids", "grid")):
        if name not in before.layers or key not in compounds.columns:
            continue
        touched = {str(v) for frame in (old_rows, new_rows) if key in frame.columns for v in frame[key].astype(str)} - {"", "nan"}
        if not touched:
            continue
        rows = before[name]
        if recount:
            rows = polygon_counts(rows, compounds, key, ids=sorted(touched))
            if name == "grids":
                rows = grid_attributes(rows, compounds, min_households=params.min_households, max_households=params.max_households)
        rows = covered_shares(rows, compounds, key, ids=sorted(touched))
        _replace(layers, changes, boxes, before, name, "id", touched, rows, only_changed=True)
    if "cells" in before.layers and len(before["cells"]) and (len(old_rows) or len(new_rows)):
        cells = before["cells"]
        tree = shapely.STRtree(cells.geometry.to_numpy())
        hit = np.unique(tree.query(np.concatenate([old_rows.geometry.to_numpy(), new_rows.geometry.to_numpy()]), predicate="intersects")[1])
        if len(hit):
            near = compounds.iloc[np.unique(shapely.STRtree(compounds.geometry.to_numpy()).query(cells.geometry.to_numpy()[hit], predicate="intersects")[1])]
            rows = cell_totals(cells.iloc[hit], near, metric_crs=crs, households=recount)
            _replace(layers, changes, boxes, before, "cells", "id", rows["id"].astype(str), rows, only_changed=True)

    # 5. party organisations: the compounds they mark, what units and grids count
    if orgs is not None or (edited_compounds and len(before.layers.get("party_orgs", ()))):
        # an edit of compounds alone can change only the edited compounds' marks (the organisations stayed)
        _recount_orgs(layers, changes, boxes, before, before["party_orgs"] if orgs is None else orgs,
                      marked_keys=edited_compounds if orgs is None else None)

    out = before.replace(**layers)
    out.meta["summary"] = summarize(out)
    return EditUpdate(dataset=out, changes=changes, boxes=boxes, recomputed=len(pos), seconds=time.perf_counter() - t0)


def _recount_orgs(
    layers: dict[str, gpd.GeoDataFrame], changes: dict[str, LayerRows], boxes: dict[str, np.ndarray], before: Dataset, orgs: gpd.GeoDataFrame,
    *, marked_keys: set[str] | None = None,
) -> None:
    """Re-mark compounds with a listed organisation and recount units' and grids' organisations (whole layers: cheap).

    ``marked_keys``: the only compounds whose mark can have changed (default: any).
    """
    crs = before.metric_crs
    orgs = fill_org_communities(orgs, before["boundary"], metric_crs=crs)
    marked = mark_listed_orgs(layers["compounds"], orgs, metric_crs=crs)
    if marked is not layers["compounds"]:
        marked["flags"] = coverage_flags(marked)
        ids = marked["id"].astype(str)
        if marked_keys is not None:  # keep the rows step 2 already changed among those replaced
            earlier = set(changes["compounds"].keys) if "compounds" in changes else set()
            marked = marked[ids.isin(marked_keys | earlier).to_numpy()]
            ids = marked["id"].astype(str)
        _replace(layers, changes, boxes, before, "compounds", "id", ids, marked, only_changed=True)
    if "units" in before.layers and "grids" in before.layers:
        units, grids = with_org_layers(layers.get("units", before["units"]), layers.get("grids", before["grids"]), marked, orgs, metric_crs=crs)
        _replace(layers, changes, boxes, before, "units", "id", units["id"].astype(str), units, only_changed=True)
        _replace(layers, changes, boxes, before, "grids", "id", grids["id"].astype(str), grids, only_changed=True)


def _replace(
    layers: dict[str, gpd.GeoDataFrame],
    changes: dict[str, LayerRows],
    boxes: dict[str, np.ndarray],
    before: Dataset,
    name: str,
    key: str,
    keys: Iterable[str],
    rows: gpd.GeoDataFrame,
    *,
    only_changed: bool = False,
) -> None:
    """Record new ``rows`` of ``keys`` in layer ``name``: the spliced layer, the changed rows and their boxes."""
    keys = sorted({str(k) for k in keys})
    old = before.layers.get(name)
    if old is None:
        old = rows.iloc[0:0]
    if only_changed:
        mine = old[old[key].astype(str).isin(keys)] if len(old) else old
        keys = _changed_keys(mine, rows, key, keys)
        rows = rows[rows[key].astype(str).isin(keys)] if len(rows) else rows
        if not keys:
            return
    layers[name] = splice(old, key, keys, rows)
    changes[name] = LayerRows(key, keys, rows)
    boxes[name] = _boxes(old[old[key].astype(str).isin(keys)] if len(old) else None, rows)
