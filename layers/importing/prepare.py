"""Each table read becomes a validated frame of one input layer, in WGS84, with what it took in the report.

The steps for one :class:`~layers.importing.raw.RawLayer`: decide its layer
(``--layer``, else :func:`~layers.importing.kinds.guess_layer`), rename its
headers (:func:`~layers.importing.columns.map_columns`), swap X/Y if asked,
bring it to WGS84 (:func:`~layers.importing.coords.to_wgs84_checked`), adapt
its geometry kind to the layer (compound points become circles, centre areas
points), then validate and repair its rows with
:func:`layers.dataset.prepare_layer`.  The result is a :class:`PreparedTable`
and a :class:`~layers.importing.report.SourceReport`; a bad value is an error
naming the source (or a rejected row with ``--skip-bad-rows``).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from geo.crs import WGS84, metric_crs
from geo.errors import CRSError, DangjianError, InputError, InvalidValueError, MissingColumnError
from layers.dataset import prepare_layer
from layers.importing.columns import map_columns
from layers.importing.coords import swap_xy, to_wgs84_checked
from layers.importing.kinds import guess_layer
from layers.importing.options import TARGETS, ImportOptions, SourceCRS
from layers.importing.raw import RawLayer
from layers.importing.report import ImportReport, SourceReport

#: Layers of a dataset GeoPackage that ``dangjian build`` makes; importing them would only be overwritten.
DERIVED_LAYERS = frozenset({"units", "grids", "cells", "circles", "service_areas"})


@dataclass
class PreparedTable:
    """One table once validated as a layer.

    Attributes
    ----------
    frame
        The layer's rows in EPSG:4326 with the design's columns.
    ids_given
        Whether the source gave ids (else they were numbered by row and may be renumbered).
    raw
        The table as read.
    report
        What importing it did (also in :attr:`ImportReport.sources`).
    """

    frame: gpd.GeoDataFrame
    ids_given: bool
    raw: RawLayer
    report: SourceReport


def adapt_geometry(frame: gpd.GeoDataFrame, layer: str, source: str, radius_m: float, report: ImportReport) -> gpd.GeoDataFrame:
    """Compounds given as points become small circles; centres or gates given as areas become points."""
    geoms = frame.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return frame
    type_ids = shapely.get_type_id(geoms)
    out = frame
    if layer == "compounds":
        pts = present & np.isin(type_ids, [0, 4])
        if pts.any():
            crs = metric_crs(gpd.GeoSeries(geoms[pts], crs=WGS84))
            metric = gpd.GeoSeries(geoms[pts], crs=WGS84).to_crs(crs)
            circles = metric.buffer(radius_m, quad_segs=8).to_crs(WGS84).to_numpy()
            new = geoms.copy()
            new[pts] = circles
            out = frame.copy()
            out[frame.geometry.name] = gpd.GeoSeries(new, index=frame.index, crs=WGS84)
            report.warn("compounds_from_points", source=source, file=source, count=int(pts.sum()), radius_m=float(radius_m))
    elif layer in {"centers", "gates", "party_orgs"}:
        areas = present & np.isin(type_ids, [1, 2, 3, 5, 6])
        if areas.any():
            new = geoms.copy()
            new[areas] = shapely.point_on_surface(geoms[areas])
            out = frame.copy()
            out[frame.geometry.name] = gpd.GeoSeries(new, index=frame.index, crs=WGS84)
            report.warn("points_from_areas", source=source, file=source, count=int(areas.sum()), layer=layer)
    return out


def _prefixed(exc: DangjianError, source: str) -> DangjianError:
    """The same kind of error, its message starting with the source."""
    cls = MissingColumnError if isinstance(exc, MissingColumnError) else InvalidValueError if isinstance(exc, InvalidValueError) else type(exc)
    try:
        return cls(f"`{source}`: {exc.message}", field=exc.field)
    except TypeError:  # pragma: no cover - subclasses with other signatures
        return InputError(f"`{source}`: {exc.message}", field=exc.field)


def is_input(raw: RawLayer, options: ImportOptions, report: ImportReport) -> bool:
    """Whether a table is imported: not a layer of a dataset GeoPackage that is no input (derived ones say so)."""
    if raw.target and raw.fmt == "gpkg" and raw.target not in TARGETS:
        return False
    if raw.fmt == "gpkg" and raw.hint in DERIVED_LAYERS and options.layer is None:
        report.warn("derived_layer_skipped", f"`{raw.source}` is a derived layer; it is rebuilt by `dangjian build`", raw.source)
        return False
    return True


def prepare_table(raw: RawLayer, *, options: ImportOptions, given: SourceCRS | None, report: ImportReport) -> PreparedTable:
    """One table as a validated layer (warnings go to ``report``; the :class:`SourceReport` is not added to it).

    Raises
    ------
    InputError, CRSError, MissingColumnError, InvalidValueError
        Naming the source (and the row and column when one is at fault).
    """
    layer, why = (options.layer, "--layer") if options.layer and raw.fmt != "osm" else guess_layer(raw, columns=options.columns)
    frame, mapped = map_columns(raw.frame, layer, options.columns)
    if options.swap_xy and not raw.crs_fixed:
        frame = swap_xy(frame)
    frame, crs_label = to_wgs84_checked(raw, frame, given, report)
    frame = adapt_geometry(frame, layer, raw.source, options.point_radius_m, report)
    ids_given = "id" in frame.columns and frame["id"].notna().any()
    try:
        prepared, lr = prepare_layer(frame, layer, reject_invalid=options.skip_bad_rows)
    except (MissingColumnError, InvalidValueError, CRSError) as exc:
        raise _prefixed(exc, raw.source) from None
    for r in lr.rejected:
        problem = raw.row_problems.get(r["row"] - 1)
        if problem and r["reason"] == "missing_geometry":
            r["reason"] = problem
    source = SourceReport(
        source=raw.source,
        format=raw.fmt,
        layer=layer,
        layer_reason=why,
        crs=crs_label,
        encoding=raw.encoding,
        columns={**raw.columns, **mapped},
        read=lr.read,
        kept=lr.kept,
        repaired=lr.repaired,
        rejected=lr.rejected,
        defaults=lr.defaults,
    )
    return PreparedTable(frame=prepared, ids_given=bool(ids_given), raw=raw, report=source)


def prepare_tables(
    raws: list[RawLayer], *, options: ImportOptions, given: SourceCRS | None, report: ImportReport
) -> dict[str, list[PreparedTable]]:
    """Every table that is an input, prepared, by layer (in the order read); their reports added to ``report``.

    Raises
    ------
    InputError
        No table held an input layer.
    """
    tables: dict[str, list[PreparedTable]] = {}
    osm_skipped: dict[str, int] = {}
    for raw in raws:
        for code, note in raw.notes:
            if isinstance(note, dict):
                report.warn(code, source=raw.source, **note)
            else:
                report.warn(code, note, raw.source)
        if not is_input(raw, options, report):
            continue
        table = prepare_table(raw, options=options, given=given, report=report)
        layer = table.report.layer
        if raw.extra.get("skipped"):
            osm_skipped[layer] = osm_skipped.get(layer, 0) + int(raw.extra["skipped"])
        report.sources.append(table.report)
        tables.setdefault(layer, []).append(table)
    if osm_skipped:
        report.warn(
            "osm_skipped",
            "OpenStreetMap features left out as not walkable roads, small ditches, non-area or unrelated features: "
            + ", ".join(f"{k} {v}" for k, v in osm_skipped.items()),
        )
    if not report.sources:
        msg = "nothing to import: no source held an input layer"
        raise InputError(msg, field="source")
    return tables
