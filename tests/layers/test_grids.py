import pytest

from geo.errors import InvalidValueError
from layers.grids import governance_grids, staffing


def _grids(ds, **kw):
    b = ds["boundary"]
    return governance_grids(ds["compounds"], b[b["level"] == "community"], metric_crs=ds.metric_crs, **kw)


def test_every_compound_in_exactly_one_grid_and_grids_tile_communities(blocks):
    grids, of = _grids(blocks)
    assert (of != "").all()
    members = ",".join(grids["compound_ids"]).split(",")
    assert sorted(m for m in members if m) == ["A", "B", "C", "D"]
    m = grids.to_crs(blocks.metric_crs)
    for parent, area in (("西社区", 405000), ("东社区", 405000)):
        part = m[m["parent"] == parent]
        assert part.area.sum() == pytest.approx(area, abs=1e-3)
        assert part.union_all().area == pytest.approx(area, abs=1e-3)


def test_sizes_and_flags_worked_by_hand(blocks):
    grids, of = _grids(blocks)
    by = grids.set_index("compound_ids")
    # West: A 400 + D 300 = 700 > 500, split into two grids within 300-500.
    assert by.loc["A", "households"] == 400 and by.loc["A", "flags"] == ""
    assert by.loc["D", "households"] == 300 and by.loc["D", "flags"] == ""
    # East: C alone is 1000 > 500 (oversize); B's 200 cannot join C without passing 500 (undersize).
    assert by.loc["C", "flags"] == "oversize"
    assert by.loc["B", "flags"] == "undersize"
    assert by.loc["C", "staffing"] == "1+1+1+10"
    assert of.tolist() == [by.loc[k, "id"] for k in ["A", "B", "C", "D"]]


def test_small_neighbours_merge_when_they_fit(blocks):
    grids, _ = _grids(blocks, min_households=300, max_households=800)
    west = grids[grids["parent"] == "西社区"]
    assert len(west) == 1 and west["households"].iloc[0] == 700


def test_bad_sizes_are_refused(blocks):
    with pytest.raises(InvalidValueError, match="min_households"):
        _grids(blocks, min_households=600, max_households=500)


def test_staffing_rule():
    assert staffing([0, 100, 101, 450]).tolist() == ["1+1+1+1", "1+1+1+1", "1+1+1+2", "1+1+1+5"]
