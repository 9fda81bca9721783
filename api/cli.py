"""The ``dangjian`` command line (typer, rich progress on long steps).

Every deliberate error becomes one line on stderr and exit code 2; the
output file is replaced only after the new one is complete.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from api.cli_errors import OneLineErrors, friendly_errors
from api.settings import DEMO_DATASET, Settings
from geo.errors import InvalidValueError
from layers.build import BuildParams, build_dataset, coverage_layers, summarize, summary_lines
from layers.dataset import Dataset, read_dataset, write_dataset
from layers.i18n import check_lang, text

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


def default_output(dataset: Path) -> Path:
    """``district.gpkg`` -> ``district.built.gpkg`` beside it."""
    base = dataset if dataset.is_dir() else dataset.with_suffix("")
    return base.parent / f"{base.name}.built.gpkg"


DatasetArg = Annotated[Path, typer.Argument(help="GeoPackage or folder of layers (default: the demo district)")]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Output GeoPackage")]
MinutesOpt = Annotated[float | None, typer.Option("--minutes", help="Walking minutes (default 15)")]
SpeedOpt = Annotated[float | None, typer.Option("--speed-kmh", help="Walking speed, km/h (default 4)")]
MethodOpt = Annotated[str | None, typer.Option("--method", help="circle or network")]
LevelOpt = Annotated[str | None, typer.Option("--level-minutes", help="Per-level minutes, e.g. compound=5,community=15")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="zh (default) or en")]


def _lang_and_params(
    lang: str | None, minutes: float | None, speed: float | None, method: str | None, level: str | None
) -> tuple[str, BuildParams]:
    """The language and build parameters of a command: options first, then settings."""
    settings = Settings()
    params = settings.build_params(minutes=minutes, speed_kmh=speed, method=method, level_minutes=parse_level_minutes(level))
    return check_lang(lang or settings.lang), params.validate()


def _derive_and_write(
    dataset: Path, output: Path | None, lang: str, total: int, derive: Callable[[Dataset, Callable[[str], None]], Dataset]
) -> None:
    """Read ``dataset``, derive layers with a progress bar of ``total`` steps, write atomically, print the summary."""
    with steps(lang, total) as advance:
        result = derive(read_dataset(dataset), advance)
        advance("progress.write")
        path = write_dataset(result, output or default_output(dataset))
    _print_summary(result, lang, path)


def _print_summary(ds: Dataset, lang: str, path: Path) -> None:
    for line in summary_lines(ds.meta.get("summary") or summarize(ds), lang):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    out.print(text("summary.written", lang, path=path), highlight=False, markup=False)


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
    """Derive every layer (units, grids, cells, circles, coverage) into one GeoPackage."""
    lang, params = _lang_and_params(lang, minutes, speed_kmh, method, level_minutes)
    _derive_and_write(dataset, output, lang, 8, lambda ds, advance: build_dataset(ds, params, progress=advance))


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
    """Add only the coverage columns (and circles) to a dataset."""
    lang, params = _lang_and_params(lang, minutes, speed_kmh, method, level_minutes)

    def derive(ds: Dataset, advance: Callable[[str], None]) -> Dataset:
        result = coverage_layers(ds, params, progress=advance, areas=areas)
        result.meta["summary"] = summarize(result)
        return result

    _derive_and_write(dataset, output, lang, 4, derive)


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
