"""Households of OpenStreetMap compounds from floor area, and the check against GB 50180 densities.

Hand-drawn OSM XML in local metres (:mod:`tests.layers.osm_sketch`); 100 m²
of floor area per household (the default).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from layers.importing import import_sources, report_lines
from layers.importing.households import DENSITY_TOLERANCE
from tests.layers.osm_sketch import OSMSketch


def _houses(osm: OSMSketch, x0: float, y0: float, count: int, size: tuple[float, float], tags: dict[str, str]) -> None:
    """``count`` buildings of ``size`` metres in a row, 5 m apart, from (x0, y0)."""
    w, h = size
    for i in range(count):
        x = x0 + i * (w + 5)
        osm.area(x, y0, x + w, y0 + h, tags)


def low_rise(osm: OSMSketch) -> None:
    """A 200 x 150 m (3 ha) compound of houses, 1-3 storeys, and sheds.

    Hand-worked households (floor area / 100 m²):

    - 10 ``residential`` 12 x 10 m without levels: houses (< 250 m²) of 2 storeys, 10 x 2.4 = 24, and another row of 10: 24
    - 10 ``house`` 12 x 10 m with ``building:levels=1``: 10 x 1.2 = 12
    - 5 ``yes`` 12 x 10 m with ``height=9``: 3 storeys, 5 x 3.6 = 18
    - 10 ``yes`` sheds of 5 x 4 m: no homes
    - 1 ``terrace`` 40 x 10 m with ``building:flats=4``: 4 (given)

    82 households on 3 ha: 27 per hectare; average storeys
    (20 x 120 x 2 + 10 x 120 + 5 x 120 x 3 + 400 x 2) / 4,600 = 1.9: low-rise.
    The old rule (6 storeys for every ``residential`` and ``yes``, sheds
    counted, height ignored) gave 212.
    """
    osm.area(0, 0, 200, 150, {"landuse": "residential", "name": "柳林村"})
    _houses(osm, 2, 5, 10, (12, 10), {"building": "residential"})
    _houses(osm, 2, 25, 10, (12, 10), {"building": "residential"})
    _houses(osm, 2, 45, 10, (12, 10), {"building": "house", "building:levels": "1"})
    _houses(osm, 2, 65, 5, (12, 10), {"building": "yes", "height": "9 m"})
    _houses(osm, 2, 85, 10, (5, 4), {"building": "yes"})
    osm.area(2, 100, 42, 110, {"building": "terrace", "building:flats": "4"})


def test_a_low_rise_compound_gets_plausible_households_and_says_how(tmp_path: Path):
    osm = OSMSketch()
    low_rise(osm)
    ds, report = import_sources([osm.write(tmp_path / "village.osm")])
    comp = ds["compounds"].iloc[0]
    assert abs(comp["households"] - 82) <= 1
    assert comp["households_source"] == "default" and bool(comp["households_estimated"])
    assert comp["storeys"] == pytest.approx(1.9, abs=0.05)
    codes = [w["code"] for w in report.warnings]
    assert "households_estimated" in codes and "households_implausible" not in codes
    note = next(w for w in report.warnings if w["code"] == "households_estimated")
    assert note["source"] == "village.osm:compounds" and note["values"]["count"] == 1


def dense_and_sparse(osm: OSMSketch) -> None:
    """Three compounds: too dense, too sparse, and one from flats that is fine.

    - 高楼小区: 100 x 100 m, four 40 x 40 m six-storey blocks = 38,400 m², 384 households/ha; a
      multi-storey compound's bound is 1.6 x 10,000 / 100 x 1.25 = 200.
    - 空旷小区: 200 x 100 m with one 12 x 10 m one-storey house: 1 household on 2 ha, 0.5/ha (< 5).
    - 公寓小区: 100 x 100 m, one 30 x 20 m block of 12 storeys with 90 flats: 90/ha, high-rise, fine.
    """
    osm.area(0, 0, 100, 100, {"landuse": "residential", "name": "高楼小区"})
    for x, y in ((5, 5), (55, 5), (5, 55), (55, 55)):
        osm.area(x, y, x + 40, y + 40, {"building": "apartments", "building:levels": "6"})
    osm.area(300, 0, 500, 100, {"landuse": "residential", "name": "空旷小区"})
    osm.area(310, 10, 322, 20, {"building": "house", "building:levels": "1"})
    osm.area(700, 0, 800, 100, {"landuse": "residential", "name": "公寓小区"})
    osm.area(710, 10, 740, 30, {"building": "apartments", "building:levels": "12", "building:flats": "90"})


def test_implausible_densities_are_one_warning_with_the_numbers(tmp_path: Path):
    osm = OSMSketch()
    dense_and_sparse(osm)
    ds, report = import_sources([osm.write(tmp_path / "odd.osm")])
    comp = ds["compounds"].set_index("name")
    assert abs(comp.loc["高楼小区", "households"] - 384) <= 1 and comp.loc["高楼小区", "households_source"] == "levels"
    assert comp.loc["空旷小区", "households"] == 1
    assert comp.loc["公寓小区", "households"] == 90 and comp.loc["公寓小区", "households_source"] == "given"
    found = [w for w in report.warnings if w["code"] == "households_implausible"]
    assert len(found) == 1
    values = found[0]["values"]
    assert (values["count"], values["dense"], values["sparse"], values["estimated"]) == (2, 1, 1, 3)
    assert values["tolerance"] == DENSITY_TOLERANCE
    line = next(s for s in report_lines(report) if "[households_implausible]" in s)
    assert "高楼小区 384 户/公顷" in line and "多层I类" in line and "界限 200" in line
    assert "空旷小区 0 户/公顷" in line and "公寓小区" not in line
    assert "GB 50180-2018" in line


def test_compounds_without_homes_come_from_their_area_and_are_not_checked(tmp_path: Path):
    osm = OSMSketch()
    osm.area(0, 0, 100, 100, {"landuse": "residential", "name": "空地"})
    osm.area(10, 10, 30, 30, {"building": "retail", "building:levels": "2"})
    ds, report = import_sources([osm.write(tmp_path / "empty.osm")])
    comp = ds["compounds"].iloc[0]
    # 1 ha x floor area ratio 1.5 / 100 m² = 150 households
    assert abs(comp["households"] - 150) <= 1 and comp["households_source"] == "area"
    assert "households_implausible" not in {w["code"] for w in report.warnings}
