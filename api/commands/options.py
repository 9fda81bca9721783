"""Arguments and options several ``dangjian`` commands share, and their parsing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from layers.circles import parse_level_minutes

DatasetArg = Annotated[Path, typer.Argument(help="GeoPackage or folder of layers (default: the demo district)")]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write a new GeoPackage instead of building inside the dataset")]
MinutesOpt = Annotated[float | None, typer.Option("--minutes", help="Walking minutes (default 15)")]
SpeedOpt = Annotated[float | None, typer.Option("--speed-kmh", help="Walking speed, km/h (default 4)")]
MethodOpt = Annotated[str | None, typer.Option("--method", help="circle or network")]
LevelOpt = Annotated[str | None, typer.Option("--level-minutes", help="Per-level minutes, e.g. compound=5,community=15")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="zh (default) or en")]


def level_minutes_option(value: str | None) -> dict[str, float] | None:
    """The ``--level-minutes`` option (``compound=5,community=15``) as a dict, ``None`` when not given."""
    return parse_level_minutes(value, option="--level-minutes") if value else None
