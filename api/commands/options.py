"""Arguments and options several ``dangjian`` commands share, and their parsing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo.errors import InvalidValueError

DatasetArg = Annotated[Path, typer.Argument(help="GeoPackage or folder of layers (default: the demo district)")]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write a new GeoPackage instead of building inside the dataset")]
MinutesOpt = Annotated[float | None, typer.Option("--minutes", help="Walking minutes (default 15)")]
SpeedOpt = Annotated[float | None, typer.Option("--speed-kmh", help="Walking speed, km/h (default 4)")]
MethodOpt = Annotated[str | None, typer.Option("--method", help="circle or network")]
LevelOpt = Annotated[str | None, typer.Option("--level-minutes", help="Per-level minutes, e.g. compound=5,community=15")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="zh (default) or en")]


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
