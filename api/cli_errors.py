"""How the ``dangjian`` command line fails: one line on stderr and an exit code.

- A deliberate error (:class:`~geo.errors.DangjianError`), a bad setting
  (``DANGJIAN_MINUTES=-5``, named in its environment form) or a bad option or
  argument: exit code 2.
- Ctrl-C: exit code 130.
- Anything else: exit code 1 and ``内部错误/internal error: <type>: <message>``
  naming the log file that received the full traceback: ``DANGJIAN_LOG_FILE``,
  else ``$XDG_STATE_HOME/dangjian-map/dangjian.log`` (``~/.local/state/...``),
  else, when that cannot be written, a file in the temporary folder.

The words come from the catalogue (:mod:`layers.i18n`) in the command's
language (``--lang``, else ``DANGJIAN_LANG``, else Chinese).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.markup import escape
from typer.core import TyperGroup

from api.commands.console import err
from api.settings import Settings
from geo.errors import DangjianError
from layers.i18n import CATALOGUES, text

F = TypeVar("F", bound=Callable[..., Any])

#: A log file past this size (bytes) is moved to ``<name>.1`` before the next entry.
LOG_MAX_BYTES = 5 * 1024 * 1024
#: The longest exception message shown on the line (characters).
_MAX_MESSAGE = 500
_SECRET_IN_URL = re.compile(r"(://[^/:@\s]*:)[^@\s]*@")


def _mask(value: str) -> str:
    """``postgresql://u:secret@host`` -> ``postgresql://u:***@host``."""
    return _SECRET_IN_URL.sub(r"\1***@", value)


