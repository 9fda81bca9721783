"""Site suggestions: exact against brute force on small instances, hand-worked on the town, sound on the demo."""

from __future__ import annotations

import csv
import io
import itertools
import json

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from shapely.geometry import Point

from geo.errors import GeometryError, InputError, InvalidValueError
from layers.coverage import compound_coverage
from layers.dataset import Dataset, read_dataset
from layers.planning.files import read_candidates, write_suggestion
from layers.planning.greedy import greedy_max_cover
from layers.planning.problem import coverage_problem
from layers.planning.reduction import reduce_problem
from layers.planning.solve import solve_maximal_covering, solve_set_covering
from layers.planning.suggestion import maximal_covering, set_covering
from tests.helpers import DEMO, local
from tests.layers.town import town as make_town


@pytest.fixture(scope="module")
def town() -> Dataset:
    return make_town()


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return read_dataset(DEMO)


def _covered(reach: sp.csr_matrix, w: np.ndarray, rows: list[int] | tuple[int, ...]) -> float:
    if not rows:
        return 0.0
    hit = np.asarray(reach[list(rows)].sum(axis=0)).ravel() > 0
    return float(w[hit].sum())


def _instances(count: int) -> list[tuple[sp.csr_matrix, np.ndarray]]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(count):
        n, m = int(rng.integers(4, 10)), int(rng.integers(5, 16))
        dense = rng.random((n, m)) < rng.uniform(0.15, 0.45)
        out.append((sp.csr_matrix(dense), rng.integers(1, 60, size=m).astype(float)))
    return out


# ---------------------------------------------------------------------------
# the models on matrices


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize("case", range(12))
def test_maximal_covering_equals_the_brute_force_optimum(case: int, solver: str):
    reach, w = _instances(12)[case]
    for k in (1, 2, 3):
        best = max(_covered(reach, w, c) for c in itertools.combinations(range(reach.shape[0]), min(k, reach.shape[0])))
        chosen, info = solve_maximal_covering(reach, w, k, solver=solver)
        assert len(chosen) <= k
        assert info.objective == pytest.approx(best) == pytest.approx(_covered(reach, w, chosen))
        assert info.status == "optimal" and info.gap == pytest.approx(0.0) and info.bound >= best - 1e-6
        greedy, gobj = greedy_max_cover(reach, w, k)
        assert gobj <= best + 1e-9 and gobj == pytest.approx(_covered(reach, w, greedy))


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize("case", range(12))
def test_set_covering_equals_the_brute_force_minimum(case: int, solver: str):
    reach, _ = _instances(12)[case]
    coverable = np.asarray(reach.sum(axis=0)).ravel() > 0
    n = reach.shape[0]
    best = next(
        size for size in range(n + 1)
        for c in itertools.combinations(range(n), size)
        if ((np.asarray(reach[list(c)].sum(axis=0)).ravel() > 0) >= coverable).all()
    )
    chosen, info = solve_set_covering(reach, solver=solver)
    assert len(chosen) == best == info.objective and info.status == "optimal" and info.solver == solver
    assert ((np.asarray(reach[chosen].sum(axis=0)).ravel() > 0) >= coverable).all()


def test_dominated_candidates_are_dropped_and_the_optimum_kept():
    # S1 = {0, 1} lies inside S0 = {0, 1, 2}: dropped; S2 = {3} stays; targets 0, 1, 2 then merge (only S0 reaches them)
    reach = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=bool))
    red = reduce_problem(reach, np.array([1.0, 2.0, 3.0, 4.0]))
    assert red.cand.tolist() == [0, 2] and sorted(red.weights.tolist()) == [4.0, 6.0]
    assert reduce_problem(reach, np.ones(4), dominance=False).cand.tolist() == [0, 1, 2]
    chosen, info = solve_maximal_covering(reach, np.array([1.0, 2.0, 3.0, 4.0]), 2)
    assert sorted(chosen) == [0, 2] and info.objective == 10


