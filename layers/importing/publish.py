"""Publishing an import: the dataset and its report written into the dataset's store in one transaction.

:func:`write_import` writes the layers, the meta values and the report into a
store (:mod:`layers.store`: a GeoPackage, or a PostGIS schema) with the
importer as the audit log's actor, so a failed or killed import leaves the
previous state.  Into a store that already holds a dataset only the imported
layers are replaced.  :func:`import_to_gpkg` reads and writes for a
GeoPackage store (a new file gets its name only once complete);
:func:`import_to_file` (``dangjian import``) also writes the report beside it
as ``X.import.txt`` and ``X.import.json`` for people.  The service reads
reports from the store (``Snapshot.list_import_reports``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

from geo.errors import DatasetExistsError, InputError
from geo.files import write_atomic
from geo.plain import jsonable
from layers.dataset import Dataset
from layers.importing.options import ImportOptions, Progress, nothing
from layers.importing.pipeline import import_sources
from layers.importing.report import ImportReport, report_lines, report_paths
from layers.store import Store, open_store
from layers.store.gpkg import new_geopackage

#: Scratch files of a new dataset older than this (s) are left-overs of a killed import and removed.
_STALE_SCRATCH_S = 3600.0


class WriteOptions(TypedDict, total=False):
    """How an import is written (keyword arguments of :func:`write_import` and :func:`import_to_gpkg`).

    Attributes
    ----------
    actor
        Who imports, for the audit log (``token:<id>``, ``cli:<user>``); required.
    replace
        Whether a store that already holds layers may be written at all (default true);
        checked inside the transaction, so two imports of one name cannot both win.
    anew
        Replace the whole dataset instead of only the imported layers (default false).
    allow_empty
        Accept a dataset left without compounds or without centres (default false).
    label
        What the report names as the import's output (default: the store's location,
        or the GeoPackage's path).
    progress
        Called as each step starts.
    """

    actor: Required[str]
    replace: bool
    anew: bool
    allow_empty: bool
    label: str | None
    progress: Progress


@dataclass(frozen=True)
class StoredImport:
    """An import written to a dataset's store.

    Attributes
    ----------
    dataset, report
        What :func:`~layers.importing.pipeline.import_sources` answered (``dataset.path`` is the GeoPackage, if any).
    report_id
        The report's id in the store (:meth:`layers.store.Snapshot.get_import_report`).
    revision
        The store revision the import created.
    """

    dataset: Dataset
    report: ImportReport
    report_id: int
    revision: int


def _may_replace(how: WriteOptions) -> bool:
    """Whether an existing dataset may be written (``replace``, default true)."""
    return how.get("replace", True)


def _exists_error(label: str) -> DatasetExistsError:
    msg = f"the dataset `{label}` exists; choose another name or replace it"
    return DatasetExistsError(msg, field="name")


def _check_not_empty(tx: Any, output: str) -> None:
    """Refuse a dataset left without compounds or centres: coverage would be meaningless."""
    rows = {info.name: info.rows for info in tx.list_layers()}
    for layer in ("compounds", "centers"):
        if not rows.get(layer):
            msg = (
                f"the dataset `{output}` would have no {layer}: import a file of {layer} too "
                f"(layer {layer}), or allow an empty one (--allow-empty, or allow_empty=true in an upload)"
            )
            raise InputError(msg, field=layer)


def _write_layers(tx: Any, dataset: Dataset, *, anew: bool, has_compounds: bool) -> None:
    """The whole dataset into an empty store (or ``anew``), else only the layers the import was given."""
    if anew or not has_compounds:
        tx.import_dataset(dataset, replace=True)
        return
    named = [n for n in dataset.report if n in dataset.layers] or [n for n, f in dataset.layers.items() if len(f)]
    for name in named:
        tx.write_layer(name, dataset.layers[name])
    tx.set_meta({"import_report": dataset.meta["import_report"]})
    tx.record("import_dataset", after={"layers": {n: len(dataset.layers[n]) for n in named}, "kept_others": True})


def write_import(store: Store, dataset: Dataset, report: ImportReport, **how: Unpack[WriteOptions]) -> StoredImport:
    """Write an imported dataset and its report into a store, in one transaction.

    Every layer, the meta values and the report commit together or not at
    all: a failed or killed write leaves the store as it was.  Into a store
    that already holds a dataset, only the layers the import was given (or
    detected) are replaced; the other layers, the build parameters, the audit
    log, scenarios, tokens and earlier import reports stay.  With ``anew`` the
    dataset starts over: every layer and meta value comes from the import
    (the service tables still stay).

    Parameters
    ----------
    store
        The dataset's store (:func:`layers.store.open_store`).
    dataset, report
        From :func:`~layers.importing.pipeline.import_sources`.
    **how
        ``actor`` (required), ``replace``, ``anew``, ``allow_empty``, ``label``,
        ``progress``: see :class:`WriteOptions`.

    Raises
    ------
    DatasetExistsError
        The store holds layers and ``replace`` is false.
    InputError
        The dataset would be left without compounds or centres (and not ``allow_empty``).
    """
    label = how.get("label")
    report.output = label if label is not None else store.location
    dataset.meta["import_report"] = report.as_dict()
    how.get("progress", nothing)("writing")
    with store.transaction(actor=how["actor"]) as tx:
        existing = tx.list_layers()
        if not _may_replace(how) and existing:
            raise _exists_error(report.output)
        has_compounds = any(info.name == "compounds" for info in existing)
        _write_layers(tx, dataset, anew=how.get("anew", False), has_compounds=has_compounds)
        if not how.get("allow_empty", False):
            _check_not_empty(tx, report.output)
        report_id = tx.add_import_report(report.as_dict())
        revision = tx.revision
    dataset.path = store.path
    return StoredImport(dataset=dataset, report=report, report_id=report_id, revision=revision)


def _gpkg_output(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    if out.suffix.lower() != ".gpkg":
        msg = f"the output must be a GeoPackage (.gpkg); got `{out.name}`"
        raise InputError(msg, field="output")
    return out


def remove_stale_scratch(folder: Path) -> None:
    """Left-overs of imports and uploads killed more than an hour ago in a datasets folder.

    Scratch datasets (``.<name>.import-*.gpkg`` and the store's own layer
    scratch files beside them, ``..<name>.import-*.dj-*.gpkg``, with their
    ``-wal``/``-shm``) and upload folders (``.upload-*``) of any name: a
    killed import never reaches its own clean-up, and the name may never be
    imported again.
    """
    cutoff = time.time() - _STALE_SCRATCH_S
    for f in [*folder.glob(".*.import-*.gpkg*"), *folder.glob(".upload-*")]:
        with suppress(OSError):
            if f.stat().st_mtime < cutoff:
                if f.is_dir() and not f.is_symlink():
                    shutil.rmtree(f, ignore_errors=True)
                else:
                    f.unlink()


def import_to_gpkg(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    options: ImportOptions | None = None,
    **how: Unpack[WriteOptions],
) -> StoredImport:
    """Import sources into the GeoPackage store ``output``: layers, meta and the report in one transaction.

    Nothing is written until every source was read and checked.  An existing
    ``output`` is updated in one store transaction, so a failed or killed
    import leaves it as it was and keeps its audit log, scenarios and tokens.
    A new ``output`` is written as a hidden scratch file beside it and gets its
    name only once complete, so no half-written dataset is ever visible
    under that name.

    Parameters
    ----------
    sources
        See :func:`~layers.importing.pipeline.import_sources`.
    output
        The dataset's ``.gpkg``.
    options
        See :class:`~layers.importing.options.ImportOptions`.
    **how
        ``actor`` (required), ``replace``, ``anew``, ``allow_empty``, ``label``
        (default: ``output``), ``progress``: see :class:`WriteOptions`.

    Raises
    ------
    DatasetExistsError
        ``output`` exists (or appeared meanwhile) and ``replace`` is false.
    """
    out = _gpkg_output(output)
    given = how.get("label")
    label = str(out) if given is None else given
    how["label"] = label
    if out.exists() and not _may_replace(how):
        raise _exists_error(label)
    dataset, report = import_sources(sources, options=options, progress=how.get("progress", nothing))
    if out.exists():
        with open_store(out) as store:
            return write_import(store, dataset, report, **how)
    if out.parent.is_dir():
        remove_stale_scratch(out.parent)
    done, created = new_geopackage(out, lambda store: write_import(store, dataset, report, **how))
    if created and done is not None:
        dataset.path = out
        return done
    # another import created it meanwhile
    if not _may_replace(how):
        raise _exists_error(label)
    with open_store(out) as store:
        return write_import(store, dataset, report, **how)


def import_to_file(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    options: ImportOptions | None = None,
    actor: str = "system:import",
    lang: str = "zh",
    anew: bool = False,
    allow_empty: bool = False,
    progress: Progress = nothing,
) -> tuple[Dataset, ImportReport]:
    """Import sources into the GeoPackage store ``output`` (:func:`import_to_gpkg`), the report also beside it.

    The store keeps the report (the copy the service reads); ``X.import.txt``
    (for people) and ``X.import.json`` are written beside the file after the
    import committed.  A failed import leaves an existing dataset as it was.
    """
    done = import_to_gpkg(sources, output, actor=actor, options=options, anew=anew, allow_empty=allow_empty, progress=progress)
    json_path, txt_path = report_paths(output)
    write_atomic(json_path, json.dumps(done.report.as_dict(), ensure_ascii=False, indent=2, default=jsonable))
    write_atomic(txt_path, "\n".join(report_lines(done.report, lang)) + "\n")
    return done.dataset, done.report
