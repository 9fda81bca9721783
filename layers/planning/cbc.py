"""The CBC call, through PuLP: a :class:`~layers.planning.model.LinearModel` in, the solver's answer out.

CBC (COIN-OR branch and cut, the binary PuLP ships) proves the covering
models optimal several times faster than HiGHS on the same model (measured in
``bench/bench_planning.py``: 20,000 compounds, 2,000 candidates, K = 10:
about 2 s against 13-23 s), so it is the default exact solver.  It runs
single-threaded under a time limit and a relative gap, optionally warm-started
from a known solution.  PuLP gives no dual bound: a solve stopped early is
bounded by the caller (the LP relaxation).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from layers.planning.model import LinearModel, SolverAnswer


def cbc_available() -> bool:
    """Whether PuLP and its CBC binary can be used here."""
    try:
        import pulp
    except ImportError:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(pulp.PULP_CBC_CMD(msg=False).available())


def _problem(pulp: Any, model: LinearModel) -> tuple[Any, list[Any]]:
    """The model as a PuLP problem and its variables, in column order."""
    lp = pulp.LpProblem("dangjian", pulp.LpMaximize if model.maximize else pulp.LpMinimize)
    integer = model.integer if model.integer is not None else np.zeros(len(model.cost), bool)
    # PuLP writes the variables sorted by name: zero-padded names keep the model's column order, which CBC's
    # search depends on (unpadded, x10 sorting before x2, the same MCLP took 12-29 s instead of 2 s)
    xs = [
        pulp.LpVariable(
            f"{'x' if integer[i] else 'y'}{i:07d}",
            lowBound=None if not np.isfinite(lo) else float(lo),
            upBound=None if not np.isfinite(up) else float(up),
            cat="Integer" if integer[i] else "Continuous",
        )
        for i, (lo, up) in enumerate(zip(model.col_lower, model.col_upper, strict=True))
    ]
    nz = np.flatnonzero(model.cost)
    lp += pulp.LpAffineExpression([(xs[i], float(model.cost[i])) for i in nz])
    rows = model.a.tocsr()
    for r in range(rows.shape[0]):
        cols = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
        vals = rows.data[rows.indptr[r]:rows.indptr[r + 1]]
        expr = pulp.LpAffineExpression([(xs[c], float(v)) for c, v in zip(cols, vals, strict=True)])
        lo, up = float(model.row_lower[r]), float(model.row_upper[r])
        if np.isfinite(lo) and lo == up:
            lp += expr == lo
            continue
        if np.isfinite(lo):
            lp += expr >= lo
        if np.isfinite(up):
            lp += expr <= up
    return lp, xs


def run_cbc(
    model: LinearModel, *, time_limit_s: float, mip_rel_gap: float = 0.0, start: np.ndarray | None = None
) -> SolverAnswer:
    """Solve ``model`` with CBC.

    Parameters are those of :func:`layers.planning.highs.run_highs`.

    Raises
    ------
    ImportError
        PuLP is not installed; other errors of PuLP or CBC pass through.
    """
    import pulp  # ~0.1 s to import and only needed when a model is solved

    with warnings.catch_warnings():
        # PuLP 3.x announces its 4.0 API (prob.add_variable, COIN_CMD without a bundled CBC); 3.x is what is pinned
        warnings.simplefilter("ignore", DeprecationWarning)
        return _solve(pulp, model, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, start=start)


def _solve(pulp: Any, model: LinearModel, *, time_limit_s: float, mip_rel_gap: float, start: np.ndarray | None) -> SolverAnswer:
    lp, xs = _problem(pulp, model)
    if start is not None:
        for var, value in zip(xs, np.asarray(start, dtype=float), strict=True):
            var.setInitialValue(float(value))
    cmd = pulp.PULP_CBC_CMD(
        msg=False, timeLimit=float(time_limit_s), gapRel=float(mip_rel_gap) if mip_rel_gap > 0 else None, threads=1,
        warmStart=start is not None,
    )
    lp.solve(cmd)
    sol = int(lp.sol_status)
    found = sol in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    x = np.array([v.varValue if v.varValue is not None else 0.0 for v in xs], dtype=float) if found else None
    objective = float(model.cost @ x) if x is not None else float("nan")
    optimal = sol == pulp.LpSolutionOptimal
    return SolverAnswer(
        x=x, optimal=optimal, objective=objective, dual_bound=objective if optimal else float("nan"),
        status=str(pulp.LpSolution.get(sol, sol)),
    )
