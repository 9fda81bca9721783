"""``dangjian export``: a static tile package (MBTiles or PMTiles) a portal can host without this service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from api.cli_errors import friendly_errors
from api.commands.console import err, out, progress_bar, steps
from api.commands.options import LangOpt
from api.dataset_store import read_stored_dataset
from api.settings import DEMO_DATASET, Settings
from geo.files import check_output_folder
from layers.build import build_dataset
from layers.i18n import check_lang, text
from layers.tiles.containers import package_kind, parse_tile_format
from layers.tiles.package import DEFAULT_LAYERS, DEFAULT_MAX_TILES, export_tile_package, parse_zoom_range


@friendly_errors
def export(
    dataset: Annotated[Path, typer.Argument(help="GeoPackage or folder of layers (an unbuilt one is built in memory first)")] = DEMO_DATASET,
    tiles: Annotated[Path, typer.Option("--tiles", help="The package to write: NAME.mbtiles or NAME.pmtiles")] = Path("coverage.pmtiles"),
    zoom: Annotated[str, typer.Option("--zoom", help="Zoom range MIN-MAX, e.g. 12-18 (or one zoom)")] = "12-16",
    layers: Annotated[
        str | None, typer.Option("--layers", help=f"Comma-separated tile layers, or all (default {','.join(DEFAULT_LAYERS)})")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="mvt (vector tiles, default) or png (256 px)")] = "mvt",
    max_tiles: Annotated[int, typer.Option("--max-tiles", min=1, help="Refuse packages of more tiles than this")] = DEFAULT_MAX_TILES,
    lang: LangOpt = None,
) -> None:
    """Write the dataset's map tiles into one MBTiles or PMTiles file, drawn as the service draws them."""
    settings = Settings()
    lang = check_lang(lang or settings.lang)
    kind = package_kind(tiles)
    zooms = parse_zoom_range(zoom)
    tile_format = parse_tile_format(fmt)
    names = [n.strip() for n in layers.split(",") if n.strip()] if layers else None
    check_output_folder(tiles, field="tiles")  # before a build that may take a while
    ds = read_stored_dataset(dataset, settings, notice=lambda line: err.print(line, highlight=False, markup=False))
    if not ds.built:
        with steps(lang, 7) as advance:
            ds = build_dataset(ds, settings.build_params(), progress=advance)
    with progress_bar(
        BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task(text("export.progress", lang, kind=kind.value), total=None, rate="")

        def start(total: int) -> None:
            bar.update(task, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)
            t = bar.tasks[0]
            if t.elapsed:
                bar.update(task, rate=text("export.rate", lang, rate=t.completed / t.elapsed))

        done = export_tile_package(
            ds, tiles, zooms=zooms, layers=names, fmt=tile_format, max_tiles=max_tiles, lang=lang,
            progress=advance, on_start=start,
        )
    out.print(
        text(
            "export.summary", lang, tiles=done.tiles, distinct=done.distinct, empty=done.empty,
            layers=",".join(done.info.layers), fmt=tile_format.value, zmin=zooms[0], zmax=zooms[1],
            mb=done.size_bytes / 1e6, seconds=done.seconds, rate=done.tiles_per_second,
        ),
        highlight=False, markup=False, soft_wrap=True,
    )
    err.print(text("summary.written", lang, path=done.path), highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``export`` command to the ``dangjian`` app."""
    app.command()(export)
