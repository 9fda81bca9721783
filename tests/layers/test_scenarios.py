"""Scenarios: hand-worked gains and losses on the town, storage that survives a restart, a base never touched."""

from __future__ import annotations

import json

import pytest

from geo.errors import InvalidValueError, NotFoundError
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset, read_dataset
from layers.planning.changes import apply_changes
from layers.planning.scenario_coverage import scenario_dataset, scenario_result
from layers.planning.scenario_store import ScenarioStore, scenario_dir_for
from layers.planning.scenarios import parse_scenario
from tests.helpers import DEMO, LOCAL, ORIGIN
from tests.layers.town import built_town, town


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Town metres -> WGS84 longitude, latitude."""
    from pyproj import Transformer

    t = Transformer.from_crs(LOCAL, 4326, always_xy=True)
    return t.transform(x + ORIGIN[0], y + ORIGIN[1])


def add(x: float, y: float, **kw: object) -> dict[str, object]:
    lon, lat = lonlat(x, y)
    return {"op": "add", "level": "community", "lon": lon, "lat": lat, **kw}


@pytest.fixture(scope="module")
def base() -> Dataset:
    return built_town()


def by_community(result) -> dict[str, tuple[int, int, int, int]]:
    b = result.by_community.set_index("community")
    return {k: (r.gained_compounds, r.gained_households, r.lost_compounds, r.lost_households) for k, r in b.iterrows()}


def test_adding_a_centre_in_the_east_gains_both_uncovered_compounds(base: Dataset):
    r = scenario_result(base, parse_scenario({"name": "东边新建", "changes": [add(1600, 500, name="东社区新中心")]}))
    # (1600,500) reaches E1 at 400 m and E2 at 300 m
    assert r.difference == {"gained_compounds": 2, "gained_households": 1200, "lost_compounds": 0,
                            "lost_households": 0, "net_households": 1200}
    assert r.base["covered_households"] == 600 and r.coverage["covered_households"] == 1800
    assert by_community(r) == {"东社区": (2, 1200, 0, 0), "西社区": (0, 0, 0, 0)}
    east = r.by_community.set_index("community").loc["东社区"]
    assert east["base_household_share"] == pytest.approx(200 / 1400, abs=1e-4) and east["scenario_household_share"] == 1.0
    assert list(r.changed["id"]) == ["E2", "E1"] and set(r.changed["nearest_center"]) == {"SCN01"}
    added = r.centers.set_index("id").loc["SCN01"]
    assert added["name"] == "东社区新中心" and added["status"] == "existing" and added["scenario_change"] == "added"
    assert added["community"] == "东社区" and added["subdistrict"] == "一街道"


def test_changes_apply_in_order_add_then_remove(base: Dataset):
    sc = parse_scenario({"name": "搬到东边", "changes": [add(1600, 500), {"op": "remove", "center_id": "S1"}]})
    r = scenario_result(base, sc)
    # without S1 the west loses W1 (1400 m from the new centre); W2 (800 m) and E3 (583 m) stay covered
    assert by_community(r) == {"东社区": (2, 1200, 0, 0), "西社区": (0, 0, 1, 100)}
    assert r.difference["net_households"] == 1100 and r.removed_centers == ["S1"]


def test_opening_the_planned_station_covers_the_east(base: Dataset):
    r = scenario_result(base, parse_scenario({"name": "启用东站", "changes": [{"op": "status", "center_id": "S2", "status": "existing"}]}))
    # S2 (1850,300), a compound station at 15 min: E2 206 m, E1 680 m
    assert r.difference["gained_households"] == 1200 and r.difference["lost_households"] == 0
    assert r.centers.set_index("id").loc["S2", "scenario_change"] == "status"


def test_moving_the_west_centre_east(base: Dataset):
    lon, lat = lonlat(1500, 500)
    r = scenario_result(base, parse_scenario({"name": "迁移", "changes": [{"op": "move", "center_id": "S1", "lon": lon, "lat": lat}]}))
    # from (1500,500): W1 1300 m (lost), W2 700 m, E3 500 m, E1 300 m, E2 400 m
    assert by_community(r) == {"东社区": (2, 1200, 0, 0), "西社区": (0, 0, 1, 100)}


def test_a_level_change_uses_the_level_minutes_of_the_build():
    b = build_dataset(town(), BuildParams(level_minutes={"compound": 5}))
    r = scenario_result(b, parse_scenario({"name": "降级", "changes": [{"op": "level", "center_id": "S1", "level": "compound"}]}))
    # S1 as a compound station reaches 333 m: keeps W1 (100 m), loses W2 (608 m) and E3 (922 m)
    assert by_community(r) == {"东社区": (0, 0, 1, 200), "西社区": (0, 0, 1, 300)}


def test_the_base_is_never_changed_and_the_scenario_dataset_is_complete(base: Dataset):
    centers_before = base["centers"].copy()
    compounds_before = base["compounds"].copy()
    sc = parse_scenario({"name": "全套", "changes": [add(1600, 500), {"op": "remove", "center_id": "S1"}]})
    out = scenario_dataset(base, sc)
    assert base["centers"].equals(centers_before) and base["compounds"].equals(compounds_before)
    assert out.meta["scenario"] == {"id": sc.id, "name": "全套"} and "scenario" not in base.meta
    assert "SCN01" in set(out["circles"]["center_id"]) and "S1" not in set(out["circles"]["center_id"])
    cov = out["compounds"]
    covered_hh = int(cov.loc[cov["covered"], "households"].sum())
    assert out.meta["summary"]["households"]["covered"] == covered_hh == 1700
    assert out["units"]["covered_households"].sum() == covered_hh
    assert out["grids"]["covered_households"].sum() == covered_hh
    squares = out["cells"][out["cells"]["kind"] == "square"]
    assert squares["covered_households"].sum() == pytest.approx(covered_hh, abs=1)


def test_bad_changes_are_named(base: Dataset):
    cases = [
        ({"op": "paint", "center_id": "S1"}, "changes[0].op"),
        ({"op": "remove"}, "changes[0].center_id"),
        ({"op": "add", "level": "palace", "lon": 109.78, "lat": 39.6}, "changes[0].level"),
        ({"op": "add", "level": "community", "lon": 109.78}, "changes[0].lat"),
        ({"op": "status", "center_id": "S2", "status": "open"}, "changes[0].status"),
    ]
    for change, field in cases:
        with pytest.raises(InvalidValueError) as e:
            parse_scenario({"name": "x", "changes": [change]})
        assert e.value.field == field
    lon, lat = lonlat(300, 300)
    applied = [
        ([{"op": "remove", "center_id": "S7"}], "changes[0].center_id"),
        ([{"op": "remove", "center_id": "S1"}, {"op": "level", "center_id": "S1", "level": "district"}], "changes[1].center_id"),
        ([{"op": "add", "center_id": "S2", "level": "community", "lon": lon, "lat": lat}], "changes[0].center_id"),
        ([{"op": "move", "center_id": "S1", "lon": 116.39, "lat": 39.91}], "changes[0].lon"),  # Beijing: far away
    ]
    for changes, field in applied:
        with pytest.raises(InvalidValueError) as e:
            apply_changes(base["centers"], parse_scenario({"name": "x", "changes": changes}).changes, dataset=base)
        assert e.value.field == field, changes
    with pytest.raises(InvalidValueError) as e:  # swapped longitude and latitude
        parse_scenario({"name": "x", "changes": [{"op": "move", "center_id": "S1", "lon": lat, "lat": lon}]})
    assert e.value.field == "changes[0].lat"
    with pytest.raises(InvalidValueError, match="`name`"):
        parse_scenario({"name": " ", "changes": []})


def test_store_keeps_scenarios_across_a_restart(base: Dataset, tmp_path):
    folder = scenario_dir_for(tmp_path / "town.gpkg")
    assert folder == tmp_path / "town.scenarios"
    store = ScenarioStore(folder)
    made = store.create({"name": "东边新建", "description": "试算", "changes": [add(1600, 500)]}, base=base)
    assert (folder / f"{made.id}.json").is_file()
    on_disk = json.loads((folder / f"{made.id}.json").read_text("utf-8"))
    assert on_disk["name"] == "东边新建" and on_disk["changes"][0]["op"] == "add"

    again = ScenarioStore(folder)  # a new process
    got = again.get(made.id)
    assert got.as_dict() == made.as_dict()
    assert [s.id for s in again.list()] == [made.id]
    replaced = again.replace(made.id, {"name": "改名", "changes": []}, base=base)
    assert replaced.created_at == made.created_at and again.get(made.id).name == "改名"
    with pytest.raises(InvalidValueError):
        again.create({"name": "坏的", "changes": [{"op": "remove", "center_id": "nope"}]}, base=base)
    assert len(again.list()) == 1  # nothing stored for the bad one
    again.delete(made.id)
    with pytest.raises(NotFoundError):
        again.get(made.id)
    with pytest.raises(NotFoundError):
        again.get("../../etc/passwd")


def test_network_builds_recompute_both_methods(base: Dataset):
    b = base.replace(compounds=base["compounds"].drop(columns=["covered"]))
    b.meta["params"] = {**b.meta["params"], "method": "network"}
    r = scenario_result(b, parse_scenario({"name": "网络", "changes": [add(1600, 650)]}))
    out = scenario_dataset(b, parse_scenario({"name": "网络", "changes": [add(1600, 650)]}))
    assert set(out["compounds"]["method"]) == {"network"} and "covered_circle" in out["compounds"].columns
    assert r.coverage["covered_households"] >= r.base["covered_households"]
    assert r.difference["gained_households"] - r.difference["lost_households"] == (
        r.coverage["covered_households"] - r.base["covered_households"]
    )


def test_recomputing_a_scenario_on_the_demo_reuses_its_walking_network(monkeypatch: pytest.MonkeyPatch):
    import layers.walking as walking

    demo = read_dataset(DEMO)
    sc = parse_scenario(
        {"name": "演示", "changes": [
            {"op": "add", "level": "community", "lon": 109.7975, "lat": 39.5945},
            {"op": "status", "center_id": "DQ07", "status": "existing"},
            {"op": "remove", "center_id": "DQ11"},
        ]}
    )
    built = []
    real = walking.walking_network
    monkeypatch.setattr(walking, "walking_network", lambda *a, **k: built.append(1) or real(*a, **k))
    first = scenario_result(demo, sc)
    r = scenario_result(demo, sc)  # timings belong in bench/bench_planning.py
    assert len(built) <= 1  # the network of the same roads is built once, then reused
    assert r.coverage == first.coverage and r.difference == first.difference
    assert r.difference["gained_households"] > 0
