"""Shrinking a covering problem before it is solved, without changing its answer.

Targets (compounds) that the same candidates reach are merged into one with
their weights (households) summed; then candidates that reach the same
merged targets are merged, keeping the first, and candidates that reach a
strict subset of another's targets are dropped.  Targets no candidate reaches
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


def _dominated(r: sp.csr_matrix) -> np.ndarray:
    """Rows whose column set lies strictly inside another row's (rows are distinct sets)."""
    counts = r.astype(np.int32)
    overlap = (counts @ counts.T).tocoo()
    size = np.asarray(counts.sum(axis=1)).ravel()
    inside = (overlap.row != overlap.col) & (overlap.data == size[overlap.row]) & (size[overlap.col] > size[overlap.row])
    return np.unique(overlap.row[inside])


#: Rounds of dropping dominated candidates (each may merge more targets, which may dominate more).
_DOMINANCE_ROUNDS = 3


def reduce_problem(reach: sp.spmatrix, weights: np.ndarray, *, dominance: bool = True) -> Reduced:
    """Merge equal targets and equal candidates of ``reach`` (boolean, candidates x targets) weighted by ``weights``.

    With ``dominance``, a candidate that reaches a strict subset of what
    another reaches is dropped too (any answer using it does as well with the
    other), and the targets are merged again; the optimum is unchanged, for
    maximal covering and set covering alike.
    """
    red = _merge_equal(reach, weights)
    for _ in range(_DOMINANCE_ROUNDS if dominance else 0):
        drop = _dominated(red.reach)
        if not len(drop):
            break
        keep = np.setdiff1d(np.arange(red.reach.shape[0]), drop)
        again = _merge_equal(red.reach[keep], red.weights)
        red = Reduced(reach=again.reach, weights=again.weights, cand=red.cand[keep][again.cand])
    return red


def _merge_equal(reach: sp.spmatrix, weights: np.ndarray) -> Reduced:
    """Merge equal targets and equal candidates; drop targets no candidate reaches and candidates that reach nothing."""
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
