"""The headline coverage counts that site suggestions and scenarios both report."""

from __future__ import annotations

from typing import Any

import numpy as np


def coverage_counts(covered: np.ndarray, households: np.ndarray) -> dict[str, Any]:
    """Compounds and households covered, and the share of households covered.

    Parameters
    ----------
    covered
        Per compound: whether it is covered (boolean).
    households
        Per compound: its households.

    Returns
    -------
    dict
        ``compounds``, ``covered_compounds``, ``households``,
        ``covered_households`` (ints) and ``share`` (of households, 4 decimals).
    """
    covered = np.asarray(covered, dtype=bool)
    hh = np.asarray(households, dtype="int64")
    total = int(hh.sum())
    return {
        "compounds": len(covered),
        "covered_compounds": int(covered.sum()),
        "households": total,
        "covered_households": int(hh[covered].sum()),
        "share": round(float(hh[covered].sum()) / total, 4) if total else 0.0,
    }
