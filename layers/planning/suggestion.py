"""Site suggestions: the sites the location models choose, and what they change.

Two location models over one :class:`~layers.planning.problem.CoverageProblem`:

- **Maximal covering** (MCLP, :func:`maximal_covering`): choose ``k`` sites
  for new centres, keeping the existing ones, to maximise the households of
  compounds they newly cover.  Compounds already covered stay covered and
  count for nothing.
- **Set covering** (:func:`set_covering`): the fewest new sites that cover
  every household some candidate can reach; the rest are listed as
  uncoverable.

Both are solved by :mod:`layers.planning.solve`; the chosen sites are ranked
by the households each newly covers and every newly covered compound is
credited to the first site in rank order that reaches it
(:class:`SiteSuggestion`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import WGS84
from layers.dataset import Dataset
from layers.i18n import check_lang, text
from layers.planning.greedy import greedy_max_cover
from layers.planning.problem import CoverageProblem
from layers.planning.sites import CandidateSource
from layers.planning.solve import SolveInfo, Solver, SolveStatus, solve_maximal_covering, solve_set_covering


@dataclass
class SiteSuggestion:
    """Chosen sites for new centres and what they change.

    Attributes
    ----------
    model
        ``maximal_covering`` or ``set_covering``.
    k
        Sites asked for (maximal covering), else ``None``.
    sites
        EPSG:4326 points ranked by the households each newly covers (each
        compound counted once, for the first site in rank order that reaches
        it): ``id``, ``rank``, ``name``, ``level``, ``status`` (``proposed``),
        ``source``, ``source_ref``, ``candidate_id``, ``reach_households``
        (uncovered households in reach, overlaps included),
        ``new_households``, ``new_compounds``, ``new_compound_ids``,
        ``lon``, ``lat``.  Sites that would add nothing are left out.
    compounds
        Every compound (EPSG:4326) with the base coverage plus
        ``newly_covered``, ``new_site`` and ``covered_after``.
    uncoverable
        Uncovered compounds no candidate can reach.
    before, after
        Coverage counts (compounds, households, share) without and with the sites.
    solve
        How it was solved.
    problem
        The coverage problem solved.
    """

    model: str
    k: int | None
    sites: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    uncoverable: pd.DataFrame
    before: dict[str, Any]
    after: dict[str, Any]
    solve: SolveInfo
    problem: CoverageProblem = field(repr=False)

    @property
    def new_households(self) -> int:
        """Households newly covered by all sites together."""
        return int(self.after["covered_households"] - self.before["covered_households"])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (sites as a GeoJSON FeatureCollection)."""
        return {
            "model": self.model,
            "k": self.k,
            "level": self.problem.level,
            "minutes": self.problem.minutes,
            "method": self.problem.method,
            "limit_m": round(self.problem.limit_m, 1),
            "sites": json.loads(self.sites.to_json(drop_id=True)),
            "before": self.before,
            "after": self.after,
            "new_households": self.new_households,
            "uncoverable": {
                "compounds": len(self.uncoverable),
                "households": int(self.uncoverable["households"].sum()),
                "items": self.uncoverable[["id", "name", "community", "households"]].to_dict("records"),
            },
            "candidates": {"total": len(self.problem.candidates), "useful": int(self.problem.useful.sum())},
            "solve": self.solve.as_dict(),
        }

    def table(self, lang: str = "zh") -> pd.DataFrame:
        """The sites as a table with headings in ``lang``."""
        lang = check_lang(lang)
        cols = ["rank", "name", "level", "source", "source_ref", "new_households", "new_compounds",
                "reach_households", "lon", "lat"]
        out = pd.DataFrame(self.sites[cols]).copy()
        out["level"] = [text(f"level.{v}", lang) for v in out["level"]]
        out["source"] = [text(f"source.{v}", lang) for v in out["source"]]
        out.columns = [text("col.site" if c == "name" else f"col.{c}", lang) for c in cols]
        return out

    def summary_lines(self, lang: str = "zh") -> list[str]:
        """The result in a few lines of ``lang``."""
        lang = check_lang(lang)
        p = self.problem
        s = self.solve
        lines = [
            text("suggest.title", lang, level=text(f"level.{p.level}", lang), minutes=p.minutes,
                 method=text(f"method.{p.method}", lang)),
            text("suggest.candidates", lang, n=len(p.candidates), useful=int(p.useful.sum()), targets=len(p.targets)),
            text("suggest.before", lang, covered=self.before["covered_households"], total=self.before["households"],
                 share=self.before["share"], covered_compounds=self.before["covered_compounds"],
                 compounds=self.before["compounds"]),
            text("suggest.after", lang, k=len(self.sites), covered=self.after["covered_households"],
                 total=self.after["households"], share=self.after["share"],
                 covered_compounds=self.after["covered_compounds"], compounds=self.after["compounds"]),
        ]
        if self.model == "maximal_covering":
            lines.append(text("suggest.solver", lang, solver=s.solver, status=text(f"solve.{s.status}", lang),
                              objective=int(round(s.objective)), bound=int(round(s.bound)), gap=s.gap, seconds=s.seconds))
            lines.append(text("suggest.greedy_compare", lang, k=self.k, greedy=int(round(s.greedy_objective))))
            if s.note in ("all_reachable", "greedy_optimal"):
                lines.append(text("suggest.equal_reason", lang, reason=text(f"suggest.reason.{s.note}", lang))
                             if abs(s.objective - s.greedy_objective) < 0.5 else text(f"suggest.reason.{s.note}", lang))
            if self.k is not None and len(self.sites) < self.k:
                lines.append(text("suggest.fewer_sites", lang, n=len(self.sites)))
        else:
            lines.append(text("suggest.min_sites", lang, n=len(self.sites)))
            lines.append(text("suggest.solver_cover", lang, solver=s.solver, status=text(f"solve.{s.status}", lang),
                              objective=int(s.objective), bound=int(s.bound), gap=s.gap, seconds=s.seconds))
        u = self.uncoverable
        lines.append(text("suggest.uncoverable", lang, n=len(u), households=int(u["households"].sum())))
        return lines


