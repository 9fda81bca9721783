"""``dangjian build`` and ``dangjian coverage``: derive layers inside the dataset's store, or into a new GeoPackage.

A dataset is one store (:mod:`api.dataset_store`): both commands write into
it as a new revision; ``-o`` writes a new file, never over one.  They share
their options (:func:`derive_command`); each adds its own.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli_errors import friendly_errors
from api.commands.console import err, notice, out, steps
from api.commands.options import (
    DatasetArg,
    LangOpt,
    LevelOpt,
    MethodOpt,
    MinutesOpt,
    OutOpt,
    SpeedOpt,
    level_minutes_option,
)
from api.commands.token import cli_actor
from api.dataset_store import open_dataset_store
from api.settings import DEMO_DATASET, Settings
from geo.errors import InputError
from layers.build import BuildParams, summarize, summary_lines
from layers.dataset import Dataset
from layers.i18n import check_lang, text
from layers.rebuild import Derive, build_in_store, build_state, coverage_only, full_build, prepared_inputs
from layers.store import Store
from layers.store.gpkg import new_geopackage


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
    with open_dataset_store(dataset, settings, actor=cli_actor(), notice=notice) as store:
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


def _import_built(store: Store, dataset: Dataset) -> None:
    with store.transaction(actor=cli_actor()) as tx:
        tx.import_dataset(dataset)


def _shared_options(
    dataset: DatasetArg = DEMO_DATASET,
    output: OutOpt = None,
    minutes: MinutesOpt = None,
    speed_kmh: SpeedOpt = None,
    method: MethodOpt = None,
    level_minutes: LevelOpt = None,
    lang: LangOpt = None,
) -> None:
    """The options of every command deriving layers (only this signature is used)."""


def derive_command(total: int) -> Callable[[Callable[..., Derive]], Callable[..., None]]:
    """Make ``choose(**own options) -> Derive`` a command taking :func:`_shared_options`' options, then its own.

    The command derives with what ``choose`` returns, in ``total`` steps
    (:func:`_derive`); typer reads the combined signature, ``choose`` gives
    the name and help.
    """
    shared = list(inspect.signature(_shared_options, eval_str=True).parameters.values())

    def wrap(choose: Callable[..., Derive]) -> Callable[..., None]:
        params = [*shared, *inspect.signature(choose, eval_str=True).parameters.values()]

        @wraps(choose)
        def command(
            *, dataset: Path, output: Path | None, minutes: float | None, speed_kmh: float | None, method: str | None,
            level_minutes: str | None, lang: str | None, **own: Any,
        ) -> None:
            given = {"minutes": minutes, "speed_kmh": speed_kmh, "method": method, "level_minutes": level_minutes_option(level_minutes)}
            options = {k: v for k, v in given.items() if v is not None}
            _derive(dataset, output, lang, options, total, choose(**own))

        command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


@derive_command(total=8)
def build() -> Derive:
    """Recompute every derived layer (units, grids, cells, circles, coverage) inside the dataset, as a new revision.

    The options given become the dataset's stored defaults; the others stay as
    it was last built.  Inputs, edits, tokens and the audit log are kept.  With
    -o, a new GeoPackage is written instead and the dataset is left as it is.
    """
    return full_build


@derive_command(total=4)
def coverage(
    areas: Annotated[bool, typer.Option("--areas/--no-areas", help="Also draw walking service areas")] = False,
) -> Derive:
    """Add only the coverage columns (and circles): into a dataset not yet built, or with -o into a new GeoPackage."""
    return coverage_only(areas=areas)


def register(app: typer.Typer) -> None:
    """Add the ``build`` and ``coverage`` commands to the ``dangjian`` app."""
    app.command()(friendly_errors(build))
    app.command()(friendly_errors(coverage))
