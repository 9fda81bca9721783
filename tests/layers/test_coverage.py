import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from geo.errors import InvalidValueError
from layers.circles import center_minutes, service_circles
from layers.coverage import compound_coverage
from tests.helpers import local


def _cov(ds, **kw):
    return compound_coverage(ds["compounds"], ds["centers"], metric_crs=ds.metric_crs, **kw).set_index("id")


def test_fifteen_minutes_covers_all_with_hand_worked_distances(blocks):
    c = _cov(blocks)
    assert c["covered"].all()
    assert c["nearest_center"].to_dict() == {"A": "S1", "B": "S1", "C": "S2", "D": "S1"}
    # A: 150 m; B: hypot(300, 150) = 335.4 m; C: hypot(150, 150) = 212.1 m; D: 450 m.
    assert c["walk_m"].tolist() == [150.0, 335.4, 212.1, 450.0]
    assert c["walk_min"].tolist() == [2.25, 5.03, 3.18, 6.75]  # at 4 km/h = 66.67 m/min
    assert (c["method"] == "circle").all()
    assert c.loc["B", "flags"] == "no_party_org"


def test_five_minutes_leaves_b_and_d_uncovered(blocks):
    c = _cov(blocks, minutes=5)  # 333.3 m
    assert c["covered"].to_dict() == {"A": True, "B": False, "C": True, "D": False}
    assert c.loc["B", "flags"] == "uncovered,no_party_org"
    assert c.loc["D", "nearest_center_name"] == "一号中心"
    assert c.loc["D", "walk_m"] == 450.0


def test_planned_centres_count_only_when_asked(blocks):
    assert not _cov(blocks, minutes=5).loc["B", "covered"]
    c = _cov(blocks, minutes=5, statuses=("existing", "planned"))
    assert c.loc["B", "covered"] and c.loc["B", "nearest_center"] == "S3" and c.loc["B", "walk_m"] == 300.0


def test_per_level_minutes_pick_the_covering_centre(blocks):
    # The compound-level station S2 serves 2 minutes (133 m): C (212 m from S2) is then covered by S1 at 750 m.
    c = _cov(blocks, level_minutes={"compound": 2})
    assert c.loc["C", "covered"]
    assert c.loc["C", "nearest_center"] == "S1" and c.loc["C", "walk_m"] == 750.0
    assert c.loc["C", "straight_m"] == 212.1


def test_gates_are_access_points(blocks):
    gates = local(gpd.GeoDataFrame({"compound": ["D", "D"]}, geometry=[Point(150, 700), Point(150, 650)]))
    c = compound_coverage(
        blocks["compounds"], blocks["centers"], metric_crs=blocks.metric_crs, minutes=5, gates=gates
    ).set_index("id")
    assert c.loc["D", "covered"] and c.loc["D", "walk_m"] == 350.0 - 0.0 or c.loc["D", "walk_m"] == 350.0
    assert c.loc["D", "walk_m"] == pytest.approx(350.0, abs=0.1)  # nearer gate, 350 m from S1 (> 333 m)
    assert not c.loc["D", "covered"]


def test_no_centres_means_everything_uncovered_with_reason(blocks):
    c = compound_coverage(blocks["compounds"], blocks["centers"].iloc[0:0], metric_crs=blocks.metric_crs)
    assert not c["covered"].any()
    assert (c["unreachable"] == "no_centers").all()
    assert c["walk_m"].isna().all()
    assert c["flags"].str.contains("no_centers").all()


def test_input_is_not_mutated(blocks):
    before = blocks["compounds"].copy()
    compound_coverage(blocks["compounds"], blocks["centers"], metric_crs=blocks.metric_crs)
    assert list(blocks["compounds"].columns) == list(before.columns)


def test_bad_parameters_are_named(blocks):
    with pytest.raises(InvalidValueError, match="`minutes`"):
        _cov(blocks, minutes=0)
    with pytest.raises(InvalidValueError, match="`method` must be one of circle, network"):
        _cov(blocks, method="teleport")
    with pytest.raises(InvalidValueError, match="unknown levels"):
        center_minutes(["community"], level_minutes={"village": 5})


def test_circles_radius_and_bands(blocks):
    circles = service_circles(blocks["centers"], metric_crs=blocks.metric_crs, bands=(5, 10))
    assert len(circles) == 9  # 3 centres x (5, 10, 15 minutes)
    assert circles["minutes"].tolist()[:3] == [15.0] * 3  # largest first, drawn underneath
    m = circles.to_crs(blocks.metric_crs)
    r15 = m[m["minutes"] == 15].area.iloc[0]
    assert r15 == pytest.approx(np.pi * 1000**2, rel=0.005)  # 64-gon of radius 1000 m
    assert circles["radius_m"].max() == 1000.0


def _gates():
    # Gates open onto streets: A on 小巷, B and D 20 m off a street, C 20 m below the north street.
    return local(
        gpd.GeoDataFrame(
            {"compound": ["A", "B", "C", "D"]},
            geometry=[Point(150, 60), Point(450, 20), Point(750, 880), Point(150, 620)],
        )
    )


def test_network_walks_along_roads_with_hand_worked_distances(blocks):
    c = compound_coverage(
        blocks["compounds"], blocks["centers"], metric_crs=blocks.metric_crs, method="network",
        roads=blocks["roads"], gates=_gates(), minutes=5,
    ).set_index("id")
    # A: 240 m up 小巷; B: 20 m leg + 300 along the south street and 小巷 (or x=300) + 300 = 620 m;
    # C: 20 m leg + 150 m east to S2 = 170 m; D: 20 + 150 + 300 + 150 = 620 m.
    assert c["walk_m"].to_dict() == {"A": 240.0, "B": 620.0, "C": 170.0, "D": 620.0}
    assert c["nearest_center"].to_dict() == {"A": "S1", "B": "S1", "C": "S2", "D": "S1"}
    assert c["covered"].to_dict() == {"A": True, "B": False, "C": True, "D": False}  # 5 min = 333 m
    assert (c["method"] == "network").all()
    # The straight line from D's gate to S1 is only 320 m: inside the 5-minute circle, not within a 5-minute walk.
    assert c.loc["D", "straight_m"] == 320.0


def test_network_reports_compounds_far_from_any_road(blocks):
    far = local(gpd.GeoDataFrame({"compound": ["A"]}, geometry=[Point(150, 150)]))
    c = compound_coverage(
        blocks["compounds"], blocks["centers"], metric_crs=blocks.metric_crs, method="network",
        roads=blocks["roads"].iloc[:8], gates=far, max_snap_m=100,
    ).set_index("id")
    assert not c.loc["A", "covered"]
    assert c.loc["A", "unreachable"] == "far_from_road"
    assert "far_from_road" in c.loc["A", "flags"]