def _one_line(value: str, limit: int = _MAX_MESSAGE) -> str:
    flat = " ".join(_mask(value).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _say(prefix: str, message: str) -> None:
    err.print(f"[bold red]{prefix}[/] {escape(message)}", highlight=False, soft_wrap=True)


def message_lang(kwargs: Mapping[str, Any] | None = None) -> str:
    """The language of a command's messages: its ``lang`` argument, else ``DANGJIAN_LANG``, else ``zh``."""
    for lang in ((kwargs or {}).get("lang"), os.environ.get("DANGJIAN_LANG")):
        if isinstance(lang, str) and lang.strip().lower() in CATALOGUES:
            return lang.strip().lower()
    return "zh"


def _configured_log() -> Path | None:
    configured = os.environ.get("DANGJIAN_LOG_FILE", "").strip()
    if not configured:
        try:
            configured = str(Settings().log_file or "")
        except Exception:  # a broken setting must not hide the error being reported
            configured = ""
    return Path(configured).expanduser() if configured else None


def log_file() -> Path:
    """Where tracebacks of internal errors go: ``DANGJIAN_LOG_FILE``, else the user's state folder."""
    configured = _configured_log()
    if configured is not None:
        return configured
    state = os.environ.get("XDG_STATE_HOME", "").strip()
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return base / "dangjian-map" / "dangjian.log"


def _fallback_log() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"dangjian-map-{uid}.log"


def _append(path: Path, entry: bytes, *, private_tmp: bool) -> None:
    with_rotation = path.is_file() and path.stat().st_size > LOG_MAX_BYTES
    if with_rotation:
        os.replace(path, path.with_name(path.name + ".1"))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (getattr(os, "O_NOFOLLOW", 0) if private_tmp else 0)
    fd = os.open(path, flags, 0o600)  # tracebacks name paths and values: the owner's alone
    try:
        os.write(fd, entry)
    finally:
        os.close(fd)


def log_traceback(exc: BaseException, *, argv: Sequence[str] | None = None) -> tuple[Path | None, str]:
    """Append ``exc``'s traceback to the log file; the file written (``None`` if none could be) and why not.

    The default state folder is created when missing; a configured file's
    folder is not (the temporary folder is used instead).
    """
    try:
        release = version("dangjian-map")
    except PackageNotFoundError:
        release = "?"
    head = (
        f"==== {datetime.now().astimezone().isoformat(timespec='seconds')}  pid {os.getpid()}  "
        f"dangjian-map {release}  Python {sys.version.split()[0]}\n"
        f"argv: {shlex.join(argv if argv is not None else sys.argv)}\n"
    )
    entry = _mask(head + "".join(traceback.format_exception(exc)) + "\n").encode("utf-8", "replace")
    target = log_file()
    reason = ""
    try:
        if _configured_log() is None:  # the user's own state folder
            target.parent.mkdir(parents=True, exist_ok=True)
        _append(target, entry, private_tmp=False)
        return target, ""
    except OSError as first:
        reason = f"{target}: {first.strerror or first}"
    fallback = _fallback_log()
    try:
        _append(fallback, entry, private_tmp=True)
        return fallback, ""
    except OSError as second:
        return None, f"{reason}; {fallback}: {second.strerror or second}"


def settings_problem(exc: ValidationError, lang: str) -> str:
    """One line naming each bad setting in its environment form (``DANGJIAN_MINUTES``) and what is wrong."""
    config = os.environ.get("DANGJIAN_CONFIG", "").strip()
    in_env = {k.upper() for k in os.environ}
    parts = []
    for problem in exc.errors(include_url=False):
        loc = [str(p) for p in problem.get("loc", ())]
        key = loc[0] if loc else "?"
        name = f"DANGJIAN_{key.upper()}"
        if config and name not in in_env:
            name = text("cli.setting_in_config", lang, setting=key, path=config)
        name += "".join(f"[{p}]" for p in loc[1:])
        given = problem.get("input")
        value = _one_line(repr(given), 80) if given is not None and not isinstance(given, dict | list) else "?"
        why = str(problem.get("msg", "")).removeprefix("Value error, ")
        parts.append(text("cli.setting_invalid", lang, name=name, value=value, problem=_one_line(why, 200)))
    return "; ".join(parts)


def friendly_errors(func: F) -> F:
    """Every failure of a command as one line on stderr: bad input exit 2, Ctrl-C 130, anything else 1.

    :class:`typer.Exit`, :class:`typer.Abort`, click's own errors and
    :class:`SystemExit` pass through.  See the module's docstring.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except DangjianError as exc:
            _say("错误/error:", _one_line(exc.message, 2000))
            raise typer.Exit(code=2) from None
        except ValidationError as exc:
            if exc.title != "Settings":
                return _internal(exc, kwargs)
            _say("错误/error:", settings_problem(exc, message_lang(kwargs)))
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            _say("中断/interrupted:", text("cli.interrupted", message_lang(kwargs)))
            raise typer.Exit(code=130) from None
        except Exception as exc:
            return _internal(exc, kwargs)

    wrapper.__dangjian_friendly_errors__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _internal(exc: Exception, kwargs: Mapping[str, Any]) -> None:
    lang = message_lang(kwargs)
    kind = type(exc).__qualname__ if type(exc).__module__ == "builtins" else f"{type(exc).__module__}.{type(exc).__qualname__}"
    error = f"{kind}: {_one_line(str(exc))}" if str(exc) else kind
    path, why = log_traceback(exc)
    if path is not None:
        line = text("cli.internal_error", lang, error=error, log=path)
    else:
        line = text("cli.internal_error_nolog", lang, error=error, reason=why)
    _say("内部错误/internal error:", line)
    raise typer.Exit(code=1) from None


class OneLineErrors(TyperGroup):
    """The ``dangjian`` group: a bad option or argument is one line on stderr (exit 2), not a usage box."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """As :meth:`TyperGroup.main`, with click's errors shown as one line."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help was shown: typer's own way out
                if shown := exc.format_message().strip():
                    err.print(shown, highlight=False, markup=False)
                sys.exit(exc.exit_code)
            message = _one_line(exc.format_message(), 2000)
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                message += f" ({text('cli.usage_help', message_lang(), command=ctx.command_path)})"
            _say("错误/error:", message)
            sys.exit(exc.exit_code)
        except typer.Abort:
            _say("中断/interrupted:", text("cli.interrupted", message_lang()))
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)
