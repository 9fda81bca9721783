"""``dangjian optimize``: sites for new centres (maximal covering, or set covering with ``--cover-all``)."""


from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli_errors import friendly_errors
from api.commands.console import err, out
from api.commands.options import LangOpt
from api.dataset_store import read_stored_dataset
from api.settings import DEMO_DATASET, Settings
from geo.errors import InvalidValueError
from geo.files import check_output_folder, write_atomic
from layers.i18n import check_lang, text
from layers.planning.files import read_candidates, write_suggestion
from layers.planning.problem import coverage_problem
from layers.planning.suggestion import maximal_covering, set_covering, suggestion_dataset


def register(app: typer.Typer) -> None:
    """Add the ``optimize`` command to the ``dangjian`` app."""

    @app.command()
    @friendly_errors
    def optimize(
        dataset: Annotated[Path, typer.Argument(help="GeoPackage or folder of layers")] = DEMO_DATASET,
        new_centers: Annotated[int | None, typer.Option("--new-centers", "-k", help="Number of new centres (maximal covering)")] = None,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Sites file: .geojson, .gpkg or .csv")] = None,
        candidates: Annotated[Path | None, typer.Option("--candidates", help="Candidate points (GeoJSON, GeoPackage, Shapefile, or CSV with lon,lat)")] = None,
        level: Annotated[str, typer.Option("--level", help="Level of the new centres (sets their minutes)")] = "community",
        minutes: Annotated[float | None, typer.Option("--minutes", help="Walking minutes (default: the build's, else 15)")] = None,
        method: Annotated[str | None, typer.Option("--method", help="circle or network (default: the build's)")] = None,
        cover_all: Annotated[bool, typer.Option("--cover-all", help="Fewest sites that cover every reachable household (set covering)")] = False,
        time_limit: Annotated[float, typer.Option("--time-limit", help="Solver time limit, seconds")] = 30.0,
        solver: Annotated[str, typer.Option("--solver", help="auto (CBC, else HiGHS), cbc or highs (exact), or greedy")] = "auto",
        map_png: Annotated[Path | None, typer.Option("--map", help="Also draw the sites on a PNG map")] = None,
        lang: LangOpt = None,
    ) -> None:
        """Where new centres would newly cover the most households (existing centres kept)."""
        settings = Settings()
        lang = check_lang(lang or settings.lang)
        if new_centers is None and not cover_all:
            msg = "give `--new-centers K` (maximal covering) or `--cover-all` (set covering)"
            raise InvalidValueError(msg, field="new_centers")
        for path in (output, map_png):  # before a solve that may take a while
            if path is not None:
                check_output_folder(path, field="output" if path is output else "map")
        ds = read_stored_dataset(dataset, settings, notice=lambda line: err.print(line, highlight=False, markup=False))
        if not ds.meta.get("params"):
            ds.meta["params"] = asdict(settings.build_params())
        given = read_candidates(candidates) if candidates is not None else None
        problem = coverage_problem(ds, candidates=given, level=level, minutes=minutes, method=method)
        if cover_all:
            result = set_covering(problem, solver=solver, time_limit_s=time_limit, lang=lang)
        else:
            assert new_centers is not None
            result = maximal_covering(problem, new_centers, solver=solver, time_limit_s=time_limit, lang=lang)
        for line in result.summary_lines(lang):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
        tab = result.table(lang)
        if len(tab):
            rich_table = Table(show_lines=False)
            for col in tab.columns:
                rich_table.add_column(str(col), overflow="fold")
            for row in tab.itertuples(index=False):
                rich_table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
            out.print(rich_table)
        if output is not None:
            path = write_suggestion(result, output, lang=lang)
            err.print(text("suggest.written", lang, path=path), highlight=False, markup=False)
        if map_png is not None:
            from layers.reports.map_png import gap_map_png  # matplotlib: loaded only when a map is asked for

            png = gap_map_png(suggestion_dataset(ds, result), lang=lang, sites=result.sites,
                              site_radius_m=result.problem.limit_m)
            write_atomic(map_png, png, field="map")
            err.print(text("summary.written", lang, path=map_png), highlight=False, markup=False)