def test_where_greedy_falls_short_highs_finds_the_optimum_and_greedy_reports_its_gap():
    # S0 = {0,1,2,3}, S1 = {0,1,4}, S2 = {2,3,5}: greedy takes S0 then one more (5); the optimum is S1 + S2 (6)
    reach = sp.csr_matrix(np.array([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 1]], dtype=bool))
    w = np.ones(6)
    chosen, info = solve_maximal_covering(reach, w, 2)
    assert sorted(chosen) == [1, 2] and info.objective == 6 and info.greedy_objective == 5
    chosen, info = solve_maximal_covering(reach, w, 2, solver="greedy")
    assert chosen == [0, 1] and info.objective == 5 and info.status == "greedy"
    assert info.bound == pytest.approx(6.0) and info.gap == pytest.approx(1 / 6)  # LP bound
    chosen, info = solve_set_covering(reach, solver="greedy")
    assert len(chosen) == 3 and info.bound == 2 and info.gap == pytest.approx(1 / 3)


def test_a_time_limit_still_answers_at_least_the_greedy_with_a_bound():
    rng = np.random.default_rng(3)
    reach = sp.csr_matrix(rng.random((300, 900)) < 0.02)
    w = rng.integers(1, 500, size=900).astype(float)
    _, greedy = greedy_max_cover(reach, w, 12)
    chosen, info = solve_maximal_covering(reach, w, 12, time_limit_s=1e-3)
    assert info.objective >= greedy and info.bound >= info.objective
    assert info.objective == pytest.approx(_covered(reach, w, chosen))
    assert info.status in ("optimal", "time_limit") and 0 <= info.gap < 1


def test_bad_k_and_solver_are_named():
    reach = sp.csr_matrix(np.eye(3, dtype=bool))
    with pytest.raises(InvalidValueError) as e:
        solve_maximal_covering(reach, np.ones(3), 0)
    assert e.value.field == "new_centers"
    with pytest.raises(InvalidValueError, match="`solver` must be one of"):
        solve_maximal_covering(reach, np.ones(3), 1, solver="cplex")


# ---------------------------------------------------------------------------
# on the town


def test_town_one_community_centre_covers_both_uncovered_compounds(town: Dataset):
    p = coverage_problem(town)
    assert sorted(p.compounds["id"].to_numpy()[p.targets]) == ["E1", "E2"]
    assert p.limit_m == pytest.approx(1000.0) and p.method == "circle"
    r = maximal_covering(p, 1)
    assert r.before["covered_households"] == 600 and r.after["covered_households"] == 1800
    assert r.new_households == 1200 and len(r.sites) == 1
    site = r.sites.iloc[0]
    assert (site["rank"], site["new_households"], site["new_compounds"], site["status"]) == (1, 1200, 2, "proposed")
    assert set(site["new_compound_ids"].split(",")) == {"E1", "E2"}
    assert r.compounds.set_index("id")["new_site"].to_dict() == {"W1": "", "W2": "", "E1": "N01", "E2": "N01", "E3": ""}
    assert len(set_covering(p).sites) == 1


def test_town_five_minute_compound_stations_need_two_sites(town: Dataset):
    # a compound station reaches 333.3 m: E1 and E2 lie 700 m apart
    p = coverage_problem(town, level="compound", level_minutes={"compound": 5})
    assert p.limit_m == pytest.approx(1000 / 3)
    r = maximal_covering(p, 1)
    assert r.new_households == 700 and r.sites.iloc[0]["new_compound_ids"] == "E2"
    s = set_covering(p)
    assert len(s.sites) == 2 and s.new_households == 1200 and s.solve.objective == 2


def test_given_candidates_keep_their_names_and_unreached_compounds_are_listed(town: Dataset):
    given = local(gpd.GeoDataFrame({"id": ["P1", "P2"], "name": ["旧厂房", "远处"]},
                                   geometry=[Point(1200, 800), Point(5000, 5000)]))
    p = coverage_problem(town, candidates=given, level="compound", level_minutes={"compound": 5})
    # P1 reaches E1 (300 m) only; P2 nothing; E2 no candidate reaches
    r = maximal_covering(p, 2)
    assert list(r.sites["name"]) == ["旧厂房"] and r.sites.iloc[0]["source"] == "given"
    assert r.sites.iloc[0]["source_ref"] == "P1" and r.new_households == 500
    assert list(r.uncoverable["id"]) == ["E2"] and r.uncoverable["households"].sum() == 700
    lines = "\n".join(r.summary_lines("zh"))
    assert "任何候选点都无法覆盖的小区 1 个 (700 户)" in lines and "只需 1 处" in lines


