"""Importing the files planners hold into a dataset, and reporting every decision.

``import_sources`` reads one or more sources (GeoPackage, GeoJSON, Shapefile,
zip, KML, CSV/XLSX with coordinates, OpenStreetMap), decides which input layer
each table is, maps Chinese or English headers onto the design's columns,
brings coordinates to WGS84 (any EPSG code, CGCS2000, or GCJ-02/BD-09 web-map
coordinates), validates and repairs rows, and returns a
:class:`~layers.dataset.Dataset` plus an :class:`ImportReport`; nothing is
written.  ``write_import`` / ``import_to_gpkg`` / ``import_to_file`` then
write it into the dataset's store in one transaction.  Heuristics warn, they
never silently change data.

One concern per module:

Options, report and words
    :mod:`~layers.importing.options` (``--crs``, ``--layer``, ``--columns`` ..., OSM household and centre options),
    :mod:`~layers.importing.report` (the import report and its text form),
    :mod:`~layers.importing.messages` (every warning and error from the catalogue, in the import's language).
Reading (each file becomes :class:`~layers.importing.raw.RawLayer` s, nothing validated)
    :mod:`~layers.importing.raw` (the raw layer, formats, header keys, encodings),
    :mod:`~layers.importing.sources` (the tables in files, zips and OSM extracts),
    :mod:`~layers.importing.readers` (GeoPackage, GeoJSON, Shapefile, KML),
    :mod:`~layers.importing.tables` (CSV/XLSX with 经度/纬度, X/Y or WKT columns),
    :mod:`~layers.importing.archives` (zips, unpacked within limits),
    :mod:`~layers.importing.osm_files`, :mod:`~layers.importing.osm`, :mod:`~layers.importing.osm_centres`,
    :mod:`~layers.importing.households` (OpenStreetMap files, their tags mapped onto the layers, the mapped
    service centres, households from buildings).
Preparing each table
    :mod:`~layers.importing.kinds` (which layer a table is),
    :mod:`~layers.importing.columns` (header spellings, safe column names),
    :mod:`~layers.importing.coords` (to WGS84, checked against the declared CRS),
    :mod:`~layers.importing.prepare` (the steps for one table, validation).
Assembling and checking
    :mod:`~layers.importing.pipeline` (``import_sources``, the steps in order),
    :mod:`~layers.importing.clip` (``--bbox``, ``--clip``),
    :mod:`~layers.importing.checks` (far-away features, outside China, no centres),
    :mod:`~layers.importing.detect` (GCJ-02/BD-09 offsets against the roads).
Writing
    :mod:`~layers.importing.publish` (into the store in one transaction; report files beside a GeoPackage).
"""

from __future__ import annotations

from layers.importing.options import TARGETS, ImportOptions, OSMOptions, SourceCRS, parse_bbox, parse_columns, parse_crs
from layers.importing.pipeline import import_sources
from layers.importing.publish import (
    StoredImport,
    WriteOptions,
    import_to_file,
    import_to_gpkg,
    remove_stale_scratch,
    write_import,
)
from layers.importing.report import ImportReport, SourceReport, report_lines, report_paths

__all__ = [
    "TARGETS",
    "ImportOptions",
    "ImportReport",
    "OSMOptions",
    "SourceCRS",
    "SourceReport",
    "StoredImport",
    "WriteOptions",
    "import_sources",
    "import_to_file",
    "import_to_gpkg",
    "parse_bbox",
    "parse_columns",
    "parse_crs",
    "remove_stale_scratch",
    "report_lines",
    "report_paths",
    "write_import",
]
