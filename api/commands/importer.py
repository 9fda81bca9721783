"""``dangjian import``: assemble a dataset from the files planners hold.

The output is the dataset's store: a GeoPackage, or a PostGIS schema
(``--output postgresql://user@host/db?schema=NAME``, or a ``.gpkg`` name while
``DANGJIAN_DATABASE_URL`` is set: the schema named after the file).  Layers,
meta values and the import report are written in one store transaction (audit
actor ``cli:<user>``), so a failed import leaves an existing dataset as it
was, with its audit log, scenarios and tokens.  A GeoPackage's report is also
written beside the file (``X.import.txt`` and ``X.import.json``) for people.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli_errors import friendly_errors
from api.commands.console import out, steps
from api.commands.token import cli_actor
from api.settings import Settings
from layers.i18n import check_lang
from layers.importing import (
    ImportOptions,
    import_sources,
    import_to_file,
    parse_bbox,
    parse_columns,
    report_lines,
    report_paths,
    write_import,
)
from layers.store import is_database_url, open_store


@friendly_errors
def import_(
    sources: Annotated[list[Path], typer.Argument(help="Files: .gpkg .geojson .shp .zip .kml .csv .xlsx .osm.pbf .osm")],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o",
            help="Dataset to import into: a GeoPackage, or postgresql://...?schema=NAME; in an existing one only the imported layers are replaced, in one transaction",
        ),
    ],
    crs: Annotated[
        str | None,
        typer.Option("--crs", help="Coordinates of the sources: wgs84, cgcs2000, gcj02 (AMap), bd09 (Baidu) or EPSG:NNNN"),
    ] = None,
    layer: Annotated[
        str | None, typer.Option("--layer", help="Import as this layer: roads, rivers, compounds, centers, boundary, gates")
    ] = None,
    columns: Annotated[str | None, typer.Option("--columns", help="Header mapping, e.g. 名称=name,户数=households,东经=lon")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="Text encoding of .dbf/.csv (default: .cpg, else UTF-8/GBK detected)")] = None,
    bbox: Annotated[str | None, typer.Option("--bbox", help="Keep only minlon,minlat,maxlon,maxlat (WGS84)")] = None,
    clip: Annotated[str | None, typer.Option("--clip", help="'boundary' (the imported boundary) or a polygon file")] = None,
    swap_xy: Annotated[bool, typer.Option("--swap-xy", help="Swap the two coordinates (lat/lon or surveyors' X/Y)")] = False,
    skip_bad_rows: Annotated[bool, typer.Option("--skip-bad-rows", help="Leave out rows with bad values and list them")] = False,
    point_radius_m: Annotated[float, typer.Option("--point-radius-m", help="Radius (m) of compounds given as points")] = 50.0,
    replace: Annotated[
        bool, typer.Option("--replace", help="Start the dataset anew (default: replace only the layers imported, keep the others)")
    ] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Accept a dataset left without compounds or without centres")
    ] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="zh (default) or en")] = None,
) -> None:
    """Import GeoPackage, GeoJSON, Shapefile, KML, CSV/XLSX and OpenStreetMap files into one dataset."""
    settings = Settings()
    lang = check_lang(lang or settings.lang)
    options = ImportOptions(
        crs=crs,
        layer=layer,
        columns=parse_columns(columns),
        encoding=encoding,
        bbox=parse_bbox(bbox),
        clip=clip,
        swap_xy=swap_xy,
        skip_bad_rows=skip_bad_rows,
        point_radius_m=point_radius_m,
    )
    database_url = output if is_database_url(output) else settings.database_url
    if database_url:
        # a PostGIS deployment: the dataset is a schema of the city's database
        with steps(lang, None) as advance:
            dataset, report = import_sources(sources, options=options, progress=advance)
            with open_store(output, database_url=settings.database_url or None, seed=False) as store:
                done = write_import(
                    store, dataset, report, actor=cli_actor(), label=store.location, progress=advance,
                    anew=replace, allow_empty=allow_empty,
                )
        for line in report_lines(report, lang):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        out.print(f"{store.location}  (import report {done.report_id}, revision {done.revision})", highlight=False, markup=False)
        return
    with steps(lang, None) as advance:
        _, report = import_to_file(
            sources, Path(output), options=options, actor=cli_actor(), lang=lang, progress=advance,
            anew=replace, allow_empty=allow_empty,
        )
    for line in report_lines(report, lang):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    json_path, txt_path = report_paths(Path(output))
    out.print(f"{output}  ({json_path.name}, {txt_path.name})", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``import`` command to the ``dangjian`` app."""
    app.command("import")(import_)
