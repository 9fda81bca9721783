"""Party organisations, needs and services imported from the files planners hold (issue 15), counts by hand.

Forty organisations in a GBK CSV with Chinese headers (组织名称, 组织类型, 党员数, 所属小区, 联盟, 经度, 纬度) on the
3 x 3 block district: ten in each of the south-west block (U010, holding A), the south-middle block (U011, B)
and the north-east block (U003, C), ten outside the district tied to 西社区 by 联盟.  Members: 1, 2, ... 40.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from layers.build import BuildParams, build_dataset
from layers.importing import import_sources
from tests.helpers import block_layers, local

#: Block centres (local metres) of the four groups of ten; the last lies east of the district.
GROUPS = [("U010", 150, 150), ("U011", 450, 150), ("U003", 750, 750), ("", 1300, 150)]
TYPES = ["社区党组织", "非公企业", "社会组织", "机关", "事业单位", "国有企业", "联合党支部", "网格党支部", "小区党组织", "非公企业"]


def _orgs_csv(path: Path) -> Path:
    rows, points = [], []
    for g, (_, x, y) in enumerate(GROUPS):
        for k in range(10):
            i = 10 * g + k
            # spread on a ring of 120 m around the block centre: inside the 300 m block, off the compound's square
            a = 2 * np.pi * k / 10
            points.append(Point(x + 120 * np.cos(a), y + 120 * np.sin(a)))
            rows.append({"组织名称": f"第{i + 1}党支部", "组织类型": TYPES[k], "党员数": i + 1,
                         "所属小区": "", "联盟": "西社区" if g == 3 else ""})
    lonlat = local(gpd.GeoDataFrame(geometry=points))
    frame = pd.DataFrame(rows)
    frame["经度"] = lonlat.geometry.x.round(7)
    frame["纬度"] = lonlat.geometry.y.round(7)
    frame.to_csv(path, index=False, encoding="gbk")
    return path


def test_forty_organisations_from_a_chinese_csv_are_counted_by_unit(tmp_path: Path) -> None:
    layers = block_layers()
    layers["compounds"]["服务需求"] = ["政策宣讲、文体活动", "亲情代办", "帮扶救助", ""]
    layers["centers"]["服务项目"] = ["政策宣讲；亲情代办", "文体活动", "帮扶救助"]
    sources = []
    for name in ("roads", "compounds", "centers", "boundary", "rivers"):
        path = tmp_path / f"{name}.geojson"
        layers[name].to_file(path, driver="GeoJSON")
        sources.append(path)
    sources.append(_orgs_csv(tmp_path / "党组织名册.csv"))
    ds, report = import_sources(sources)
    assert report.layers["party_orgs"] == 40
    orgs = ds["party_orgs"]
    assert orgs["members"].sum() == sum(range(1, 41)) and orgs["type"].iloc[1] == "private_enterprise"
    built = build_dataset(ds, BuildParams(minutes=5, method="circle"))
    u = built["units"].set_index("id")
    assert u.loc[["U010", "U011", "U003"], "orgs"].tolist() == [10, 10, 10]
    assert u.loc[["U010", "U011", "U003"], "org_members"].tolist() == [sum(range(1, 11)), sum(range(11, 21)), sum(range(21, 31))]
    assert u.loc["U010", "orgs_private_enterprise"] == 2 and u["orgs"].sum() == 30
    # 西社区's units take the ten outside as X: U010 (A) and U001 (D).
    assert u.loc["U010", "alliance_x"] == 10 and u.loc["U001", "alliance_x"] == 10 and u.loc["U011", "alliance_x"] == 0
    # 5 minutes straight line (333.3 m): A's culture is 1,060.7 m away at S2, B's errands 335.4 m away at S1,
    # C's assistance only at S3, which is planned.
    c = built["compounds"].set_index("id")
    assert c["unmet_needs"].to_dict() == {"A": "文体活动", "B": "亲情代办", "C": "帮扶救助", "D": ""}


def test_a_table_of_points_with_organisation_types_is_recognised_without_a_telling_name(tmp_path: Path) -> None:
    path = _orgs_csv(tmp_path / "list.csv")
    ds, report = import_sources([path])
    assert report.sources[0].layer == "party_orgs"
    assert len(ds["party_orgs"]) == 40


def test_needs_naming_no_category_are_warned_about_in_chinese(tmp_path: Path) -> None:
    layers = block_layers()
    layers["compounds"]["需求"] = ["政策宣讲、广场舞", "广场舞", "", "帮扶救助"]
    sources = []
    for name in ("roads", "compounds", "centers"):
        path = tmp_path / f"{name}.geojson"
        layers[name].to_file(path, driver="GeoJSON")
        sources.append(path)
    _, report = import_sources(sources)
    (warning,) = [w for w in report.as_dict()["warnings"] if w["code"] == "unknown_categories"]
    assert warning["message"].startswith("居民小区中 2 行的服务类别无法识别：广场舞")
