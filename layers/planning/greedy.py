"""Greedy answers to the covering models: the warm start, the fallback and the baseline of the exact solves.

Both work on a boolean ``reach`` matrix (row ``i`` covers column ``j``):
:func:`greedy_max_cover` picks rows one at a time, each covering the most
weight not yet covered; :func:`greedy_set_cover` keeps picking until every
coverable column is covered.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def greedy_max_cover(
    reach: sp.spmatrix, weights: np.ndarray, k: int, *, rows: np.ndarray | None = None
) -> tuple[list[int], float]:
    """Pick ``k`` rows one at a time, each covering the most not-yet-covered weight.

    Parameters
    ----------
    reach
        ``(n, m)`` boolean matrix: row ``i`` covers column ``j``.
    weights
        ``(m,)`` non-negative weights (households).
    k
        Rows to pick at most; stops early when no row adds anything.
    rows
        Only these rows may be picked (default all).

    Returns
    -------
    (chosen, covered_weight)
        Chosen row indices in pick order and the weight they cover.
    """
    r = sp.csr_matrix(reach, dtype=np.float64)
    c = r.tocsc()
    w = np.asarray(weights, dtype=float).copy()
    gains = np.asarray(r @ w).ravel()
    if rows is not None:
        mask = np.full(r.shape[0], -np.inf)
        mask[np.asarray(rows, dtype=int)] = 0.0
        gains = gains + mask
    chosen: list[int] = []
    total = 0.0
    for _ in range(max(int(k), 0)):
        if not len(gains):
            break
        i = int(np.argmax(gains))
        if not gains[i] > 0:
            break
        chosen.append(i)
        cols = r.indices[r.indptr[i] : r.indptr[i + 1]]
        cols = cols[w[cols] > 0]
        total += float(w[cols].sum())
        gains -= np.asarray(c[:, cols] @ w[cols]).ravel()
        w[cols] = 0.0
        gains[i] = -np.inf
    return chosen, total


def greedy_set_cover(reach: sp.spmatrix) -> list[int]:
    """Rows that together cover every coverable column, picked greedily (most new columns first)."""
    r = sp.csr_matrix(reach, dtype=np.float64)
    coverable = np.asarray(r.getnnz(axis=0) > 0)
    chosen, _ = greedy_max_cover(r, coverable.astype(float), r.shape[0])
    return chosen
