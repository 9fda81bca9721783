"""Edits of centres and compounds in the store: group commit and the incremental recomputation.

An edit is a function ``write(tx) -> ((layer, id), deleted)`` that changes one
feature inside a store transaction.  :func:`submit_edit` queues it on the
served dataset; whichever request thread gets the dataset's edit lock takes
*every* queued edit (up to :data:`MAX_BATCH`) into one transaction:

- each edit runs in its own ``SAVEPOINT`` with its caller as the audit log's
  actor, so a refused edit (stale ``If-Match``, an id taken, bad values) is
  undone alone and answered with its own error;
- what the accepted edits change is recomputed once
  (:func:`layers.update.update_after_edit` with all their features) and only
  the changed rows are written, in the same transaction, so a failure or a
  kill leaves the previous state for all of them;
- the result is served from memory at once (only cached tiles the changed
  rows touch are dropped).

Twenty planners editing at once thus cost one transaction and one
recomputation per batch instead of twenty in a row.  A batch is one store
revision; every feature still gets its own version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api.auth import Caller
from api.state.dataset import DatasetState
from geo.errors import DangjianError, NotFoundError
from layers.coverage import Method, parse_method
from layers.dataset import Dataset
from layers.store import DERIVED_REVISION, VERSIONED_LAYERS, StoredFeature, Transaction
from layers.update import EditUpdate, splice, update_after_edit
from layers.walking import SHARED_NETWORKS

log = logging.getLogger("dangjian.api")

#: Most edits one transaction takes (the rest wait for the next one).
MAX_BATCH = 64
#: How often a waiting request looks whether another thread answered its edit (s).
_POLL_S = 0.01

Write = Callable[[Transaction], tuple[tuple[str, str], bool]]


@dataclass
class PendingEdit:
    """One queued edit and where its answer goes."""

    caller: Caller
    write: Write
    future: Future[tuple[StoredFeature | None, dict[str, Any]]] = field(default_factory=Future)


def submit_edit(state: DatasetState, caller: Caller, write: Write) -> tuple[StoredFeature | None, dict[str, Any]]:
    """Run one edit (batched with any others waiting) and answer the stored feature and the new summary.

    Raises the edit's own error (:class:`DangjianError` naming the property,
    ``level`` rather than ``centers.level``) or, when the recomputation or
    the commit failed, that failure (nothing of the batch is stored).
    """
    item = PendingEdit(caller, write)
    queue = state.edit_queue
    queue.put(item)
    while not item.future.done():
        if state.edit_lock.acquire(timeout=_POLL_S):
            try:
                while not item.future.done():
                    batch = queue.take(MAX_BATCH)
                    if not batch:
                        break
                    try:
                        run_batch(state, batch)
                    finally:  # whatever happened, nobody may wait for an answer that never comes
                        for other in batch:
                            if not other.future.done():
                                other.future.set_exception(RuntimeError("the edit batch stopped without an answer"))
            finally:
                state.edit_lock.release()
    return item.future.result()


class _NothingAccepted(Exception):
    """Every edit of a batch was refused: roll the (otherwise empty) transaction back."""


def run_batch(state: DatasetState, batch: list[PendingEdit]) -> None:
    """Apply a batch of edits in one transaction (see the module docstring); every future gets its answer."""
    dataset = state.dataset()
    served_revision = state.revision
    accepted: list[tuple[PendingEdit, tuple[str, str], bool]] = []
    written: list[StoredFeature | None] = []
    errors: dict[int, BaseException] = {}
    try:
        with state.store.transaction(actor=batch[0].caller.actor) as tx:
            stale = served_revision is None or served_revision != tx.revision - 1
            if stale:
                # Someone else (another worker) wrote since this process loaded: start from what is stored,
                # keeping the served frames of layers nobody changed since (the roads' walking network stays cached).
                log.info("the served dataset is behind the store (revision %s < %s); reading it", served_revision, tx.revision - 1)
                served, dataset = dataset, tx.export_dataset()
                if served_revision is not None:
                    unchanged = {
                        n: served.layers[n]
                        for n, rev in tx.layer_revisions().items()
                        if rev <= served_revision and n in served.layers and n in dataset.layers
                    }
                    dataset = dataset.replace(**unchanged)
            # Incremental only from a state whose derived layers agree with its centres and compounds
            # (not after a feature written through the store alone, without recomputing).
            vouched = tx.derived_current()
            if not vouched:
                log.info("derived layers behind the centres and compounds at revision %s: recomputing all", tx.revision - 1)
            for i, item in enumerate(batch):
                tx.set_actor(item.caller.actor)
                try:
                    with tx.savepoint():
                        feature, deleted = item.write(tx)
                        written.append(None if deleted else tx.get_feature(*feature))
                except Exception as exc:  # this edit alone is refused (or broken); the others go on
                    errors[i] = _named(exc)
                    continue
                accepted.append((item, feature, deleted))
            if not accepted:
                raise _NothingAccepted
            tx.set_actor(batch[0].caller.actor if len(batch) == 1 else "system:recompute")
            update = update_in_store(tx, dataset, state, [f for _, f, _ in accepted], everything=not vouched)
            stored = [_as_answered(tx, feature) for feature in written]
            revision = tx.revision
            every_version = {n: tx.feature_versions(n) for n in VERSIONED_LAYERS if tx.has_layer(n)} if stale else None
    except _NothingAccepted:
        pass
    except BaseException as exc:  # the recomputation or the commit failed: nothing of the batch is stored
        failure = _named(exc) if isinstance(exc, Exception) else exc
        for i, item in enumerate(batch):
            item.future.set_exception(errors.get(i, failure))
        if not isinstance(exc, Exception):
            raise
        return
    for i, item in enumerate(batch):
        if i in errors:
            item.future.set_exception(errors[i])
    if not accepted:
        return
    versions: dict[str, dict[str, int | None]] = {}
    for (_, (layer, fid), _), feature in zip(accepted, stored, strict=True):
        versions.setdefault(layer, {})[fid] = None if feature is None else feature.version
    try:
        if every_version is not None:  # what this batch started from was read from the store: serve it whole
            state.install_stored(update.dataset, revision=revision, versions=every_version)
            installed = True
        else:
            installed = state.install_edit(update.dataset, revision=revision, versions=versions, boxes=update.boxes)
    except Exception:  # committed: serve it by reading it back instead
        log.exception("could not serve the edited dataset from memory; reloading it from the store")
        installed = False
    if not installed:
        state.invalidate()
    summary = update.dataset.meta.get("summary", {})
    for (item, _, _), feature in zip(accepted, stored, strict=True):
        item.future.set_result((feature, summary))


def _as_answered(tx: Transaction, feature: StoredFeature | None) -> StoredFeature | None:
    """What an edit answers: its feature with the recomputed columns, or as it left it if a later edit of the batch changed it."""
    if feature is None:
        return None
    try:
        now = tx.get_feature(feature.layer, feature.id)
    except NotFoundError:  # deleted by a later edit of the same batch
        return feature
    return now if now.version == feature.version else feature


def _named(exc: Exception) -> Exception:
    """The error naming the property as the request did: ``level``, not ``centers.level``."""
    if isinstance(exc, DangjianError) and exc.field:
        head, _, rest = exc.field.partition(".")
        if head in VERSIONED_LAYERS and rest:
            exc.field = rest
    return exc


def update_in_store(
    tx: Transaction, dataset: Dataset, state: DatasetState, features: Iterable[tuple[str, str]], *, everything: bool = False
) -> EditUpdate:
    """Bring the derived layers up to date after edits of some features, writing only the rows that changed.

    ``dataset`` must be the stored state just before ``tx``; ``features``
    are the ``(layer, id)`` edited in ``tx``.  See
    :func:`layers.update.update_after_edit` for what is recomputed.  With
    ``everything``, every centre and compound counts as edited: the whole
    coverage is recomputed (still writing only rows that changed), for a
    stored state whose derived layers are behind its centres and compounds.
    """
    edited: dict[str, set[str]] = {}
    for layer, fid in features:
        edited.setdefault(layer, set()).add(str(fid))
    frames = {"centers": dataset["centers"], "compounds": dataset["compounds"]}
    if "party_orgs" in edited:
        frames["party_orgs"] = dataset["party_orgs"]
    for layer, ids in edited.items():
        frames[layer] = splice(frames[layer], "id", ids, tx.read_layer(layer, ids=sorted(ids)))
    if everything:
        for name, frame in frames.items():
            edited.setdefault(name, set()).update(frame["id"].astype(str))
            edited[name].update(dataset[name]["id"].astype(str))
    params = state.params_for(dataset)
    network = None
    if parse_method(params.method) is Method.network:
        network = SHARED_NETWORKS.get(dataset["roads"], metric_crs=dataset.metric_crs)
    update = update_after_edit(
        dataset, params, centers=frames["centers"], compounds=frames["compounds"], edited=edited, network=network,
        orgs=frames.get("party_orgs"),
    )
    for name, change in update.changes.items():
        tx.replace_rows(name, change.rows, key=change.key, keys=change.keys)
    _stamp(tx, update.dataset)
    log.info(
        "coverage updated after edits of %s in %.2f s (%d compounds recomputed; rows rewritten: %s)",
        ", ".join(f"{len(ids)} {layer}" for layer, ids in edited.items()), update.seconds, update.recomputed,
        ", ".join(f"{n} {len(c.keys)}" for n, c in update.changes.items()) or "none",
    )
    return update


def _stamp(tx: Transaction, out: Dataset) -> None:
    out.meta["edited_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.meta[DERIVED_REVISION] = tx.revision
    tx.set_meta({"summary": out.meta.get("summary", {}), "edited_at": out.meta["edited_at"], DERIVED_REVISION: tx.revision})
