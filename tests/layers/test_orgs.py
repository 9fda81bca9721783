"""Party organisations counted in units and grids, and each unit's "1+N+X" alliance (issue 15), by hand.

The 3 x 3 block district of :mod:`tests.helpers` (units U001-U012: U010 and U011 are the south-west and
south-middle blocks holding A and B, U001 the north-west block with D, U003 the north-east with C, U007
and U009 the strips between the river (y = 450) and the road y = 300, west and east).
"""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from geo.errors import InvalidValueError
from layers.build import build_dataset
from layers.dataset import Dataset
from tests.helpers import block_layers, block_layers_with_orgs, local, make_dataset


@pytest.fixture
def with_orgs() -> Dataset:
    return build_dataset(make_dataset(block_layers_with_orgs()))


def test_org_types_are_read_in_chinese_and_english(with_orgs: Dataset) -> None:
    orgs = with_orgs["party_orgs"]
    assert orgs["type"].tolist() == [
        "community", "community", "compound", "compound", "private_enterprise", "government", "joint", "grid", "social_org",
    ]
    assert orgs["id"].tolist() == [f"P{i:04d}" for i in range(1, 10)]


def test_an_unknown_org_type_is_an_error_naming_the_column() -> None:
    layers = block_layers()
    layers["party_orgs"] = local(gpd.GeoDataFrame({"name": ["某支部"], "type": ["俱乐部"]}, geometry=[Point(10, 10)]))
    with pytest.raises(InvalidValueError, match="party_orgs.*type"):
        make_dataset(layers)


def test_units_count_their_organisations_and_members(with_orgs: Dataset) -> None:
    u = with_orgs["units"].set_index("id")
    assert u["orgs"].to_dict() == {
        "U001": 1, "U002": 0, "U003": 1, "U004": 0, "U005": 0, "U006": 0,
        "U007": 1, "U008": 0, "U009": 1, "U010": 2, "U011": 1, "U012": 0,
    }
    assert u.loc["U010", "org_members"] == 25 + 8
    assert u.loc["U007", "org_members"] == 120
    assert u.loc["U010", "org_names"] == "甲小区党支部、某科技公司党支部"
    assert (u.loc["U010", ["orgs_compound", "orgs_private_enterprise", "orgs_community"]].tolist()) == [1, 1, 0]
    # The two organisations outside every unit are counted nowhere.
    assert u["orgs"].sum() == 7 and u["org_members"].sum() == 120 + 80 + 25 + 6 + 8 + 12 + 5


def test_each_unit_has_its_1_n_x_alliance(with_orgs: Dataset) -> None:
    u = with_orgs["units"].set_index("id")
    # U010 (A, 西社区): 1 = 西社区党委, N = the two inside, X = the tax office paired with 西社区.
    assert u.loc["U010", "alliance_roster"] == "1: 西社区党委; N: 甲小区党支部、某科技公司党支部; X: 市税务局机关党支部(结对)"
    assert u.loc["U010", ["alliance_n", "alliance_x", "alliance_size"]].tolist() == [2, 1, 4]
    # U011 (B, 东社区): led by 东社区党委, B's branch inside, the social organisation tied by the unit's name.
    assert u.loc["U011", "alliance_roster"] == "1: 东社区党委; N: 乙小区党支部; X: 阳光社工服务中心党支部"
    # U001 (D, 西社区) also gets the body paired with its community; U003 (C, 东社区) does not.
    assert u.loc["U001", "alliance_roster"] == "1: 西社区党委; N: 丁小区网格党支部; X: 市税务局机关党支部(结对)"
    assert u.loc["U003", ["alliance_lead", "alliance_n", "alliance_x", "alliance_size"]].tolist() == ["东社区党委", 1, 0, 2]
    # A unit without compounds has no community: the community organisation inside it leads, alone.
    assert u.loc["U007", ["alliance_lead", "alliance_n", "alliance_size"]].tolist() == ["西社区党委", 0, 1]
    assert u.loc["U002", ["alliance_lead", "alliance_size", "alliance_roster"]].tolist() == ["", 0, ""]


def test_a_listed_compound_organisation_marks_its_compound(with_orgs: Dataset) -> None:
    c = with_orgs["compounds"].set_index("id")
    # B said it had none; 乙小区党支部 lies inside it.
    assert c["has_party_org"].to_dict() == {"A": True, "B": True, "C": True, "D": True}
    assert "no_party_org" not in c.loc["B", "flags"]
    assert with_orgs.meta["summary"]["no_party_org"] == 0
    assert c["org_listed"].to_dict() == {"A": False, "B": True, "C": False, "D": False}


def test_a_deleted_organisation_gives_the_compound_back_its_own_value(with_orgs: Dataset) -> None:
    orgs = with_orgs["party_orgs"]
    again = build_dataset(with_orgs.replace(party_orgs=orgs[orgs["name"] != "乙小区党支部"]))
    c = again["compounds"].set_index("id")
    assert c["has_party_org"].to_dict() == {"A": True, "B": False, "C": True, "D": True}
    assert "no_party_org" in c.loc["B", "flags"] and not c["org_listed"].any()
    # A's branch goes too: A said it had one itself, so it keeps it.
    again = build_dataset(with_orgs.replace(party_orgs=orgs.iloc[:0]))
    assert again["compounds"].set_index("id").loc["A", "has_party_org"]


def test_grids_count_organisations_and_know_their_grid_branch(with_orgs: Dataset) -> None:
    g = with_orgs["grids"].set_index("id")
    # West: A's grid holds 西社区党委 (y = 400, south of the A-D bisector y = 450), A's branch and the company;
    # D's grid holds the grid branch.  East: 东社区党委 (700, 350) is 320 m from B, 403 m from C.
    assert g["orgs"].to_dict() == {"B0002-01": 1, "B0002-02": 3, "B0003-01": 1, "B0003-02": 2}
    assert g["org_members"].to_dict() == {"B0002-01": 5, "B0002-02": 153, "B0003-01": 12, "B0003-02": 86}
    assert g["grid_branch"].to_dict() == {"B0002-01": True, "B0002-02": False, "B0003-01": False, "B0003-02": False}


def test_without_organisations_units_and_grids_say_nothing_about_them(blocks: Dataset) -> None:
    built = build_dataset(blocks)
    assert "orgs" not in built["units"].columns and "alliance_roster" not in built["units"].columns
    assert "grid_branch" not in built["grids"].columns
