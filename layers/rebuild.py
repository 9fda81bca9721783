"""Build a dataset inside its own store, as one new audited revision.

A dataset is one store (its GeoPackage or PostGIS schema): the input layers,
the derived layers, the parameters and the service's tables together.
:func:`build_in_store` reads the inputs from one snapshot, derives the layers
(:func:`layers.build.build_dataset`, or the coverage alone) and writes only
what a build makes — the derived layers, the coverage columns of
``compounds``, the filled-in community of ``centers``, the parameters and the
summary — in one transaction.  Inputs and edits are never overwritten by
older copies: when another process changed an input layer while the build was
computing, the build starts over on the new inputs; after
:data:`OPTIMISTIC_TRIES` such attempts it computes inside the write
transaction itself (writers then wait for it; nobody is lost).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from layers.build import BuildParams, Progress, build_dataset, coverage_layers, summarize
from layers.dataset import Dataset, prepare_layer
from layers.schema import DERIVED_LAYERS, INPUT_LAYERS
from layers.store import DERIVED_REVISION, Snapshot, Store, Transaction

#: Attempts computed outside the write lock before the build computes inside it.
OPTIMISTIC_TRIES = 2
#: Layers a build writes besides the derived ones (coverage columns; community filled in).
_REWRITTEN_INPUTS: tuple[str, ...] = ("compounds", "centers")

Derive = Callable[[Dataset, BuildParams, Progress], Dataset]


@dataclass(frozen=True)
class StoredBuild:
    """A build written into a store.

    Attributes
    ----------
    dataset
        The built dataset, as the store now holds it.
    revision
        The store revision the build created.
    params
        The parameters it used (now the dataset's stored defaults).
    attempts
        Computations it took (more than one when inputs changed meanwhile).
    """

    dataset: Dataset
    revision: int
    params: BuildParams
    attempts: int


class _InputsMoved(Exception):
    """An input layer changed between the snapshot a build read and its write transaction."""


def prepared_inputs(dataset: Dataset) -> Dataset:
    """A stored dataset with its input layers checked and completed like an import (ids, defaults, repairs)."""
    layers = {}
    for name in INPUT_LAYERS:
        if name in dataset.layers and len(dataset.layers[name]):
            layers[name], _ = prepare_layer(dataset.layers[name], name)
    return dataset.replace(**layers)


def stored_params(meta: dict[str, Any]) -> BuildParams | None:
    """The parameters a stored dataset was built with (its defaults), or ``None`` when it never was."""
    if not meta.get("params"):
        return None
    return BuildParams.from_meta(meta)


def build_state(snap: Snapshot) -> str:
    """``missing`` (no compounds), ``unbuilt``, ``stale`` (inputs changed since the build) or ``current``."""
    if not snap.has_layer("compounds"):
        return "missing"
    meta = snap.get_meta()
    layers = set(snap.layer_revisions())
    if not meta.get("params") or "units" not in layers or "covered" not in snap.columns("compounds"):
        return "unbuilt"
    return "current" if snap.derived_current() else "stale"


def _input_stamp(snap: Snapshot) -> dict[str, int]:
    revisions = snap.layer_revisions()
    return {name: revisions.get(name, -1) for name in INPUT_LAYERS}


def full_build(dataset: Dataset, params: BuildParams, progress: Progress) -> Dataset:
    """The :data:`Derive` of ``dangjian build``: every derived layer (:func:`layers.build.build_dataset`)."""
    return build_dataset(dataset, params, progress=progress)


def coverage_only(*, areas: bool) -> Derive:
    """A :data:`Derive` computing only the coverage columns and circles (``areas``: also walking service areas)."""

    def derive(dataset: Dataset, params: BuildParams, progress: Progress) -> Dataset:
        out = coverage_layers(dataset, params, progress=progress, areas=areas)
        out.meta["summary"] = summarize(out)
        return out

    return derive


def _write_build(tx: Transaction, before: Dataset, built: Dataset) -> None:
    """Write what a build made: derived layers, the rewritten inputs, parameters and summary."""
    for name in (*_REWRITTEN_INPUTS, *DERIVED_LAYERS):
        if name in built.layers:  # ``before`` holds the inputs only: everything derived was made now
            tx.write_layer(name, built.layers[name])
    meta = {k: v for k, v in built.meta.items() if k not in before.meta or before.meta[k] != v}
    meta.update({k: None for k in before.meta if k not in built.meta})  # notes the new build no longer makes
    for key in (DERIVED_REVISION, "import_report", "load_report"):
        meta.pop(key, None)
    meta[DERIVED_REVISION] = tx.revision
    tx.set_meta(meta)


def build_in_store(
    store: Store,
    params: BuildParams | None = None,
    *,
    actor: str,
    fallback: BuildParams | None = None,
    progress: Progress = lambda _key: None,
    derive: Derive = full_build,
) -> StoredBuild:
    """Recompute the derived layers of the dataset in ``store``, inside it, as one new revision.

    Parameters
    ----------
    store
        The dataset's store; it must hold ``compounds``.
    params
        The parameters to build with; they become the dataset's stored
        defaults.  ``None``: the ones it was last built with, else
        ``fallback`` (else the defaults).
    actor
        Who builds, for the audit log (``cli:<user>``, ``system:serve``).
    progress
        Called with catalogue keys (``progress.units`` ...) as steps start.
    derive
        What to compute (default: the whole build; :func:`coverage_only`).

    Raises
    ------
    DatasetNotFoundError
        The store holds no ``compounds`` layer.
    """
    def compute(stored: Dataset) -> tuple[BuildParams, Dataset]:
        use = (params or stored_params(stored.meta) or fallback or BuildParams()).validate()
        built = derive(prepared_inputs(stored), use, progress)
        progress("progress.write")
        return use, built

    for attempt in range(1, OPTIMISTIC_TRIES + 1):
        with store.snapshot() as snap:
            stamp = _input_stamp(snap)
            stored = snap.export_dataset(inputs_only=True)
        use, built = compute(stored)
        try:
            with store.transaction(actor=actor) as tx:
                if _input_stamp(tx) != stamp:
                    raise _InputsMoved
                _write_build(tx, stored, built)
                revision = tx.revision
        except _InputsMoved:
            continue
        return StoredBuild(dataset=_stored_form(built, revision), revision=revision, params=use, attempts=attempt)
    # inputs keep changing under us: compute while holding the write lock
    with store.transaction(actor=actor) as tx:
        stored = tx.export_dataset(inputs_only=True)
        use, built = compute(stored)
        _write_build(tx, stored, built)
        revision = tx.revision
    return StoredBuild(dataset=_stored_form(built, revision), revision=revision, params=use, attempts=OPTIMISTIC_TRIES + 1)


def _stored_form(built: Dataset, revision: int) -> Dataset:
    out = built.replace()
    out.meta[DERIVED_REVISION] = revision
    return out
