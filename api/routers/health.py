"""``/health``: a fast liveness and readiness answer for load balancers and ``dangjian serve``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.state.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and readiness")
async def health(state: StateDep) -> dict[str, Any]:
    """``status`` ``ok`` with whether the dataset is loaded and its version; never loads or builds anything."""
    out: dict[str, Any] = {"status": "ok", "loaded": state.loaded}
    if state.loaded:
        ds = state.dataset()
        out["version"] = state.version
        out["dataset"] = ds.meta.get("summary", {}).get("name") or (ds.path.stem if ds.path else "")
        out["built_at"] = ds.meta.get("built_at")
        out["tiles_cached"] = len(state.tiles)
    return out