def test_bad_candidates_are_named(town: Dataset):
    polys = local(gpd.GeoDataFrame({"id": ["X"]}, geometry=[Point(0, 0).buffer(10)]))
    with pytest.raises(GeometryError) as e:
        coverage_problem(town, candidates=polys)
    assert e.value.field == "candidates"
    with pytest.raises(InvalidValueError, match="`level` must be one of"):
        coverage_problem(town, level="city")


def test_after_coverage_equals_recomputing_with_the_sites_as_centres(demo: Dataset):
    p = coverage_problem(demo, method="circle", level="compound", level_minutes={"compound": 5})
    r = maximal_covering(p, 4)
    sites = r.sites.assign(status="existing")[["id", "name", "level", "status", "geometry"]]
    centers = gpd.GeoDataFrame(
        __import__("pandas").concat([demo["centers"], sites], ignore_index=True), geometry="geometry", crs=4326
    )
    again = compound_coverage(demo["compounds"], centers, metric_crs=demo.metric_crs, level_minutes={"compound": 5})
    assert (again["covered"].to_numpy() == r.compounds["covered_after"].to_numpy()).all()
    hh = demo["compounds"]["households"].to_numpy()
    assert r.after["covered_households"] == hh[again["covered"].to_numpy()].sum()
    assert r.sites["new_households"].sum() == r.new_households


# ---------------------------------------------------------------------------
# on the demo district


def test_demo_three_sites_beat_the_greedy_choice_of_uncovered_compounds_own_sites(demo: Dataset):
    r = maximal_covering(coverage_problem(demo, method="network"), 3)
    s = r.solve
    assert s.status == "optimal" and s.solver == "cbc" and s.gap == 0
    assert r.new_households == s.objective > s.greedy_objective > 0
    assert len(r.sites) == 3 and r.sites["new_households"].is_monotonic_decreasing
    assert "intersection" in set(r.sites["source"])  # road intersections were candidates too


def test_demo_straight_line_ties_with_greedy_and_says_why(demo: Dataset):
    r = maximal_covering(coverage_problem(demo, method="circle"), 3)
    s = r.solve
    assert s.objective == s.greedy_objective == r.before["households"] - r.before["covered_households"]
    assert s.note == "all_reachable"
    lines = r.summary_lines("zh")
    assert any("与贪心结果相同: 所选站点已覆盖全部可达户数" in line for line in lines)
    assert any("the sites already reach every reachable household" in line for line in r.summary_lines("en"))


# ---------------------------------------------------------------------------
# files


def test_write_sites_as_geojson_gpkg_and_csv(town: Dataset, tmp_path):
    r = maximal_covering(coverage_problem(town), 1)
    gj = write_suggestion(r, tmp_path / "sites.geojson")
    data = json.loads(gj.read_text("utf-8"))
    assert data["features"][0]["properties"]["new_households"] == 1200
    gp = write_suggestion(r, tmp_path / "sites.gpkg")
    import pyogrio

    assert {"sites", "newly_covered"} <= set(pyogrio.list_layers(gp)[:, 0])
    assert len(pyogrio.read_dataframe(gp, layer="newly_covered")) == 2
    cs = write_suggestion(r, tmp_path / "sites.csv", lang="en")
    assert cs.read_bytes().startswith(b"\xef\xbb\xbfRank,Suggested site")
    with pytest.raises(InvalidValueError):
        write_suggestion(r, tmp_path / "sites.docx")


def test_a_site_named_like_a_formula_is_defused_in_the_csv(town: Dataset, tmp_path):
    """Issue 19, finding 4: candidate names come from the planner's files and reach Excel through the sites CSV."""
    r = maximal_covering(coverage_problem(town), 1)
    r.sites["name"] = '=HYPERLINK("http://x.invalid","点我")'
    rows = list(csv.reader(io.StringIO(write_suggestion(r, tmp_path / "sites.csv").read_text("utf-8-sig"))))
    assert rows[1][1] == "'" + '=HYPERLINK("http://x.invalid","点我")'
    assert rows[1][0] == "1" and float(rows[1][-2]) == r.sites["lon"].iloc[0]  # numbers stay numbers


def test_read_candidates_from_csv_with_chinese_headers(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("编号,名称,经度,纬度\nP1,甲,109.78,39.60\n", encoding="utf-8-sig")
    frame = read_candidates(f)
    assert len(frame) == 1 and frame.geometry.iloc[0].x == pytest.approx(109.78)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="needs lon and lat"):
        read_candidates(bad)
