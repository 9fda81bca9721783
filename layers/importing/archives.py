"""Zip archives of the files planners hold: unpacked safely, within limits, and their importable members.

Every member is checked before anything is unpacked: no absolute paths or
``..`` (zip-slip), no symbolic links, at most :data:`ZIP_MAX_MEMBERS`
members and :data:`ZIP_MAX_BYTES` unpacked (counted again while copying,
since headers can lie).  Member names of zips made on Chinese Windows (no
UTF-8 flag) are read as GBK.

The limits hold for a whole import, not per zip: an :class:`UnpackBudget`
made once per import is charged by every zip it unpacks and every workbook
it opens (an ``.xlsx`` is a zip of XML: :func:`check_workbook` charges its
unpacked size and counts its rows, streaming, before pandas parses it).
"""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from geo.errors import InputError
from layers.importing.messages import say
from layers.importing.raw import short_error, source_format

#: Default ceilings for a zip: total unpacked bytes and member count (zip bombs).
ZIP_MAX_BYTES = 2 * 1024**3
ZIP_MAX_MEMBERS = 10_000
#: Default ceiling of the rows of one workbook sheet read by an import.
SHEET_MAX_ROWS = 500_000

#: Bytes copied at a time while unpacking.
_CHUNK = 1 << 20


def _size(nbytes: int) -> str:
    """``2048 MB``, ``0.5 MB`` or, below 0.1 MB, ``1,000 B``."""
    mb = nbytes / 1024**2
    return f"{mb:.4g} MB" if mb >= 0.1 else f"{nbytes:,} B"


