"""``/audit``: who changed what and when, with the values before and after (editor token).

- ``GET /audit``: the latest entries of the served dataset's audit log, or
  the entries after ``after`` (paging forward: pass the last ``seq`` you saw),
  optionally only of one ``layer`` and ``feature``;
- ``GET /collections/{layer}/items/{featureId}/history``: one feature's
  entries, oldest first.

Entries are never changed once written (the store refuses it).  Actors are
``token:<id>`` (the token's id, never its secret), ``cli:<user>`` or
``system:...``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from api.auth import Caller, require
from api.state.dataset import DatasetState
from api.state.deps import StateDep, example
from layers.store import AuditEntry, Role

router = APIRouter(tags=["audit"])

EditorDep = Annotated[Caller, Depends(require(Role.editor))]
#: Most entries one answer holds.
MAX_ENTRIES = 1000


def _audit(state: DatasetState, **query: Any) -> list[AuditEntry]:
    """Audit entries of the served store, read in one snapshot (see :meth:`~layers.store.snapshot.Snapshot.audit`)."""
    with state.store.snapshot() as snap:
        return snap.audit(**query)


@router.get("/audit", summary="The audit log: who changed what, when, before and after (editor token)")
async def audit(
    state: StateDep,
    caller: EditorDep,
    layer: Annotated[str | None, Query(description="Only entries about this layer", openapi_examples=example("centers"))] = None,
    feature: Annotated[str | None, Query(description="Only entries about this feature id", openapi_examples=example("S0001"))] = None,
    after: Annotated[int | None, Query(ge=0, description="Only entries after this `seq`, oldest first (paging forward)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ENTRIES, description="At most this many entries")] = 100,
) -> dict[str, Any]:
    """The latest ``limit`` entries, or the first ``limit`` after ``after`` (then with a ``next`` link); in the order written."""
    entries = await run_in_threadpool(_audit, state, layer=layer, feature_id=feature, after_seq=after, limit=limit)
    out: dict[str, Any] = {"entries": [e.as_dict() for e in entries]}
    if after is not None and len(entries) == limit:
        query = [f"after={entries[-1].seq}", f"limit={limit}"] + [f"{k}={v}" for k, v in (("layer", layer), ("feature", feature)) if v]
        out["next"] = "/audit?" + "&".join(query)
    return out


@router.get(
    "/collections/{layer}/items/{feature_id}/history",
    summary="One feature's changes, oldest first (editor token)",
)
async def history(
    state: StateDep,
    caller: EditorDep,
    layer: Annotated[str, Path(description="`centers` or `compounds`", openapi_examples=example("centers"))],
    feature_id: Annotated[str, Path(description="The feature's id", openapi_examples=example("S0001"))],
) -> dict[str, Any]:
    """Every audit entry about the feature (created, changed, deleted), oldest first."""
    entries = await run_in_threadpool(_audit, state, layer=layer, feature_id=feature_id, after_seq=0, limit=MAX_ENTRIES)
    return {"layer": layer, "id": feature_id, "entries": [e.as_dict() for e in entries]}
