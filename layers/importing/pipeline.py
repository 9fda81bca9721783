"""``import_sources``: the import as a pipeline of named steps, from files to a checked dataset (nothing is written).

1. :func:`~layers.importing.sources.read_sources`: every table in the files, zips and OSM extracts.
2. :func:`~layers.importing.prepare.prepare_tables`: each table as a validated layer in WGS84.
3. :func:`_merged`: one frame per layer (own files win over OpenStreetMap; ids renumbered where they collide).
4. :func:`~layers.importing.clip.clip_mask`: ``--bbox`` / ``--clip``, then absent layers empty.
5. :mod:`~layers.importing.checks`: features far from the rest left out, data outside China,
   :mod:`~layers.importing.detect`: the web-map offset, estimated households and their densities, no existing centre.
6. :func:`_dataset`: the :class:`~layers.dataset.Dataset` with its metric CRS and the report in its meta.

Writing it into a store is :mod:`~layers.importing.publish`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from geo.crs import WGS84, metric_crs
from geo.errors import InputError, InvalidValueError
from layers.dataset import Dataset, LayerReport, empty_layer
from layers.importing.archives import remove_tree, scratch_folder
from layers.importing.checks import (
    count_road_network,
    drop_far_away,
    warn_estimated_households,
    warn_no_centres,
    warn_outside_china,
    warn_unknown_categories,
)
from layers.importing.clip import clip_layer, clip_mask
from layers.importing.detect import check_shifts
from layers.importing.options import ImportOptions, Progress, nothing, parse_crs
from layers.importing.prepare import PreparedTable, prepare_tables
from layers.importing.report import ImportReport
from layers.importing.sources import read_sources
from layers.schema import INPUT_LAYERS, LAYER_SPECS, OPTIONAL_LAYERS


def _unique_ids(frames: list[tuple[gpd.GeoDataFrame, bool]], prefix: str) -> gpd.GeoDataFrame:
    """Concatenate one layer's frames; ids assigned by row order are renumbered across sources when they collide."""
    if len(frames) == 1:
        return frames[0][0]
    given = {str(i) for f, has in frames if has for i in f["id"]}
    counter = 0
    parts = []
    for f, has in frames:
        f = f.copy()
        if not has:
            new = []
            for _ in range(len(f)):
                counter += 1
                while f"{prefix}{counter:04d}" in given:
                    counter += 1
                new.append(f"{prefix}{counter:04d}")
            f["id"] = new
        parts.append(f)
    out = pd.concat(parts, ignore_index=True)
    dup = out["id"].duplicated(keep=False)
    if dup.any():
        msg = f"ids repeat across sources: {', '.join(sorted(set(out.loc[dup, 'id'].astype(str)))[:5])}"
        raise InvalidValueError(msg, field="id")
    return gpd.GeoDataFrame(out, geometry=frames[0][0].geometry.name, crs=WGS84)


def _merged(layer: str, tables: list[PreparedTable], report: ImportReport) -> gpd.GeoDataFrame:
    """One layer from its tables; the user's own files replace an OpenStreetMap one (with a warning)."""
    own = [t for t in tables if t.raw.fmt != "osm"]
    osm = [t for t in tables if t.raw.fmt == "osm"]
    if own and osm:
        for t in osm:
            report.warn(
                "osm_layer_replaced",
                f"layer `{layer}` comes from {', '.join(i.raw.source for i in own)}; the OpenStreetMap `{layer}` was not used",
                t.raw.source,
            )
            t.report.kept = 0
        tables = own
    return _unique_ids([(t.frame, t.ids_given) for t in tables], LAYER_SPECS[layer].id_prefix)


def _clipped(layers: dict[str, gpd.GeoDataFrame], tables: dict[str, list[PreparedTable]], mask: object) -> None:
    """Each imported layer cut to ``mask``; the rows dropped counted on its first source."""
    if mask is None:
        return
    for layer, items in tables.items():
        layers[layer], dropped = clip_layer(layers[layer], layer, mask)
        if dropped:
            items[0].report.clipped += dropped


def _completed(layers: dict[str, gpd.GeoDataFrame], *, clipped: bool, options: ImportOptions) -> None:
    """Absent input layers (but gates) added empty; an error when no feature is left at all."""
    for layer in INPUT_LAYERS:
        if layer not in layers and layer not in OPTIONAL_LAYERS:
            layers[layer] = empty_layer(layer)
    if not any(len(f) for f in layers.values()):
        msg = "nothing left to import" + (" inside the clip area" if clipped else "")
        raise InputError(msg, field="bbox" if options.bbox else "source")


def _dataset(layers: dict[str, gpd.GeoDataFrame], tables: dict[str, list[PreparedTable]], crs: CRS, report: ImportReport) -> Dataset:
    """The dataset: layers, metric CRS, a load report per layer, and the import report in its meta."""
    report.layers = {k: len(v) for k, v in layers.items()}
    report.metric_crs = crs.to_string()
    load = {
        layer: LayerReport(
            read=sum(t.report.read for t in items),
            kept=len(layers[layer]),
            repaired=sum(t.report.repaired for t in items),
            rejected=[{**r, "source": t.report.source} for t in items for r in t.report.rejected],
            defaults=sorted({d for t in items for d in t.report.defaults}),
            source_crs=", ".join(sorted({t.report.crs for t in items})),
        )
        for layer, items in tables.items()
    }
    return Dataset(layers=layers, metric_crs=crs, report=load, meta={"import_report": report.as_dict()})


def import_sources(
    sources: Sequence[str | os.PathLike[str]],
    *,
    options: ImportOptions | None = None,
    progress: Progress = nothing,
) -> tuple[Dataset, ImportReport]:
    """Read, check and assemble sources into a dataset (nothing is written).

    Parameters
    ----------
    sources
        Files to import: ``.gpkg``, ``.geojson``, ``.shp``, ``.zip``,
        ``.kml``/``.kmz``, ``.csv``, ``.xlsx``, ``.osm.pbf``/``.osm``.
    options
        See :class:`~layers.importing.options.ImportOptions`.
    progress
        Called with a short description as each source or step starts.

    Returns
    -------
    (Dataset, ImportReport)
        Input layers in EPSG:4326 (absent ones empty), the metric CRS chosen
        from their extent, ``meta["import_report"]``; and the report.

    Raises
    ------
    InputError, CRSError, MissingColumnError, InvalidValueError
        A source that cannot be read or used, naming it (and the row and
        column when one is at fault).
    """
    options = (options or ImportOptions()).checked()
    if not sources:
        msg = "give at least one source file to import"
        raise InputError(msg, field="source")
    given = parse_crs(options.crs)
    report = ImportReport()
    scratch = scratch_folder()
    try:
        raws = read_sources(sources, options=options, scratch=scratch, progress=progress)
        progress("checking")
        tables = prepare_tables(raws, options=options, given=given, report=report)
        layers = {layer: _merged(layer, items, report) for layer, items in tables.items()}
        mask = clip_mask(options, layers, scratch)
        _clipped(layers, tables, mask)
        _completed(layers, clipped=mask is not None, options=options)
        drop_far_away(layers, tables, report)
        warn_outside_china(layers, report)
        crs = metric_crs(*[f for f in layers.values() if len(f)])
        check_shifts(tables, given, crs, report)
        warn_estimated_households(layers, tables, crs, options.osm, report)
        warn_no_centres(layers, report)
        count_road_network(layers, crs, report)
        warn_unknown_categories(layers, report)
        return _dataset(layers, tables, crs, report), report
    finally:
        remove_tree(scratch)