@dataclass
class UnpackBudget:
    """What one import may still unpack: bytes and archive members, shared by all its zips and workbooks.

    Attributes
    ----------
    max_bytes, max_members
        The import's ceilings (the messages quote them).
    max_rows
        Rows a workbook sheet may hold.
    used_bytes, used_members
        Charged so far.
    """

    max_bytes: int = ZIP_MAX_BYTES
    max_members: int = ZIP_MAX_MEMBERS
    max_rows: int = SHEET_MAX_ROWS
    used_bytes: int = 0
    used_members: int = 0

    @property
    def bytes_left(self) -> int:
        """Bytes that may still be unpacked."""
        return self.max_bytes - self.used_bytes

    def charge(self, label: str, *, nbytes: int = 0, members: int = 0) -> None:
        """Count ``nbytes`` and ``members`` of ``label``; :class:`InputError` once the import passes a ceiling."""
        self.used_members += members
        self.used_bytes += nbytes
        if self.used_members > self.max_members:
            raise InputError(say("error.too_many_members", file=label, limit=self.max_members), field="source")
        if self.used_bytes > self.max_bytes:
            msg = say("error.unpacks_too_large", file=label, limit=_size(self.max_bytes))
            raise InputError(msg, field="source")


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name, re-decoded as GBK when the zip (made on Chinese Windows) has no UTF-8 flag."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _plan(path: Path, infos: list[zipfile.ZipInfo], budget: UnpackBudget) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The files to unpack with their relative paths, after every member passed the checks (charged to ``budget``)."""
    budget.charge(path.name, members=len(infos))
    plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    total = 0
    for info in infos:
        name = _member_name(info).replace("\\", "/")
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or re.match(r"^[A-Za-z]:", name):
            msg = f"`{path.name}` is refused: member `{name}` points outside the archive's folder"
            raise InputError(msg, field="source")
        if stat.S_ISLNK(info.external_attr >> 16):
            msg = f"`{path.name}` is refused: member `{name}` is a symbolic link"
            raise InputError(msg, field="source")
        total += info.file_size
        if not info.is_dir():
            plan.append((info, rel))
    if total > budget.bytes_left:
        budget.charge(path.name, nbytes=total)  # refused on the sizes the headers claim, nothing unpacked
    return plan


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one member to ``target``; the bytes left of ``budget``, negative once it ran out (the copy stops there)."""
    with archive.open(info) as src, open(target, "wb") as dst:
        while chunk := src.read(_CHUNK):
            budget -= len(chunk)
            if budget < 0:
                return budget
            dst.write(chunk)
    return budget


def safe_extract(
    path: Path,
    dest: Path,
    *,
    max_bytes: int = ZIP_MAX_BYTES,
    max_members: int = ZIP_MAX_MEMBERS,
    budget: UnpackBudget | None = None,
) -> list[Path]:
    """Unpack a zip into ``dest`` after checking every member; nothing is written if any fails.

    Refused: members whose path is absolute or climbs out with ``..``
    (zip-slip), symbolic links, more than ``max_members`` members or more
    than ``max_bytes`` unpacked (also enforced while copying, since headers
    can lie).  With ``budget`` (the import's, shared by all its zips) its
    limits apply instead and what is unpacked is charged to it.

    Returns
    -------
    list of pathlib.Path
        The unpacked files.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        msg = f"cannot read `{path.name}` as a zip archive: {short_error(exc)}"
        raise InputError(msg, field="source") from exc
    with archive:
        budget = budget if budget is not None else UnpackBudget(max_bytes=max_bytes, max_members=max_members)
        plan = _plan(path, archive.infolist(), budget)
        root = dest.resolve()
        written: list[Path] = []
        left = budget.bytes_left
        for info, rel in plan:
            target = (root / Path(*rel.parts)).resolve()
            if root not in target.parents:
                msg = f"`{path.name}` is refused: member `{rel}` points outside the archive's folder"
                raise InputError(msg, field="source")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                after = _unpack(archive, info, target, left)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                msg = f"cannot unpack `{rel}` from `{path.name}`: {short_error(exc)}"
                raise InputError(msg, field="source") from exc
            budget.charge(path.name, nbytes=left - after if after >= 0 else left + 1)  # past the ceiling: refused
            left = after
            written.append(target)
    return written


#: A row element of a worksheet's XML (``<row ...>``, ``<x:row>``), not ``<rowBreaks>``.
_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
_ROW_TAG_MAX = 40


def _count_rows(stream: IO[bytes], limit: int) -> int:
    """Row elements in a worksheet's XML, streaming; stops counting once past ``limit``."""
    count = 0
    tail = b""
    while chunk := stream.read(_CHUNK):
        text = tail + chunk
        count += sum(1 for m in _ROW_TAG.finditer(text) if m.end() > len(tail))
        if count > limit:
            break
        tail = text[-_ROW_TAG_MAX:]
    return count


def check_workbook(path: Path, budget: UnpackBudget, *, label: str | None = None) -> None:
    """Check an ``.xlsx`` as the zip it is before it is parsed: its unpacked size and members (charged to ``budget``) and its rows.

    Raises
    ------
    InputError
        The workbook unpacks past what the import may still unpack, holds too
        many members, or a sheet has more than ``budget.max_rows`` rows.
        Not a zip at all is left to the reader to say.
    """
    label = label or path.name
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return
    with archive:
        infos = archive.infolist()
        budget.charge(label, members=len(infos), nbytes=sum(i.file_size for i in infos))
        for info in infos:
            if not re.match(r"xl/worksheets/[^/]+\.xml$", info.filename):
                continue
            try:
                with archive.open(info) as stream:
                    rows = _count_rows(stream, budget.max_rows)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError):
                return  # damaged or encrypted: the reader says so
            if rows > budget.max_rows:
                raise InputError(say("error.too_many_rows", file=label, limit=budget.max_rows), field="source")


def zip_members(files: list[Path]) -> list[Path]:
    """The importable files among unpacked zip members (not their Shapefile siblings, not macOS litter)."""
    out = []
    for f in sorted(files):
        if "__MACOSX" in f.parts or f.name.startswith("._"):
            continue
        try:
            fmt = source_format(f)
        except InputError:
            continue
        if fmt != "zip":
            out.append(f)
    return out


#: Prefix of an import's scratch folder in the system's temporary folder.
SCRATCH_PREFIX = "dangjian-import-"
#: Scratch folders untouched for longer than this (s) are left-overs of a killed import.
STALE_SCRATCH_S = 3600.0


def scratch_folder() -> Path:
    """A new scratch folder for one import (``/tmp/dangjian-import-*``); its caller removes it in a ``finally``."""
    return Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))


def remove_stale_scratch_folders(root: Path | None = None, *, older_than_s: float = STALE_SCRATCH_S) -> list[Path]:
    """Remove the scratch folders of imports killed before their clean-up (untouched for ``older_than_s``); the removed ones.

    Folders of imports running now are younger and stay.
    """
    cutoff = time.time() - older_than_s
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(SCRATCH_PREFIX + "*"):
        try:
            stale = folder.is_dir() and not folder.is_symlink() and folder.stat().st_mtime < cutoff
        except OSError:
            continue
        if stale:
            remove_tree(folder)
            removed.append(folder)
    return removed


def remove_tree(path: Path) -> None:
    """Remove a scratch folder, ignoring errors."""
    shutil.rmtree(path, ignore_errors=True)
