"""The covering models as linear programs, ready for a solver.

Over a reduced problem (:class:`~layers.planning.reduction.Reduced`: ``n``
candidates, ``m`` target groups with weights ``w``, ``a_ij`` = candidate
``i`` reaches group ``j``):

- **Maximal covering** (:func:`mclp_model`): binary ``x_i`` (open candidate
  ``i``) and ``y_j`` in [0, 1] (group ``j`` covered); maximise
  ``sum_j w_j y_j`` subject to ``y_j - sum_i a_ij x_i <= 0`` and
  ``sum_i x_i <= k``.
- **Set covering** (:func:`set_cover_model`): binary ``x_i``; minimise
  ``sum_i x_i`` subject to ``sum_i a_ij x_i >= 1`` for every group.

A :class:`LinearModel` is solver-neutral (:mod:`layers.planning.cbc` passes it
to CBC, :mod:`layers.planning.highs` to HiGHS; both answer a :class:`SolverAnswer`);
its :meth:`~LinearModel.relaxed` form is the LP relaxation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from layers.planning.reduction import Reduced


@dataclass(frozen=True)
class LinearModel:
    """Optimise ``cost @ x`` subject to ``row_lower <= a @ x <= row_upper`` and ``col_lower <= x <= col_upper``.

    Attributes
    ----------
    cost
        ``(n_cols,)`` objective coefficients.
    a
        ``(n_rows, n_cols)`` constraint matrix, column-wise with sorted indices.
    row_lower, row_upper
        ``(n_rows,)`` bounds of the constraints (``-inf``/``inf`` for none).
    col_lower, col_upper
        ``(n_cols,)`` bounds of the variables.
    integer
        ``(n_cols,)`` which variables are integer; ``None`` for a linear program.
    maximize
        Maximise (else minimise).
    """

    cost: np.ndarray
    a: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray | None
    maximize: bool

    def relaxed(self) -> LinearModel:
        """The LP relaxation (every variable continuous)."""
        return replace(self, integer=None)


@dataclass(frozen=True)
class SolverAnswer:
    """What an exact solver (HiGHS, CBC) answered.

    Attributes
    ----------
    x
        The variables' values in the best solution found, ``None`` when none was found.
    optimal
        The solver proved it optimal (within the relative gap asked for).
    objective
        Objective of that solution.
    dual_bound
        The solver's bound on the objective (NaN when it gives none: the caller bounds by the LP relaxation).
    status
        The solver's status, in words.
    """

    x: np.ndarray | None
    optimal: bool
    objective: float
    dual_bound: float
    status: str


def mclp_model(red: Reduced, k: int) -> LinearModel:
    """The maximal covering model: ``k`` candidates at most, the most weight covered."""
    n, m = red.reach.shape
    rt = red.reach.T.tocsr().astype(np.float64)  # (m, n)
    top = sp.hstack([-rt, sp.identity(m, format="csr")], format="csr")
    card = sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, m))], format="csr")
    a = sp.vstack([top, card], format="csc")
    a.sort_indices()
    return LinearModel(
        cost=np.concatenate([np.zeros(n), red.weights]),
        a=a,
        row_lower=np.full(m + 1, -np.inf),
        row_upper=np.concatenate([np.zeros(m), [float(k)]]),
        col_lower=np.zeros(n + m),
        col_upper=np.ones(n + m),
        integer=np.concatenate([np.ones(n, bool), np.zeros(m, bool)]),
        maximize=True,
    )


def mclp_start(red: Reduced, chosen: list[int]) -> np.ndarray:
    """Values of :func:`mclp_model`'s variables for the candidates ``chosen`` (a warm start)."""
    n, m = red.reach.shape
    start = np.zeros(n + m)
    start[chosen] = 1.0
    start[n:] = np.asarray(red.reach[chosen].sum(axis=0)).ravel() > 0
    return start


def set_cover_model(red: Reduced) -> LinearModel:
    """The set covering model: the fewest candidates that cover every target group."""
    n, m = red.reach.shape
    return LinearModel(
        cost=np.ones(n),
        a=red.reach.T.tocsc().astype(np.float64),
        row_lower=np.ones(m),
        row_upper=np.full(m, np.inf),
        col_lower=np.zeros(n),
        col_upper=np.ones(n),
        integer=np.ones(n, bool),
        maximize=False,
    )


def set_cover_start(red: Reduced, chosen: list[int]) -> np.ndarray:
    """Values of :func:`set_cover_model`'s variables for the candidates ``chosen`` (a warm start)."""
    start = np.zeros(red.reach.shape[0])
    start[chosen] = 1.0
    return start