def _result(
    problem: CoverageProblem, chosen: list[int], solve: SolveInfo, *, model: str, k: int | None, lang: str = "zh"
) -> SiteSuggestion:
    """Rank the chosen candidates, attribute newly covered compounds, and assemble the result."""
    reach = problem.reach
    w = problem.weights.astype(float)
    order, _ = greedy_max_cover(reach[chosen], w, len(chosen)) if chosen else ([], 0.0)
    ranked = [chosen[i] for i in order]  # sites adding nothing are dropped
    newly = np.zeros(len(problem.targets), dtype=bool)
    site_of = np.full(len(problem.targets), -1)
    rows = []
    width = max(2, len(str(len(ranked))))
    comp = problem.compounds
    ids = comp["id"].astype(str).to_numpy()[problem.targets]
    for rank, ci in enumerate(ranked, start=1):
        cols = reach.indices[reach.indptr[ci] : reach.indptr[ci + 1]]
        new = cols[~newly[cols]]
        newly[new] = True
        site_of[new] = rank - 1
        rows.append(
            {
                "id": f"N{rank:0{width}d}",
                "rank": rank,
                "name": text("suggest.site_name", lang, n=rank),
                "level": problem.level,
                "status": "proposed",
                "source": problem.candidates["source"].iloc[ci],
                "source_ref": str(problem.candidates["source_ref"].iloc[ci]),
                "candidate_id": str(problem.candidates["id"].iloc[ci]),
                "reach_households": int(problem.weights[cols].sum()),
                "new_households": int(problem.weights[new].sum()),
                "new_compounds": len(new),
                "new_compound_ids": ",".join(ids[new]),
                "geometry": problem.candidates.geometry.iloc[ci],
            }
        )
    if rows:
        sites = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=WGS84)
        sites["lon"] = sites.geometry.x.round(6)
        sites["lat"] = sites.geometry.y.round(6)
        given_names = problem.candidates["name"].iloc[ranked].astype(str).to_numpy()
        sites["name"] = np.where(given_names != "", given_names, sites["name"].to_numpy())
    else:
        cols = ["id", "rank", "name", "level", "status", "source", "source_ref", "candidate_id", "reach_households",
                "new_households", "new_compounds", "new_compound_ids", "lon", "lat"]
        sites = gpd.GeoDataFrame(pd.DataFrame({c: [] for c in cols}), geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    compounds = problem.compounds.copy()
    flag = np.zeros(len(compounds), dtype=bool)
    flag[problem.targets[newly]] = True
    by_site = np.full(len(compounds), "", dtype=object)
    if rows:
        site_ids = sites["id"].to_numpy()
        by_site[problem.targets[newly]] = site_ids[site_of[newly]]
    compounds["newly_covered"] = flag
    compounds["new_site"] = by_site
    compounds["covered_after"] = compounds["covered"].to_numpy(bool) | flag
    return SiteSuggestion(
        model=model,
        k=k,
        sites=sites,
        compounds=compounds,
        uncoverable=problem.uncoverable(),
        before=problem.coverage_counts(),
        after=problem.coverage_counts(newly),
        solve=solve,
        problem=problem,
    )


def maximal_covering(
    problem: CoverageProblem,
    k: int,
    *,
    solver: str | Solver = Solver.auto,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
    lang: str = "zh",
) -> SiteSuggestion:
    """Choose ``k`` new sites that newly cover the most households (MCLP).

    Parameters
    ----------
    problem
        From :func:`coverage_problem`.
    k
        Number of new sites (>= 1).
    solver, time_limit_s, mip_rel_gap
        How to solve (:func:`~layers.planning.solve.solve_maximal_covering`);
        when HiGHS stops at the time limit, the best answer found by then is
        returned with its gap to HiGHS's bound.
    lang
        Language of the site names.

    Returns
    -------
    SiteSuggestion
        ``solve.greedy_objective`` holds the baseline: the households that
        ``k`` uncovered compounds' own sites (their access points), chosen
        greedily, would newly cover (with given candidates: greedy over them).
    """
    chosen, info = solve_maximal_covering(
        problem.reach, problem.weights, k, solver=solver, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
    )
    own = np.flatnonzero(problem.candidates["source"].to_numpy() == CandidateSource.compound.value)
    if len(own):
        _, baseline = greedy_max_cover(problem.reach, problem.weights, int(k), rows=own)
    else:  # given candidates: the baseline is greedy over them
        _, baseline = greedy_max_cover(problem.reach, problem.weights, int(k))
    info.greedy_objective = float(baseline)
    if not info.note and abs(info.objective - baseline) < 0.5 and info.status == SolveStatus.optimal.value:
        info.note = "greedy_optimal"
    return _result(problem, chosen, info, model="maximal_covering", k=int(k), lang=lang)


def set_covering(
    problem: CoverageProblem,
    *,
    solver: str | Solver = Solver.auto,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
    lang: str = "zh",
) -> SiteSuggestion:
    """The fewest new sites that cover every household some candidate can reach.

    Parameters are those of :func:`maximal_covering`.  Uncovered compounds no
    candidate reaches are listed in ``uncoverable`` and need another kind of
    answer (a road, a gate, a compound-level station).
    """
    chosen, info = solve_set_covering(problem.reach, solver=solver, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    return _result(problem, chosen, info, model="set_covering", k=None, lang=lang)


def suggestion_dataset(dataset: Dataset, result: SiteSuggestion) -> Dataset:
    """The dataset with the base coverage the suggestion was made from (for maps of the sites)."""
    out = dataset.replace(compounds=result.compounds)
    params = dict(out.meta.get("params") or {})
    params.update({k: v for k, v in result.problem.coverage_params.items() if k in (
        "minutes", "speed_kmh", "level_minutes", "method", "statuses")})
    out.meta["params"] = params
    return out
