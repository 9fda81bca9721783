"""The tables in the sources an import is given: files by format, zips unpacked, OpenStreetMap extracts mapped.

Each source is a file (a folder is refused: zip it, or give its files); its
format comes from its name (:func:`~layers.importing.raw.source_format`).
A zip is unpacked into the import's scratch folder
(:mod:`~layers.importing.archives`) and each importable member read in turn,
labelled ``archive.zip/member.shp``.  OpenStreetMap files come back as one
table per layer they hold, their layer known.  Every table is a
:class:`~layers.importing.raw.RawLayer`, nothing validated yet.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from geo.errors import InputError
from layers.importing.archives import UnpackBudget, check_workbook, safe_extract, zip_members
from layers.importing.options import ImportOptions, Progress
from layers.importing.osm import read_osm
from layers.importing.raw import RawLayer, source_format
from layers.importing.readers import read_geojson, read_gpkg, read_kml, read_shapefile
from layers.importing.tables import read_csv, read_xlsx


def _read_zip(path: Path, label: str, options: ImportOptions, scratch: Path, progress: Progress, budget: UnpackBudget) -> list[RawLayer]:
    """Every importable member of a zip, unpacked into a folder of ``scratch`` (charged to the import's ``budget``)."""
    dest = Path(tempfile.mkdtemp(prefix="zip-", dir=scratch))
    members = zip_members(safe_extract(path, dest, budget=budget))
    if not members:
        msg = f"`{label}` holds no file that can be imported (.shp, .gpkg, .geojson, .kml, .csv, .xlsx)"
        raise InputError(msg, field="source")
    out: list[RawLayer] = []
    for m in members:
        rel = m.relative_to(dest.resolve()).as_posix()
        out.extend(read_source(m, f"{label}/{rel}", options=options, scratch=scratch, progress=progress, budget=budget))
    return out


def _read_osm(path: Path, label: str, options: ImportOptions, progress: Progress) -> list[RawLayer]:
    """One table per layer of an OpenStreetMap file (only ``--layer`` if given), within ``--bbox``."""
    wanted = [options.layer] if options.layer else None
    res = read_osm(path, bbox=options.bbox, layers=wanted, options=options.osm, progress=lambda step: progress(f"{label}: {step}"))
    raws = []
    for name, frame in res.layers.items():
        raw = RawLayer(source=f"{label}:{name}", frame=frame, fmt="osm", hint=name, target=name, crs_fixed=True)
        raw.extra["skipped"] = res.skipped.get(name, 0)
        raw.notes.extend(res.notes.get(name, []))
        raws.append(raw)
    return raws


def _read_file(path: Path, fmt: str, options: ImportOptions) -> list[RawLayer]:
    """The tables of one file of a format that is neither a zip nor OpenStreetMap."""
    if fmt == "gpkg":
        return read_gpkg(path)
    if fmt == "geojson":
        return read_geojson(path)
    if fmt == "shapefile":
        return read_shapefile(path, encoding=options.encoding)
    if fmt == "kml":
        return read_kml(path)
    if fmt == "csv":
        return read_csv(path, encoding=options.encoding, columns=options.columns)
    return read_xlsx(path, columns=options.columns)


def read_source(
    path: Path, label: str, *, options: ImportOptions, scratch: Path, progress: Progress, budget: UnpackBudget | None = None
) -> list[RawLayer]:
    """The tables of one file, labelled from ``label`` (``archive.zip/member.shp``, ``file.gpkg:layer``).

    Parameters
    ----------
    path
        The file.
    label
        What messages call it: its name, or its place inside a zip.
    options
        The import's options (``--layer``, ``--bbox``, ``--encoding``, ``--columns`` reach the readers).
    scratch
        A folder for unpacked zips, removed by the caller.
    progress
        Told the label of each file as it is read.
    budget
        What the whole import may still unpack (zips, workbooks); a new one from ``options`` if not given.
    """
    budget = budget if budget is not None else options.unpack_budget()
    fmt = source_format(path)
    if fmt == "zip":
        return _read_zip(path, label, options, scratch, progress, budget)
    if fmt == "xlsx":
        check_workbook(path, budget, label=label)
    progress(label)
    if fmt == "osm":
        return _read_osm(path, label, options, progress)
    raws = _read_file(path, fmt, options)
    prefix = label[: -len(path.name)] if label.endswith(path.name) else ""
    for raw in raws:
        raw.source = prefix + raw.source
        raw.extra["file_stem"] = path.stem
    return raws


def read_sources(
    sources: Sequence[str | os.PathLike[str]], *, options: ImportOptions, scratch: Path, progress: Progress
) -> list[RawLayer]:
    """The tables of every source, in order.

    Raises
    ------
    InputError
        A source that does not exist, is a folder, or cannot be read, naming it.
    """
    raws: list[RawLayer] = []
    budget = options.unpack_budget()  # one for the whole import, not one per zip
    for src in sources:
        path = Path(src)
        if not path.exists():
            msg = f"source `{path}` does not exist"
            raise InputError(msg, field="source")
        if path.is_dir():
            msg = f"source `{path}` is a folder; give the files in it (or zip it)"
            raise InputError(msg, field="source")
        raws.extend(read_source(path, path.name, options=options, scratch=scratch, progress=progress, budget=budget))
    return raws
