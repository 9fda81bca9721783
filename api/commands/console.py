"""The command line's terminal: results on stdout, messages and progress bars on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

from layers.i18n import text

#: Messages, progress bars and errors.
err = Console(stderr=True)
#: Results: summaries, tables, printed tokens.
out = Console()


def notice(line: str) -> None:
    """One line for people on stderr, printed as it is (no markup)."""
    err.print(line, highlight=False, markup=False, soft_wrap=True)


def progress_bar(*columns: ProgressColumn, transient: bool = True) -> Progress:
    """A progress bar on stderr: a spinner, the task's description, then ``columns``; hidden when stderr is no terminal."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        *columns,
        console=err,
        transient=transient,
        disable=not err.is_terminal,
    )


@contextmanager
def steps(lang: str, total: int | None) -> Iterator[Callable[[str], None]]:
    """A progress bar advanced by catalogue keys (``progress.units`` ...) or plain step texts.

    ``total=None`` is a bar of unknown length (a spinner with the current step).
    """
    with progress_bar(BarColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task(text("progress.read", lang), total=total)

        def advance(key: str) -> None:
            bar.update(task, advance=1, description=text(key, lang))

        yield advance
        bar.update(task, completed=total)
