"""Which store a command or the service works on: one dataset is one store.

A planner names a dataset (a GeoPackage, a folder of layer files, or nothing
for the bundled demo district); :func:`open_dataset_store` answers the one
store every command and server shares for it:

- a GeoPackage is its own store;
- the bundled demo district is never written: its working copy
  ``<data_dir>/kangbashi_demo.gpkg`` is made from it once;
- a folder of layer files is imported once into ``<folder>.gpkg`` beside it;
- with ``DANGJIAN_DATABASE_URL`` the store is the dataset's PostGIS schema;
- a ``NAME.built.gpkg`` an earlier version wrote beside the dataset is
  adopted into the store once (:mod:`layers.store.adopt`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from api.settings import DEMO_DATASET, Settings
from geo.errors import DatasetNotFoundError, InputError
from geo.files import OutputExistsError, atomic_output
from layers.dataset import Dataset, read_dataset
from layers.i18n import text
from layers.rebuild import prepared_inputs
from layers.store import Store, open_store
from layers.store.adopt import adopt_built_copy, last_change, legacy_copy
from layers.store.gpkg import new_geopackage

Notice = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def demo_working_copy(settings: Settings) -> Path:
    """Where the served copy of the bundled demo district lives: ``<data_dir>/kangbashi_demo.gpkg``."""
    return Path(settings.data_dir) / DEMO_DATASET.name


def _is_bundled_demo(path: Path) -> bool:
    try:
        return path.resolve() == DEMO_DATASET.resolve()
    except OSError:
        return False


def _copy_demo(target: Path) -> bool:
    """Copy the bundled demo district to ``target`` unless it exists (whole or not at all)."""
    if target.exists():
        return False
    try:
        with atomic_output(target, replace=False, make_folder=True, field="data_dir") as scratch:
            shutil.copyfile(DEMO_DATASET, scratch)
    except OutputExistsError:
        return False
    return True


def dataset_file(dataset: str | os.PathLike[str] | None, settings: Settings, *, notice: Notice = _quiet) -> Path:
    """The GeoPackage that is the store of ``dataset`` (made from the demo or a folder on first use).

    Raises
    ------
    DatasetNotFoundError
        ``dataset`` does not exist.
    InputError
        ``dataset`` is a file that is not a GeoPackage.
    """
    path = Path(dataset) if dataset is not None else Path(settings.dataset)
    if _is_bundled_demo(path):
        target = demo_working_copy(settings)
        if _copy_demo(target):
            notice(text("store.demo_copied", settings.lang, path=target))
        return target
    if not path.exists():
        raise DatasetNotFoundError(text("store.dataset_missing", settings.lang, path=path), field="dataset")
    if path.is_dir():
        target = path.parent / f"{path.name}.gpkg"
        if not target.exists():
            layers = read_dataset(path)
            _, created = new_geopackage(target, lambda store: _import_folder(store, layers))
            if created:
                notice(text("store.folder_imported", settings.lang, folder=path, path=target))
        return target
    if path.suffix.lower() != ".gpkg":
        msg = f"`{path.name}` is not a dataset (a GeoPackage); import it first: dangjian import {path} -o DATASET.gpkg"
        raise InputError(msg, field="dataset")
    return path


def _import_folder(store: Store, dataset: Dataset) -> None:
    with store.transaction(actor="system:import") as tx:
        tx.import_dataset(dataset)


def open_dataset_store(
    dataset: str | os.PathLike[str] | None, settings: Settings, *, actor: str = "system:adopt", notice: Notice = _quiet
) -> Store:
    """The store of ``dataset`` (default: the configured one), with a legacy built copy adopted once.

    Parameters
    ----------
    dataset
        A GeoPackage, a folder of layer files, or ``None`` for ``settings.dataset``.
    settings
        The deployment's settings (data folder, database URL, language).
    actor
        Who adopts a legacy copy, for the audit log.
    notice
        Called with one line for people when something was made or adopted.
    """
    if settings.database_url:
        path = Path(dataset) if dataset is not None else Path(settings.dataset)
        return settings.open_store(path)
    path = dataset_file(dataset, settings, notice=notice)
    changed = last_change(path)  # before opening: opening a file of an earlier version migrates it
    store = open_store(path)
    try:
        given = Path(dataset) if dataset is not None else Path(settings.dataset)
        for copy in {legacy_copy(given), legacy_copy(path)}:
            done = adopt_built_copy(store, copy, actor=actor, store_changed=changed)
            if done:
                key = "store.adopted_newer" if done["newer"] else "store.adopted_older"
                notice(text(key, settings.lang, copy=copy, path=path, tokens=done["tokens"], audit=done["audit"]))
    except BaseException:
        store.close()
        raise
    return store


def read_stored_dataset(dataset: str | os.PathLike[str] | None, settings: Settings, *, notice: Notice = _quiet) -> Dataset:
    """The dataset as its store holds it now (one snapshot): layers, edits and the stored build parameters.

    A dataset not built yet comes with its input layers checked and completed
    (:func:`layers.rebuild.prepared_inputs`), ready to be built in memory.
    """
    with open_dataset_store(dataset, settings, notice=notice) as store, store.snapshot() as snap:
        ds = snap.export_dataset()
    return ds if ds.built else prepared_inputs(ds)
