"""The ``dangjian`` command line (typer, rich progress on long steps): the app and its commands, in one place.

Every deliberate error becomes one line on stderr and exit code 2
(:mod:`api.cli_errors`).  Each module of :mod:`api.commands` adds its
commands with ``register(app)``; :data:`COMMANDS` lists them in the order
``dangjian --help`` shows them.
"""

from __future__ import annotations

import sys

import typer

from api.cli_errors import OneLineErrors
from api.commands import batch, build, export, importer, optimize, report, serve, token

#: The command modules, in the order ``dangjian --help`` lists their commands.
COMMANDS = (build, batch, export, importer, optimize, report, serve, token)


def make_app() -> typer.Typer:
    """The ``dangjian`` app with every command of :data:`COMMANDS`."""
    app = typer.Typer(
        name="dangjian",
        help="党群服务中心 15分钟服务圈: build layers, coverage, reports and maps for a district.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=OneLineErrors,
    )
    for module in COMMANDS:
        module.register(app)
    return app


app = make_app()


def main() -> None:  # pragma: no cover - console entry
    """Console entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
