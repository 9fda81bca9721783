"""Output files: complete or not at all, with the process umask, never into a missing folder.

Every file dangjian-map writes (reports, maps, datasets, scenarios, import
reports) goes through :func:`atomic_output`, for writers that want a path
(GDAL, openpyxl, SQLite), or :func:`write_atomic`, for bytes or text in hand.
The content is written under a hidden temporary folder beside the target and
takes the target's name in one rename (or one hard link) only when complete,
so a reader or a killed writer never leaves a half-written file under that
name.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from geo.errors import OutputError

#: Temporary folders older than this (s) are left-overs of killed writers.
_STALE_S = 3600.0
_UMASK_LOCK = threading.Lock()


class OutputExistsError(FileExistsError):
    """:func:`atomic_output` with ``replace=False`` found the name taken: nothing was written under it."""


def process_umask() -> int:
    """The process's file-mode creation mask (``0o022`` ...).

    Read from ``/proc/self/status`` where there is one; elsewhere set and
    restored under a lock, with ``0o077`` in between so a file another thread
    creates meanwhile is private rather than world-writable.
    """
    with suppress(OSError, ValueError, IndexError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        old = os.umask(0o077)
        os.umask(old)
    return old


def check_output_folder(path: str | os.PathLike[str], *, field: str = "output") -> Path:
    """``path`` as a :class:`~pathlib.Path` once its folder is known to exist (folders are never made here).

    Commands call it before long work, so a mistyped folder fails at once.

    Raises
    ------
    OutputError
        The folder does not exist or is not a folder, or ``path`` is a folder.
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        msg = f"cannot write `{target}`: the folder `{folder}` {why}; create it first or choose another output"
        raise OutputError(msg, field=field)
    if target.is_dir():
        msg = f"cannot write `{target}`: it is a folder; give a file name"
        raise OutputError(msg, field=field)
    return target


def _remove_stale(target: Path) -> None:
    """Temporary folders of ``target`` left by writers killed more than an hour ago."""
    cutoff = time.time() - _STALE_S
    for found in glob.glob(os.path.join(glob.escape(str(target.parent)), f".{glob.escape(target.name)}.tmp-*")):
        with suppress(OSError):
            work = Path(found)
            if work.is_dir() and not work.is_symlink():
                newest = max([work.stat().st_mtime, *(p.stat().st_mtime for p in work.iterdir())])
                if newest < cutoff:
                    shutil.rmtree(work, ignore_errors=True)


def _seal(tmp: Path) -> None:
    """Give the finished file the mode the umask implies and flush it to disk."""
    os.chmod(tmp, 0o666 & ~process_umask())
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    with suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _link(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` only if the name is free, in one step where hard links exist."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExistsError(f"`{target}` exists") from None
    except OSError:  # no hard links on this file system: check, then rename
        if target.exists():
            raise OutputExistsError(f"`{target}` exists") from None
        os.replace(tmp, target)


@contextmanager
def atomic_output(
    path: str | os.PathLike[str], *, replace: bool = True, make_folder: bool = False, field: str = "output"
) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; it takes the name ``path`` when the block ends.

    The yielded path does not exist yet: the writer creates it (and may add
    side files beside it, such as SQLite journals; they are removed).  When
    the block ends without an error the file gets the mode ``0o666 & ~umask``,
    is flushed to disk and is renamed to ``path``; on an error nothing is
    left behind and an existing ``path`` is untouched.

    Parameters
    ----------
    path
        The output file.
    replace
        Whether an existing ``path`` is replaced.  ``False``: the file takes
        the name only while it is free (a hard link), so a file another
        process may hold open is never swapped under it; a taken name raises
        :class:`OutputExistsError` and the new content is discarded.
    make_folder
        Create a missing folder (and its parents) first.  Only for the
        service's own folders; an output a user names in a missing folder is
        an error.
    field
        The parameter named by errors.

    Raises
    ------
    OutputError
        The folder does not exist, is not a folder or cannot be written.
    OutputExistsError
        ``replace`` is false and ``path`` exists.
    """
    target = Path(path)
    if make_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    check_output_folder(target, field=field)
    _remove_stale(target)
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except PermissionError as exc:
        msg = f"cannot write `{target}`: the folder `{target.parent}` is not writable ({exc.strerror})"
        raise OutputError(msg, field=field) from exc
    tmp = work / target.name
    try:
        yield tmp
        if not tmp.is_file():
            msg = f"nothing was written for `{target}`"
            raise RuntimeError(msg)
        _seal(tmp)
        if replace:
            os.replace(tmp, target)
        else:
            _link(tmp, target)
        _fsync_folder(target.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    encoding: str = "utf-8",
    replace: bool = True,
    make_folder: bool = False,
    field: str = "output",
) -> Path:
    """Write ``data`` (text is encoded with ``encoding``) to ``path`` through :func:`atomic_output`.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    with atomic_output(path, replace=replace, make_folder=make_folder, field=field) as tmp, open(tmp, "xb") as fh:
        fh.write(data.encode(encoding) if isinstance(data, str) else data)
    return Path(path)
