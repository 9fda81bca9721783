"""OpenStreetMap service centres: existing from the start, one per facility, their level from their tags.

Every fixture is hand-drawn OSM XML (:mod:`tests.layers.osm_sketch`) in local
metres; a centre building is a 40 x 30 m rectangle.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geo.errors import InvalidValueError
from layers.importing import ImportOptions, OSMOptions, import_sources, report_lines
from layers.importing.options import parse_centre_levels
from tests.layers.osm_sketch import OSMSketch, lonlat


def _building(osm: OSMSketch, x: float, y: float, tags: dict[str, str]) -> int:
    return osm.area(x, y, x + 40, y + 30, {"building": "yes", **tags})


def district(path: Path) -> Path:
    """Seven facilities mapped nine times, a government office that is no centre and a road."""
    osm = OSMSketch()
    osm.line([(-100, -50), (1500, -50)], {"highway": "residential", "name": "青春路"})
    # 1. a community centre node inside its building, both tagged: one centre, at the node
    _building(osm, 0, 0, {"amenity": "community_centre", "name": "阳光社区党群服务中心"})
    osm.node(10, 10, {"amenity": "community_centre", "name": "阳光社区党群服务中心"})
    # 2. a named node 20 m beside a building named alike, the building untagged but for its name: one, inside the building
    _building(osm, 200, 0, {"name": "青山街道党群服务中心"})
    osm.node(260, 15, {"name": "青山街道党群服务中心"})
    # 3. a townhall node in a community centre building of another place: two facilities
    _building(osm, 400, 0, {"amenity": "community_centre", "name": "和平社区服务中心"})
    osm.node(420, 15, {"amenity": "townhall", "name": "和平街道办事处"})
    # 4. the same name 60 m away from its building: too far to be one
    _building(osm, 600, 0, {"amenity": "community_centre", "name": "滨河小区党群服务站"})
    osm.node(700, 15, {"amenity": "community_centre", "name": "滨河小区党群服务站"})
    # 5. a district's centre, and 6. a community office (office=government named like one)
    osm.node(900, 15, {"amenity": "community_centre", "name": "康巴什区党群服务中心"})
    osm.node(1000, 15, {"office": "government", "name": "青春社区居委会"})
    # not a centre: a government office named otherwise
    osm.node(1100, 15, {"office": "government", "name": "康巴什区税务局"})
    return osm.write(path)


@pytest.fixture
def imported(tmp_path: Path) -> tuple[gpd.GeoDataFrame, list[dict[str, str]]]:
    ds, report = import_sources([district(tmp_path / "district.osm")])
    return ds["centers"].set_index("name"), report.warnings


def test_mapped_centres_come_in_existing_with_levels_from_their_names(imported):
    centres, warnings = imported
    assert set(centres["status"]) == {"existing"}
    assert dict(zip(centres.index, centres["level"], strict=True)) == {
        "阳光社区党群服务中心": "community",
        "青山街道党群服务中心": "subdistrict",
        "和平社区服务中心": "community",
        "和平街道办事处": "subdistrict",
        "滨河小区党群服务站": "compound",
        "康巴什区党群服务中心": "district",
        "青春社区居委会": "community",
    }
    codes = {w["code"] for w in warnings}
    assert "osm_centers" in codes and "no_centers" not in codes and "candidate_centers" not in codes


def test_a_node_in_or_beside_its_building_is_one_centre(imported):
    centres, warnings = imported
    # 9 features mapped, 1 not a centre: 8 centres, of which 2 nodes merged into their buildings -> 7 rows,
    # the far node of 4. staying apart (so 滨河 twice).
    assert len(centres) == 8
    assert centres.index.value_counts()["滨河小区党群服务站"] == 2
    note = next(w for w in warnings if w["code"] == "osm_centers")
    assert note["values"]["count"] == 8 and note["values"]["merged"] == 2
    # 1. the merged centre stands at the node inside the building
    assert shapely.Point(*lonlat(10, 10)).distance(centres.loc["阳光社区党群服务中心", "geometry"]) < 1e-7
    assert ";" in centres.loc["阳光社区党群服务中心", "osm_ref"]
    # 2. the node outside: a point inside the building
    building = shapely.box(*lonlat(200, 0), *lonlat(240, 30))
    assert building.contains(centres.loc["青山街道党群服务中心", "geometry"])
    # 3. two facilities in one building stay two
    assert {"和平社区服务中心", "和平街道办事处"} <= set(centres.index)


def test_levels_follow_a_configured_mapping(tmp_path: Path):
    rules = parse_centre_levels('"amenity=townhall" = "district"\n"name~社区" = "community"\n')
    options = ImportOptions(osm=OSMOptions(centre_levels=rules, centre_default_level="subdistrict"))
    ds, _ = import_sources([district(tmp_path / "district.osm")], options=options)
    levels = ds["centers"].set_index("name")["level"]
    assert levels["和平街道办事处"] == "district"  # the tag rule comes first
    assert levels["阳光社区党群服务中心"] == "community"
    assert levels["康巴什区党群服务中心"] == "subdistrict"  # no rule: the default


def test_bad_level_rules_are_errors_naming_the_rule():
    with pytest.raises(InvalidValueError, match="`小区`"):
        parse_centre_levels({"小区": "compound"})
    with pytest.raises(InvalidValueError, match="`name~社区`"):
        parse_centre_levels({"name~社区": "village"})
    with pytest.raises(InvalidValueError, match=re.escape("`name~(`")):
        parse_centre_levels({"name~(": "community"})


def test_the_report_counts_the_centres_in_chinese(tmp_path: Path):
    _, report = import_sources([district(tmp_path / "district.osm")])
    line = next(s for s in report_lines(report) if "[osm_centers]" in s)
    assert "8 个党群服务中心" in line and "已建" in line and "社区级" in line
    english = next(s for s in report_lines(report, "en") if "[osm_centers]" in s)
    assert "8 service centres" in english
