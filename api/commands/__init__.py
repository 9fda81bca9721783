"""Sub-commands of ``dangjian`` beyond build/coverage.

Each module here defines ``register(app: typer.Typer) -> None``; ``api.cli``
registers every module of this package at import.
"""
