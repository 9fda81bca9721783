"""The HiGHS call: a :class:`~layers.planning.model.LinearModel` in, the solver's answer out.

HiGHS (``highspy``) runs single-threaded with a fixed seed, so answers are
repeatable, under a time limit and a relative MIP gap, optionally
warm-started from a known solution.  It prints a banner when the first
solver of a process is made; that one is made with C-level stdout silenced.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from layers.planning.model import LinearModel, SolverAnswer

_BANNER_LOCK = threading.Lock()
_BANNER_DONE = False


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence C-level stdout (HiGHS prints a banner when the first solver is made)."""
    try:
        fd = os.dup(1)
    except OSError:  # pragma: no cover - no stdout
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(fd, 1)
    finally:
        os.close(fd)


def _new_highs(highspy: Any, time_limit_s: float, mip_rel_gap: float) -> Any:
    global _BANNER_DONE
    with _BANNER_LOCK:
        if not _BANNER_DONE:
            with _quiet_stdout():
                h = highspy.Highs()
            _BANNER_DONE = True
        else:
            h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    return h


def _pass_model(highspy: Any, h: Any, model: LinearModel) -> None:
    inf = highspy.kHighsInf
    a = model.a
    lp = highspy.HighsLp()
    lp.num_col_ = int(a.shape[1])
    lp.num_row_ = int(a.shape[0])
    lp.col_cost_ = np.asarray(model.cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(model.col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(model.col_upper, dtype=np.float64)
    lp.row_lower_ = np.where(np.isfinite(model.row_lower), model.row_lower, -inf).astype(np.float64)
    lp.row_upper_ = np.where(np.isfinite(model.row_upper), model.row_upper, inf).astype(np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    lp.a_matrix_.num_col_ = int(a.shape[1])
    lp.a_matrix_.num_row_ = int(a.shape[0])
    lp.sense_ = highspy.ObjSense.kMaximize if model.maximize else highspy.ObjSense.kMinimize
    if model.integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in model.integer]
    h.passModel(lp)


def run_highs(
    model: LinearModel, *, time_limit_s: float, mip_rel_gap: float = 0.0, start: np.ndarray | None = None
) -> SolverAnswer:
    """Solve ``model`` with HiGHS.

    Parameters
    ----------
    model
        The (integer) linear program.
    time_limit_s
        Time limit in seconds; the best solution found by then is answered.
    mip_rel_gap
        Relative gap at which HiGHS may stop (0 = prove optimality).
    start
        Values of the variables to start from (a feasible solution).

    Raises
    ------
    ImportError
        ``highspy`` is not installed; other errors of HiGHS pass through.
    """
    import highspy  # ~70 ms to import and only needed when a model is solved

    h = _new_highs(highspy, time_limit_s, mip_rel_gap)
    _pass_model(highspy, h, model)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(start, dtype=float).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    feasible = info.primal_solution_status == int(highspy.kSolutionStatusFeasible)
    return SolverAnswer(
        x=np.asarray(h.getSolution().col_value) if feasible else None,
        optimal=status == highspy.HighsModelStatus.kOptimal,
        objective=float(info.objective_function_value),
        dual_bound=float(info.mip_dual_bound),
        status=h.modelStatusToString(status),
    )
