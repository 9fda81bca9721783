"""Road levels on import (Chinese and OSM spellings) and the build summary's network counts and warning."""

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.errors import InvalidValueError
from layers.build import network_lines
from layers.importing.columns import HEADER_ALIASES
from layers.importing.raw import header_key
from layers.schema import LAYER_SPECS, normalise_columns


def test_bridge_tunnel_layer_default_to_the_ground_and_read_chinese_values():
    frame = gpd.GeoDataFrame(
        {"bridge": ["是", "否", "高架桥", None], "tunnel": ["", "隧道", "no", "yes"], "layer": ["1", None, "-1", ""]},
        geometry=[shapely.LineString([(0, i), (1, i)]) for i in range(4)],
    )
    out = normalise_columns(frame, LAYER_SPECS["roads"])
    assert out["bridge"].tolist() == [True, False, True, False]
    assert out["tunnel"].tolist() == [False, True, False, True]
    assert out["layer"].tolist() == [1, 0, -1, 0]
    bare = normalise_columns(frame[["geometry"]], LAYER_SPECS["roads"])
    assert not bare["bridge"].any() and not bare["tunnel"].any() and (bare["layer"] == 0).all()
    with pytest.raises(InvalidValueError, match="layer"):
        normalise_columns(frame.assign(layer=["上层", "0", "0", "0"]), LAYER_SPECS["roads"])


def test_chinese_headers_name_the_level_columns():
    keys = {column: {header_key(h) for h in spellings} for column, spellings in HEADER_ALIASES["roads"].items()}
    assert header_key("桥梁") in keys["bridge"] and header_key("是否隧道") in keys["tunnel"] and header_key("层级") in keys["layer"]


def counts(share: float, bridge: int = 0) -> dict:
    return {"junctions_added": 12, "apart": {"bridge": bridge, "tunnel": 0, "layer": 1}, "largest_piece_share": share}


def test_network_counts_in_the_summary_and_the_warning_below_90_percent():
    (line,) = network_lines(counts(0.95))
    assert line == "步行路网:道路相交或端点落在另一条路上处新增路口 12 个;保持分离的交叉:桥梁 0 处、隧道 0 处、不同层 1 处;最大连通部分占道路总长 95.0%"
    head, warn = network_lines(counts(0.5, bridge=3))
    assert warn.startswith("警告:只有 50.0% 的道路长度连成一片(低于 90%)")
    assert "4 处交叉因道路标为桥梁、隧道或不同层而保持分离" in warn
    _, gaps = network_lines({**counts(0.5), "apart": {"bridge": 0, "tunnel": 0, "layer": 0}}, "en")
    assert "stop short of the road they meet" in gaps
    assert pd.notna(head)


def test_the_import_report_counts_the_network_and_warns_when_it_is_in_pieces():
    from layers.importing.checks import count_road_network
    from layers.importing.report import ImportReport
    from tests.helpers import LOCAL, local

    cross = [shapely.LineString([(0, 0), (200, 0)]), shapely.LineString([(100, -100), (100, 100)])]
    report = ImportReport()
    count_road_network({"roads": local(gpd.GeoDataFrame(geometry=cross))}, LOCAL, report)
    assert report.network["junctions_added"] == 1 and report.network["largest_piece_share"] == 1.0
    assert report.warnings == []
    # a second cross 1 km away: two pieces of 400 m each, half the length in the largest
    far = [shapely.LineString([(1000, 0), (1200, 0)]), shapely.LineString([(1100, -100), (1100, 100)])]
    report = ImportReport()
    count_road_network({"roads": local(gpd.GeoDataFrame(geometry=cross + far))}, LOCAL, report)
    assert report.network["largest_piece_share"] == pytest.approx(0.5, abs=1e-3)
    assert [w["code"] for w in report.warnings] == ["network_fragmented_gaps"]
    assert report.warnings[0]["message"].startswith("只有 50% 的道路长度连成一片")
