"""Zip archives of the files planners hold: unpacked safely, within limits, and their importable members.

Every member is checked before anything is unpacked: no absolute paths or
``..`` (zip-slip), no symbolic links, at most :data:`ZIP_MAX_MEMBERS`
members and :data:`ZIP_MAX_BYTES` unpacked (counted again while copying,
since headers can lie).  Member names of zips made on Chinese Windows (no
UTF-8 flag) are read as GBK.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from geo.errors import InputError
from layers.importing.raw import short_error, source_format

#: Default ceilings for a zip: total unpacked bytes and member count (zip bombs).
ZIP_MAX_BYTES = 2 * 1024**3
ZIP_MAX_MEMBERS = 10_000

#: Bytes copied at a time while unpacking.
_CHUNK = 1 << 20


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name, re-decoded as GBK when the zip (made on Chinese Windows) has no UTF-8 flag."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _plan(path: Path, infos: list[zipfile.ZipInfo], *, max_bytes: int, max_members: int) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The files to unpack with their relative paths, after every member passed the checks."""
    if len(infos) > max_members:
        msg = f"`{path.name}` has {len(infos)} members; at most {max_members} are accepted"
        raise InputError(msg, field="source")
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
    if total > max_bytes:
        msg = f"`{path.name}` unpacks to {total / 1024**2:.0f} MB; at most {max_bytes / 1024**2:.0f} MB are accepted"
        raise InputError(msg, field="source")
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


def safe_extract(path: Path, dest: Path, *, max_bytes: int = ZIP_MAX_BYTES, max_members: int = ZIP_MAX_MEMBERS) -> list[Path]:
    """Unpack a zip into ``dest`` after checking every member; nothing is written if any fails.

    Refused: members whose path is absolute or climbs out with ``..``
    (zip-slip), symbolic links, more than ``max_members`` members or more
    than ``max_bytes`` unpacked (also enforced while copying, since headers
    can lie).

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
        plan = _plan(path, archive.infolist(), max_bytes=max_bytes, max_members=max_members)
        root = dest.resolve()
        written: list[Path] = []
        budget = max_bytes
        for info, rel in plan:
            target = (root / Path(*rel.parts)).resolve()
            if root not in target.parents:
                msg = f"`{path.name}` is refused: member `{rel}` points outside the archive's folder"
                raise InputError(msg, field="source")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                budget = _unpack(archive, info, target, budget)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                msg = f"cannot unpack `{rel}` from `{path.name}`: {short_error(exc)}"
                raise InputError(msg, field="source") from exc
            if budget < 0:
                msg = f"`{path.name}` unpacks to more than {max_bytes / 1024**2:.0f} MB"
                raise InputError(msg, field="source")
            written.append(target)
    return written


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


def remove_tree(path: Path) -> None:
    """Remove a scratch folder, ignoring errors."""
    shutil.rmtree(path, ignore_errors=True)
