"""Governance grid codes in the CJ/T 349 style (district 6 + street 3 + community 3 + grid 4), kept across rebuilds."""

from __future__ import annotations

import pytest

from geo.errors import InvalidValueError
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset
from tests.helpers import block_layers, make_dataset


def _district() -> Dataset:
    layers = block_layers()
    # the block district's boundary has no street level: the communities' parent is the district itself
    return make_dataset(layers)


def test_codes_are_sixteen_digits_from_the_setting_street_community_and_sequence() -> None:
    built = build_dataset(_district(), BuildParams(minutes=5, district_code="150603"))
    g = built["grids"].set_index("id")
    # one "street" (测试区, the communities' parent) numbered 001; 东社区 001 and 西社区 002 in name order
    assert g["code"].to_dict() == {
        "B0002-01": "1506030010020001", "B0002-02": "1506030010020002",
        "B0003-01": "1506030010010001", "B0003-02": "1506030010010002",
    }


def test_a_grid_keeps_its_code_when_another_changes() -> None:
    first = build_dataset(_district(), BuildParams(minutes=5, district_code="150603"))
    # D (north-west) leaves: 西社区 is now one grid of A alone, the east is unchanged
    ds = _district()
    again = ds.replace(compounds=ds["compounds"][ds["compounds"]["id"] != "D"])
    again.meta["grid_codes"] = first.meta["grid_codes"]
    second = build_dataset(again, BuildParams(minutes=5, district_code="150603"))
    g = second["grids"].set_index("compound_ids")["code"].to_dict()
    assert g["C"] == "1506030010010001" and g["B"] == "1506030010010002"  # unchanged grids, unchanged codes
    assert g["A"] == "1506030010020002"  # A's grid held A alone before too: same signature, same number


def test_without_a_setting_the_district_boundary_id_or_zeros_head_the_code() -> None:
    built = build_dataset(_district(), BuildParams(minutes=5))
    assert built["grids"]["code"].str.startswith("000000").all()
    layers = block_layers()
    layers["boundary"]["id"] = ["150603", "150603001001", "150603001002"]
    built = build_dataset(make_dataset(layers), BuildParams(minutes=5))
    codes = sorted(built["grids"]["code"])
    # the communities' own 12-digit codes give their street and community numbers: 西 001/001, 东 001/002
    assert codes == ["1506030010010001", "1506030010010002", "1506030010020001", "1506030010020002"]


def test_a_bad_district_code_is_refused_naming_it() -> None:
    with pytest.raises(InvalidValueError, match="district_code"):
        BuildParams(district_code="15A603").validate()
