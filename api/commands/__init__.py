"""The ``dangjian`` commands, one module each (``build`` and ``coverage`` share one).

Each command module defines ``register(app: typer.Typer) -> None``;
:data:`api.cli.COMMANDS` lists them and :func:`api.cli.make_app` registers
them.  Shared pieces: :mod:`api.commands.console` (output, progress bars) and
:mod:`api.commands.options` (shared options).
"""
