"""Solving the covering models: exactly with CBC or HiGHS, warm-started from greedy, else greedy with a bound.

:func:`solve_maximal_covering` (MCLP: at most ``k`` candidates, the most
weight covered) and :func:`solve_set_covering` (the fewest candidates that
cover every coverable target) work on a boolean ``reach`` matrix.  Each
shrinks the problem first (:mod:`layers.planning.reduction`), builds the
model (:mod:`layers.planning.model`) and solves it under a time limit,
starting from the greedy answer (:mod:`layers.planning.greedy`): with CBC
(:mod:`layers.planning.cbc`, the default ``auto`` where PuLP is installed:
chosen by measurement, several times faster on these models) or HiGHS
(:mod:`layers.planning.highs`).  When the solver stops early the best answer
found and its gap to the solver's bound (CBC: the LP relaxation's) are
reported; when no exact solver is usable (or ``solver="greedy"``) the greedy
answer is reported with its gap to the LP-relaxation bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import scipy.sparse as sp

from geo.errors import InvalidValueError, parse_choice
from layers.planning.cbc import cbc_available, run_cbc
from layers.planning.greedy import greedy_max_cover, greedy_set_cover
from layers.planning.highs import run_highs
from layers.planning.model import LinearModel, SolverAnswer, mclp_model, mclp_start, set_cover_model, set_cover_start
from layers.planning.reduction import Reduced, reduce_problem


class Solver(StrEnum):
    """How a location model is solved: ``auto`` is CBC where PuLP is installed, else HiGHS."""

    auto = "auto"
    cbc = "cbc"
    highs = "highs"
    greedy = "greedy"


#: The exact solvers, by name.
_EXACT: dict[Solver, Callable[..., SolverAnswer]] = {Solver.cbc: run_cbc, Solver.highs: run_highs}


def _exact_solver(solver: Solver, *, model: str) -> Solver:
    """The exact solver ``solver`` stands for.

    ``auto``, chosen by measurement (``bench/bench_planning.py``): CBC for
    maximal covering (optimal in about 2 s where HiGHS takes 13-30 s), HiGHS
    for set covering (neither proves the 20,000-compound instance in 60 s;
    HiGHS reports its own bound, PuLP gives none of CBC's); HiGHS when PuLP
    is missing.
    """
    if solver is Solver.auto:
        return Solver.cbc if model == "mclp" and cbc_available() else Solver.highs
    return solver


class SolveStatus(StrEnum):
    """How a solve ended."""

    optimal = "optimal"
    time_limit = "time_limit"
    greedy = "greedy"


def parse_solver(value: str | Solver) -> Solver:
    """A :class:`Solver` from text, with an error listing the valid values."""
    return parse_choice(Solver, value, field="solver")


@dataclass
class SolveInfo:
    """How a location model was solved.

    Attributes
    ----------
    solver
        ``cbc``, ``highs`` or ``greedy``.
    status
        ``optimal``, ``time_limit`` (best answer found, with a gap) or
        ``greedy`` (greedy answer, gap to the LP bound).
    objective
        Households newly covered (maximal covering) or sites (set covering).
    bound
        Upper bound on households (maximal covering) or lower bound on sites
        (set covering).
    gap
        Relative gap between ``objective`` and ``bound`` (0 when optimal).
    seconds
        Solve time (s), without setting up the problem.
    greedy_objective
        Maximal covering: households the greedy choice among the uncovered
        compounds' own sites newly covers (the baseline); set covering: sites
        greedy needs.
    note
        ``""``, ``all_reachable`` (k sites already reach every reachable
        household) or ``greedy_optimal`` (the baseline is optimal too), or a
        solver message.
    n_candidates, n_targets
        Size of the model after merging equal candidates and compounds.
    """

    solver: str
    status: str
    objective: float
    bound: float
    gap: float
    seconds: float
    greedy_objective: float = 0.0
    note: str = ""
    n_candidates: int = 0
    n_targets: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (``gap`` to 6 decimals, ``seconds`` to 3)."""
        return {**asdict(self), "gap": round(self.gap, 6), "seconds": round(self.seconds, 3)}


def _check_time_limit(time_limit_s: float) -> None:
    if not time_limit_s > 0:
        msg = f"`time_limit_s` must be positive; got {time_limit_s!r}"
        raise InvalidValueError(msg, field="time_limit_s")


def solve_maximal_covering(
    reach: sp.spmatrix,
    weights: np.ndarray,
    k: int,
    *,
    solver: str | Solver = Solver.auto,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
) -> tuple[list[int], SolveInfo]:
    """Choose at most ``k`` rows of ``reach`` covering the most column weight (the MCLP on a matrix).

    Parameters
    ----------
    reach, weights
        Which candidate covers which target (``(n, m)``, boolean) and the
        targets' weights (``(m,)``, households).
    k
        Rows to choose at most (>= 1).
    solver
        ``auto`` (CBC where PuLP is installed, else HiGHS), ``cbc``, ``highs``
        (exact, warm-started from greedy) or ``greedy``.
    time_limit_s
        The exact solver's time limit in seconds.
    mip_rel_gap
        Relative gap at which the solver may stop (0 = prove optimality).

    Returns
    -------
    (chosen, info)
        Chosen row indices (rows adding nothing may be included) and how it
        was solved; ``info.objective`` is the covered weight, exact.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        msg = f"`k` (new centres) must be a whole number >= 1; got {k!r}"
        raise InvalidValueError(msg, field="new_centers")
    _check_time_limit(time_limit_s)
    how = parse_solver(solver)
    red = reduce_problem(reach, np.asarray(weights))
    chosen_r, info = _solve_mclp(red, int(k), solver=how, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    return [int(red.cand[i]) for i in chosen_r], info


def solve_set_covering(
    reach: sp.spmatrix,
    *,
    solver: str | Solver = Solver.auto,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
) -> tuple[list[int], SolveInfo]:
    """The fewest rows of ``reach`` that cover every coverable column (set covering on a matrix).

    Parameters are those of :func:`solve_maximal_covering`.

    Returns
    -------
    (chosen, info)
        Chosen row indices and how it was solved (``info.objective`` = rows
        chosen, ``info.bound`` a lower bound).
    """
    _check_time_limit(time_limit_s)
    how = parse_solver(solver)
    red = reduce_problem(reach, np.ones(reach.shape[1]))
    chosen_r, info = _solve_set_cover(red, solver=how, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    return [int(red.cand[i]) for i in chosen_r], info


def _lp_bound(model: LinearModel, time_limit_s: float) -> float | None:
    """The objective of the LP relaxation of ``model``, ``None`` when HiGHS cannot give it."""
    try:
        answer = run_highs(model.relaxed(), time_limit_s=time_limit_s)
    except Exception:  # pragma: no cover - HiGHS unusable: the caller falls back to a trivial bound
        return None
    return answer.objective if answer.optimal else None


def _solve_mclp(red: Reduced, k: int, *, solver: Solver, time_limit_s: float, mip_rel_gap: float) -> tuple[list[int], SolveInfo]:
    """Solve the reduced MCLP; returns reduced candidate indices and the solve info."""
    t0 = time.perf_counter()
    n, m = red.reach.shape
    greedy, greedy_obj = greedy_max_cover(red.reach, red.weights, k)
    total = float(red.weights.sum())
    if n == 0 or k == 0:
        return [], SolveInfo("greedy", SolveStatus.optimal.value, 0.0, 0.0, 0.0, time.perf_counter() - t0, n_candidates=n, n_targets=m)
    if greedy_obj >= total - 1e-9:  # every coverable household is reached: nothing to improve
        return greedy, SolveInfo(solver.value, SolveStatus.optimal.value, greedy_obj, total, 0.0,
                                 time.perf_counter() - t0, greedy_objective=greedy_obj, note="all_reachable",
                                 n_candidates=n, n_targets=m)
    model = mclp_model(red, k)
    note = ""
    if solver is not Solver.greedy:
        exact = _exact_solver(solver, model="mclp")
        try:
            answer = _EXACT[exact](model, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, start=mclp_start(red, greedy))
            x = answer.x[:n] if answer.x is not None else None
            found = [int(i) for i in np.flatnonzero(x > 0.5)] if x is not None else []
            obj = red.covered_weight(found) if x is not None else -np.inf
            if x is not None and obj >= greedy_obj:
                chosen = found
            else:
                chosen, obj = greedy, greedy_obj
            bound = answer.dual_bound if answer.optimal or np.isfinite(answer.dual_bound) else (_lp_bound(model, time_limit_s) or np.inf)
            bound = max(min(bound, total), obj) if np.isfinite(bound) else total
            gap = (bound - obj) / bound if bound > 0 else 0.0
            # optimal also when the solver stopped at the requested relative gap
            st = SolveStatus.optimal if answer.optimal else SolveStatus.time_limit
            return chosen, SolveInfo(exact.value, st.value, obj, bound, gap, time.perf_counter() - t0,
                                     greedy_objective=greedy_obj, note="" if answer.optimal else answer.status,
                                     n_candidates=n, n_targets=m)
        except Exception as exc:  # the solver missing or failing: greedy with its LP bound
            note = f"{exact.value} failed: {type(exc).__name__}: {exc}"
    lp = _lp_bound(model, time_limit_s)
    top_k = float(np.sort(np.asarray(red.reach @ red.weights).ravel())[::-1][:k].sum())
    bound = min(lp if lp is not None else np.inf, top_k, total)
    bound = max(bound, greedy_obj)
    gap = (bound - greedy_obj) / bound if bound > 0 else 0.0
    return greedy, SolveInfo(Solver.greedy.value, SolveStatus.greedy.value if gap > 1e-9 else SolveStatus.optimal.value,
                             greedy_obj, bound, gap, time.perf_counter() - t0, greedy_objective=greedy_obj, note=note,
                             n_candidates=n, n_targets=m)


def _solve_set_cover(red: Reduced, *, solver: Solver, time_limit_s: float, mip_rel_gap: float) -> tuple[list[int], SolveInfo]:
    """Solve the reduced set covering; returns reduced candidate indices and the solve info."""
    t0 = time.perf_counter()
    n, m = red.reach.shape
    greedy = greedy_set_cover(red.reach)
    if m == 0:
        return [], SolveInfo(solver.value, SolveStatus.optimal.value, 0.0, 0.0, 0.0, time.perf_counter() - t0)
    model = set_cover_model(red)
    note = ""
    if solver is not Solver.greedy:
        exact = _exact_solver(solver, model="set_cover")
        try:
            answer = _EXACT[exact](model, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, start=set_cover_start(red, greedy))
            chosen = [int(i) for i in np.flatnonzero(answer.x > 0.5)] if answer.x is not None else greedy
            if len(chosen) > len(greedy):
                chosen = greedy
            dual = answer.dual_bound if np.isfinite(answer.dual_bound) else _lp_bound(model, time_limit_s)
            bound = float(np.ceil(dual - 1e-6)) if dual is not None and np.isfinite(dual) else 1.0
            bound = min(bound, len(chosen))
            gap = (len(chosen) - bound) / len(chosen) if chosen else 0.0
            st = SolveStatus.optimal if answer.optimal else SolveStatus.time_limit
            return chosen, SolveInfo(exact.value, st.value, float(len(chosen)), bound, gap,
                                     time.perf_counter() - t0, greedy_objective=float(len(greedy)),
                                     note="" if answer.optimal else answer.status, n_candidates=n, n_targets=m)
        except Exception as exc:  # the solver missing or failing: greedy with its LP bound
            note = f"{exact.value} failed: {type(exc).__name__}: {exc}"
    lp = _lp_bound(model, time_limit_s)
    bound = float(np.ceil(lp - 1e-6)) if lp is not None else 1.0
    bound = min(bound, len(greedy))
    gap = (len(greedy) - bound) / len(greedy) if greedy else 0.0
    return greedy, SolveInfo(Solver.greedy.value, SolveStatus.greedy.value if gap > 0 else SolveStatus.optimal.value,
                             float(len(greedy)), bound, gap, time.perf_counter() - t0,
                             greedy_objective=float(len(greedy)), note=note, n_candidates=n, n_targets=m)
