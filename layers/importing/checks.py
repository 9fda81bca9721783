"""Checks of the assembled layers that warn in the report: data far from the rest, outside China, no centres yet,
estimated households and their densities.

Heuristics warn, they never silently change data; the one exception is a
feature farther than :data:`FAR_MIN_KM` (and :data:`FAR_FACTOR` times the
data's own spread) from the bulk of all layers, typically a typo'd
coordinate, another city's row or a 0,0 point: it is left out and named in
the report.  Checks of single tables (coordinates against their CRS, the
web-map offset) live in :mod:`~layers.importing.coords` and
:mod:`~layers.importing.detect`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.chinacoords import out_of_china
from geo.crs import bulk_centre, distance_from_km
from geo.errors import GeometryError
from layers.importing.households import DENSITY_TOLERANCE, SPARSE_HH_PER_HA, Densities, check_densities
from layers.importing.messages import listing, say, word
from layers.importing.options import OSMOptions
from layers.importing.prepare import PreparedTable
from layers.importing.report import ImportReport
from layers.services.catalogue import DEFAULT_CATALOGUE
from layers.services.parse import parse_categories
from layers.walking import MIN_CONNECTED_SHARE, fragmented_cause, network_counts, walking_network

#: A feature farther than this from the bulk of the data (km), and than FAR_FACTOR times the bulk's own spread,
#: is left out of the import and listed in the report (a typo'd coordinate, another city's row, a 0,0 point).
FAR_MIN_KM = 50.0
FAR_FACTOR = 5.0

#: Far features named in the warning; the rest are counted.
_FAR_NAMED = 10


def _distances_km(layers: dict[str, gpd.GeoDataFrame]) -> tuple[dict[str, np.ndarray], float]:
    """Per non-empty layer, each feature's distance (km) from the bulk centre of all; and the limit beyond which it is far."""
    centre = bulk_centre(*[f for f in layers.values() if len(f)])
    distances = {}
    for layer, frame in layers.items():
        if not len(frame):
            continue
        b = shapely.bounds(frame.geometry.to_numpy())
        distances[layer] = distance_from_km((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, centre)
    spreads = [d[np.isfinite(d)] for d in distances.values()]
    spread = float(np.quantile(np.concatenate(spreads), 0.9)) if spreads else 0.0
    return distances, max(FAR_MIN_KM, FAR_FACTOR * spread)


def drop_far_away(layers: dict[str, gpd.GeoDataFrame], tables: dict[str, list[PreparedTable]], report: ImportReport) -> None:
    """Leave out features far from the robust bulk of all layers; one report warning per layer with their ids/names."""
    if not any(len(f) for f in layers.values()):
        return
    distances, limit = _distances_km(layers)
    for layer, d in distances.items():
        far = ~(d <= limit)
        if not far.any():
            continue
        frame = layers[layer]
        label = frame["name"] if "name" in frame.columns else frame.get("id", pd.Series(frame.index, index=frame.index))
        named = [str(v) for v in label[far].head(_FAR_NAMED)]
        first = tables[layer][0] if tables.get(layer) else None
        report.warn(
            "far_away",
            source=first.raw.source if first else "",
            count=int(far.sum()),
            layer=layer,
            limit_km=round(float(limit), 1),
            max_km=round(float(np.nanmax(np.where(far, d, 0))), 1),
            names=listing(named) + (" …" if far.sum() > _FAR_NAMED else ""),
        )
        layers[layer] = frame[~far].reset_index(drop=True) if isinstance(frame.index, pd.RangeIndex) else frame[~far]
        if first:
            first.report.clipped += int(far.sum())


def warn_outside_china(layers: dict[str, gpd.GeoDataFrame], report: ImportReport) -> None:
    """One warning naming the layers that lie mostly outside China."""
    outside = []
    for layer, frame in layers.items():
        geoms = frame.geometry.to_numpy()
        if not len(geoms):
            continue
        pts = shapely.get_coordinates(shapely.point_on_surface(geoms))
        share = float(out_of_china(pts[:, 0], pts[:, 1]).mean())
        if share > 0.5:
            outside.append(f"{word(f'layer.{layer}')} {share:.0%}")
    if outside:
        report.warn("outside_china", layers=listing(outside))


def count_road_network(layers: dict[str, gpd.GeoDataFrame], crs: CRS, report: ImportReport) -> None:
    """Build the imported roads' walking network once: its junction counts go into the report, a network in pieces is a warning.

    Below :data:`layers.walking.MIN_CONNECTED_SHARE` of the road length in
    one connected piece the warning names the likely cause (crossings kept
    apart by bridge / tunnel / layer marks, else gaps between roads).
    """
    roads = layers.get("roads")
    if roads is None or not len(roads):
        return
    try:
        net = walking_network(roads, metric_crs=crs)
    except GeometryError:  # no walkable line with a length: nothing to count
        return
    counts = network_counts(net)
    report.network = counts
    if counts["largest_piece_share"] < MIN_CONNECTED_SHARE:
        cause = fragmented_cause(counts).rsplit(".", 1)[-1]
        report.warn(
            f"network_fragmented_{cause}", share=round(100 * counts["largest_piece_share"], 1),
            n=sum(counts["apart"].values()),
        )


def warn_no_centres(layers: dict[str, gpd.GeoDataFrame], report: ImportReport) -> None:
    """Warn when no existing service centre was imported: every compound starts uncovered."""
    centers = layers["centers"]
    if not len(centers) or not centers["status"].eq("existing").any():
        report.warn("no_centers")


def warn_unknown_categories(layers: dict[str, gpd.GeoDataFrame], report: ImportReport) -> None:
    """Warn, per layer, about needs or services that name no category of the catalogue (they are not matched)."""
    for layer, column in (("compounds", "needs"), ("centers", "services")):
        frame = layers.get(layer)
        if frame is None or column not in frame.columns or not len(frame):
            continue
        unknown: dict[str, int] = {}
        rows = 0
        for value in frame[column].dropna().astype(str).unique():
            names = parse_categories(value)[1]
            if names:
                count = int((frame[column] == value).sum())
                rows += count
                for name in names:
                    unknown[name] = unknown.get(name, 0) + count
        if unknown:
            known = listing(c.zh for c in DEFAULT_CATALOGUE)
            report.warn("unknown_categories", layer=word(f"layer.{layer}"), count=rows, names=listing(sorted(unknown)), known=known)


#: Implausible compounds named in the warning, the worst first; the rest are counted.
_WORST_NAMED = 5


def warn_estimated_households(
    layers: dict[str, gpd.GeoDataFrame], tables: dict[str, list[PreparedTable]], crs: CRS, options: OSMOptions, report: ImportReport
) -> None:
    """How many compounds have estimated households and from what; one warning for the implausible densities.

    Counted on the compounds as imported (after clipping and far-away
    features), named after the table they came from.
    """
    comp = layers.get("compounds")
    if comp is None or "households_estimated" not in comp.columns or not comp["households_estimated"].fillna(False).any():
        return
    source = next((t.raw.source for t in tables.get("compounds", []) if "households_estimated" in t.frame.columns), "")
    estimated = comp[comp["households_estimated"].fillna(False).to_numpy(dtype=bool)]
    counts = estimated["households_source"].value_counts()
    report.warn(
        "households_estimated",
        source=source,
        count=len(estimated),
        by_source=listing(f"{say('households_source.' + str(k))} {v}" for k, v in counts.items()),
        m2=options.floor_area_per_household_m2,
        far=options.floor_area_ratio,
    )
    if "storeys" not in comp.columns:
        return
    found = check_densities(comp, metric=crs, options=options)
    if len(found.dense) or len(found.sparse):
        report.warn("households_implausible", source=source, **_density_values(comp, found, len(estimated)))


def _density_values(comp: gpd.GeoDataFrame, found: Densities, estimated: int) -> dict[str, object]:
    """The implausible densities' counts and the worst few, each with its numbers."""
    ratio = found.per_ha / found.bounds
    worst = [*found.dense[np.argsort(-ratio[found.dense])], *found.sparse[np.argsort(found.per_ha[found.sparse])]][:_WORST_NAMED]
    dense = set(found.dense.tolist())
    cases = [
        say(
            "density_case",
            name=comp["name"].iloc[i],
            per_ha=found.per_ha[i],
            households=int(comp["households"].iloc[i]),
            storeys=float(comp["storeys"].iloc[i]),
            kind=say(f"density.{found.classes[i]}"),
            bound=found.bounds[i] if i in dense else SPARSE_HH_PER_HA,
        )
        for i in worst
    ]
    return {
        "count": len(found.dense) + len(found.sparse),
        "dense": len(found.dense),
        "sparse": len(found.sparse),
        "estimated": estimated,
        "tolerance": DENSITY_TOLERANCE,
        "sparse_per_ha": SPARSE_HH_PER_HA,
        "worst": listing(cases),
    }
