"""The ``dangjian`` command line (typer, rich progress on long steps).

Every deliberate error becomes one line on stderr and exit code 2.  A
dataset is one store (:mod:`api.dataset_store`): ``build`` and ``coverage``
write into it as a new revision; ``-o`` writes a new file, never over one.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from api.cli_errors import OneLineErrors, friendly_errors
from api.commands.token import cli_actor
from api.dataset_store import open_dataset_store
from api.settings import DEMO_DATASET, Settings
from geo.errors import InputError, InvalidValueError
from layers.build import BuildParams, summarize, summary_lines
from layers.dataset import Dataset
from layers.i18n import check_lang, text
from layers.rebuild import Derive, build_in_store, build_state, coverage_only, full_build, prepared_inputs
from layers.store import Store
from layers.store.gpkg import new_geopackage

app = typer.Typer(
    name="dangjian",
    help="党群服务中心 15分钟服务圈: build layers, coverage, reports and maps for a district.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)
err = Console(stderr=True)
out = Console()


@contextmanager
def steps(lang: str, total: int | None) -> Iterator[Callable[[str], None]]:
    """A rich progress bar advanced by catalogue keys (``progress.units`` ...) or plain step texts.

    ``total=None`` is a bar of unknown length (a spinner with the current step).
    """
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(text("progress.read", lang), total=total)

        def advance(key: str) -> None:
            bar.update(task, advance=1, description=text(key, lang))

        yield advance
        bar.update(task, completed=total)


def parse_level_minutes(value: str | None) -> dict[str, float] | None:
    """Parse ``compound=5,community=15`` into a dict."""
    if not value:
        return None
    out: dict[str, float] = {}
    for part in value.split(","):
        key, sep, minutes = part.partition("=")
        try:
            out[key.strip()] = float(minutes)
        except ValueError:
            sep = ""
        if not sep:
            msg = f"`--level-minutes` takes LEVEL=MINUTES pairs like compound=5,community=15; got {part!r}"
            raise InvalidValueError(msg, field="level_minutes")
    return out


DatasetArg = Annotated[Path, typer.Argument(help="GeoPackage or folder of layers (default: the demo district)")]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write a new GeoPackage instead of building inside the dataset")]
MinutesOpt = Annotated[float | None, typer.Option("--minutes", help="Walking minutes (default 15)")]
SpeedOpt = Annotated[float | None, typer.Option("--speed-kmh", help="Walking speed, km/h (default 4)")]
MethodOpt = Annotated[str | None, typer.Option("--method", help="circle or network")]
LevelOpt = Annotated[str | None, typer.Option("--level-minutes", help="Per-level minutes, e.g. compound=5,community=15")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="zh (default) or en")]


def _build_options(minutes: float | None, speed: float | None, method: str | None, level: str | None) -> dict[str, Any]:
    """The build parameters a command's options set (only those given)."""
    given = {"minutes": minutes, "speed_kmh": speed, "method": method, "level_minutes": parse_level_minutes(level)}
    return {k: v for k, v in given.items() if v is not None}


def command_params(meta: dict[str, Any], options: dict[str, Any], settings: Settings) -> BuildParams:
    """What a build uses: its options, then the dataset's stored defaults, then the settings (``DANGJIAN_*``)."""
    base = BuildParams.from_meta(meta, settings.build_params())
    return dataclasses.replace(base, **options).validate()


def _print_params(params: BuildParams, lang: str) -> None:
    levels = "".join(f", {k}={v:g}" for k, v in sorted(params.level_minutes.items()))
    line = text("store.params", lang, minutes=params.minutes, speed=params.speed_kmh, method=params.method, levels=levels)
    err.print(line, highlight=False, markup=False, soft_wrap=True)


def _print_summary(ds: Dataset, lang: str) -> None:
    for line in summary_lines(ds.meta.get("summary") or summarize(ds), lang):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def _derive(dataset: Path, output: Path | None, lang: str | None, options: dict[str, Any], total: int, derive: Derive) -> None:
    """Derive layers with a progress bar: inside the dataset's store, or into the new GeoPackage ``output``."""
    settings = Settings()
    lang = check_lang(lang or settings.lang)
    with open_dataset_store(dataset, settings, actor=cli_actor(), notice=_notice) as store:
        copy = output is not None and (store.path is None or Path(output).resolve() != store.path.resolve())
        with store.snapshot() as snap:
            meta = snap.get_meta()
            state = build_state(snap)
            stored = snap.export_dataset() if copy else None
        params = command_params(meta, options, settings)
        _print_params(params, lang)
        if stored is not None:
            target = Path(str(output))
            if target.exists():
                raise InputError(text("store.copy_exists", lang, path=target), field="output")
            with steps(lang, total) as advance:
                result = derive(prepared_inputs(stored), params, advance)
                advance("progress.write")
                _, created = new_geopackage(target, lambda new: _import_built(new, result))
            if not created:
                raise InputError(text("store.copy_exists", lang, path=target), field="output")
            _print_summary(result, lang)
            out.print(text("summary.written", lang, path=target), highlight=False, markup=False, soft_wrap=True)
            return
        if derive is not full_build and state in ("current", "stale"):
            raise InputError(text("store.coverage_built", lang, path=store.location), field="dataset")
        with steps(lang, total) as advance:
            done = build_in_store(store, params, actor=cli_actor(), progress=advance, derive=derive)
        _print_summary(done.dataset, lang)
        out.print(text("store.built", lang, revision=done.revision, path=store.location), highlight=False, markup=False, soft_wrap=True)


def _notice(line: str) -> None:
    err.print(line, highlight=False, markup=False, soft_wrap=True)


def _import_built(store: Store, dataset: Dataset) -> None:
    with store.transaction(actor=cli_actor()) as tx:
        tx.import_dataset(dataset)


@app.command()
@friendly_errors
def build(
    dataset: DatasetArg = DEMO_DATASET,
    output: OutOpt = None,
    minutes: MinutesOpt = None,
    speed_kmh: SpeedOpt = None,
    method: MethodOpt = None,
    level_minutes: LevelOpt = None,
    lang: LangOpt = None,
) -> None:
    """Recompute every derived layer (units, grids, cells, circles, coverage) inside the dataset, as a new revision.

    The options given become the dataset's stored defaults; the others stay as
    it was last built.  Inputs, edits, tokens and the audit log are kept.  With
    -o, a new GeoPackage is written instead and the dataset is left as it is.
    """
    _derive(dataset, output, lang, _build_options(minutes, speed_kmh, method, level_minutes), 8, full_build)


@app.command()
@friendly_errors
def coverage(
    dataset: DatasetArg = DEMO_DATASET,
    output: OutOpt = None,
    minutes: MinutesOpt = None,
    speed_kmh: SpeedOpt = None,
    method: MethodOpt = None,
    level_minutes: LevelOpt = None,
    lang: LangOpt = None,
    areas: Annotated[bool, typer.Option("--areas/--no-areas", help="Also draw walking service areas")] = False,
) -> None:
    """Add only the coverage columns (and circles): into a dataset not yet built, or with -o into a new GeoPackage."""
    _derive(dataset, output, lang, _build_options(minutes, speed_kmh, method, level_minutes), 4, coverage_only(areas=areas))


def _register_commands() -> None:
    """Register every ``api.commands`` module's sub-commands."""
    import importlib
    import pkgutil

    import api.commands

    for info in sorted(pkgutil.iter_modules(api.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"api.commands.{info.name}").register(app)


_register_commands()


def main() -> None:  # pragma: no cover - console entry
    """Console entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
