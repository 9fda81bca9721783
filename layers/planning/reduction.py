"""Shrinking a covering problem before it is solved, without changing its answer.

Targets (compounds) that the same candidates reach are merged into one with
their weights (households) summed; then candidates that reach the same
merged targets are merged, keeping the first.  Targets no candidate reaches
and candidates that reach nothing are dropped.  Equal rows are found by two
random projections per row (and the row's length), so no pair of rows is
compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _row_signatures(m: sp.csr_matrix, seed: int) -> np.ndarray:
    """Two random projections per row; equal rows (same column sets) get equal signatures."""
    rng = np.random.default_rng(seed)
    v = rng.random((m.shape[1], 2))
    f = sp.csr_matrix(m, dtype=np.float64)
    f.sort_indices()
    return np.asarray(f @ v)


def _group_equal_rows(m: sp.csr_matrix, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row its group and for each group its first row (rows with equal column sets share a group)."""
    if m.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sig = _row_signatures(m, seed)
    nnz = np.diff(m.indptr).astype(float)
    keys = pd.MultiIndex.from_arrays([sig[:, 0], sig[:, 1], nnz])
    codes, _ = pd.factorize(keys)
    first = pd.Series(np.arange(m.shape[0])).groupby(codes).first().to_numpy()
    return codes.astype(np.int64), first


@dataclass
class Reduced:
    """A covering problem after merging equal targets and equal candidates.

    Attributes
    ----------
    reach
        ``(n_candidates, n_groups)`` boolean CSR over the kept candidates and the target groups.
    weights
        Weight (households) of each target group.
    cand
        For each kept candidate, its row in the original ``reach``.
    """

    reach: sp.csr_matrix
    weights: np.ndarray
    cand: np.ndarray

    def covered_weight(self, chosen: list[int]) -> float:
        """Weight of the target groups the chosen (kept) candidates cover."""
        if not chosen:
            return 0.0
        hit = np.asarray(self.reach[chosen].sum(axis=0)).ravel() > 0
        return float(self.weights[hit].sum())


def reduce_problem(reach: sp.spmatrix, weights: np.ndarray) -> Reduced:
    """Merge equal targets and equal candidates of ``reach`` (boolean, candidates x targets) weighted by ``weights``."""
    r = sp.csr_matrix(reach, dtype=bool)
    r.sort_indices()
    coverable = np.asarray(r.getnnz(axis=0) > 0)
    useful = np.flatnonzero(np.asarray(r.getnnz(axis=1) > 0))
    r = r[useful][:, np.flatnonzero(coverable)].tocsr()
    # merge targets with the same candidate set
    t_codes, t_first = _group_equal_rows(r.T.tocsr(), seed=1)
    w = np.bincount(t_codes, weights=np.asarray(weights, dtype=float)[coverable], minlength=len(t_first))
    r = r[:, t_first].tocsr()
    # merge candidates with the same target-group set
    _, c_first = _group_equal_rows(r, seed=2)
    r = r[c_first].tocsr()
    r.sort_indices()
    return Reduced(reach=r, weights=w, cand=useful[c_first])
