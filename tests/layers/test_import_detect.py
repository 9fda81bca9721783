"""Web-map coordinates read as WGS84, found point by point against the other files' layers.

The fixture is a whole district: an irregular street grid of 20 x 20 km
(blocks of 300-700 m, every third street an arterial, the others secondary)
around a spot in Kangbashi; 200 compounds of 100-240 m, each in a corner of
its block 30 m clear of the streets; 60 centres 10 m beside the street in
front of a compound.  Over those 20 km Baidu's BD-09 offset
changes by about 30 m east and 60 m north (GCJ-02's by about 25 m), more
than the compounds' clearance.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point

from geo.chinacoords import transform_geometries
from geo.crs import WGS84, metric_crs
from layers.importing import ImportOptions, import_sources
from layers.importing.detect import shift_suspicion
from tests.layers.osm_sketch import lonlat

SIZE_M = 20_000.0


def _to_wgs84(geoms: list) -> np.ndarray:
    return np.asarray([shapely.transform(g, lambda c: np.array([lonlat(x, y) for x, y in c])) for g in geoms], dtype=object)


def _streets(rng: np.random.Generator) -> np.ndarray:
    """Street positions from 0 every 300-700 m up to SIZE_M."""
    positions = np.cumsum(rng.uniform(300, 700, 80))
    return np.concatenate([[0.0], positions[positions <= SIZE_M]])


@pytest.fixture(scope="module")
def district() -> dict[str, gpd.GeoDataFrame]:
    """Roads, compounds and centres of the 20 km district, WGS84."""
    rng = np.random.default_rng(14)
    xs, ys = _streets(rng), _streets(rng)
    lines = [LineString([(x, 0), (x, SIZE_M)]) for x in xs] + [LineString([(0, y), (SIZE_M, y)]) for y in ys]
    classes = ["arterial" if i % 3 == 0 else "secondary" for i in range(len(lines))]
    blocks = [(x0, y0, x1, y1) for x0, x1 in zip(xs[:-1], xs[1:], strict=True) for y0, y1 in zip(ys[:-1], ys[1:], strict=True)]
    chosen = rng.choice(len(blocks), 200, replace=False)
    sizes = rng.uniform(100, 240, (len(chosen), 2))
    compounds = [shapely.box(x0 + 30, y0 + 30, x0 + 30 + w, y0 + 30 + h) for (x0, y0, _, _), (w, h) in zip((blocks[i] for i in chosen), sizes, strict=True)]
    centres = [Point(x0 + 30 + w / 2, y0 + 10) for (x0, y0, _, _), (w, _) in zip((blocks[i] for i in chosen[:60]), sizes[:60], strict=True)]
    return {
        "roads": gpd.GeoDataFrame({"name": [f"路{i}" for i in range(len(lines))], "class": classes}, geometry=_to_wgs84(lines), crs=WGS84),
        "compounds": gpd.GeoDataFrame({"name": [f"小区{i}" for i in range(len(compounds))], "households": 300}, geometry=_to_wgs84(compounds), crs=WGS84),
        "centers": gpd.GeoDataFrame({"name": [f"中心{i}" for i in range(len(centres))], "level": "community"}, geometry=_to_wgs84(centres), crs=WGS84),
    }


def _files(tmp_path: Path, district: dict[str, gpd.GeoDataFrame], shifted: str, system: str, layers: tuple[str, ...]) -> list[Path]:
    """The layers as GeoJSON files, ``shifted`` moved into ``system`` (web-map degrees)."""
    paths = []
    for layer in layers:
        frame = district[layer].copy()
        if layer == shifted and system != "wgs84":
            frame["geometry"] = transform_geometries(frame.geometry.to_numpy(), source="wgs84", target=system)
        path = tmp_path / f"{layer}.geojson"
        frame.to_file(path)
        paths.append(path)
    return paths


def _suspected(report) -> list[dict]:
    return [w for w in report.warnings if w["code"].endswith("_suspected")]


@pytest.mark.parametrize(("system", "code"), [("bd09", "bd09_suspected"), ("gcj02", "gcj02_suspected")])
def test_web_map_compounds_beside_wgs84_roads_are_flagged_with_their_system(tmp_path, district, system, code):
    _, report = import_sources(_files(tmp_path, district, "compounds", system, ("roads", "compounds")))
    [warning] = _suspected(report)
    assert warning["code"] == code and warning["source"] == "compounds.geojson"
    values = warning["values"]
    assert values["option"] == f"--crs {system}" and f"--crs {system}" in warning["message"]
    assert values["converted"] < 0.5 * values["as_read"] and values["converted"] < 0.5 * values["control"]
    assert ("百度" if system == "bd09" else "高德") in warning["message"]
    # The offset is about 1.3 km for BD-09, 0.5 km for GCJ-02, and not the same across the district.
    assert values["shift"] == pytest.approx(1310 if system == "bd09" else 490, abs=40)
    assert values["shift_max"] - values["shift_min"] > 15


def test_bd09_varies_too_much_across_a_district_for_one_offset_vector(district):
    """Why point by point: moved back by one vector (the median of the true ones), BD-09 compounds still sit on main roads."""
    comp = district["compounds"]
    crs = metric_crs(comp)
    shifted = transform_geometries(comp.geometry.to_numpy(), source="wgs84", target="bd09")
    as_read = gpd.GeoSeries(shifted, crs=WGS84).to_crs(crs).to_numpy()
    truth = comp.geometry.to_crs(crs).to_numpy()
    vectors = shapely.get_coordinates(shapely.centroid(truth)) - shapely.get_coordinates(shapely.centroid(as_read))
    one = shapely.transform(as_read, lambda c: c + np.median(vectors, axis=0))
    roads = district["roads"].geometry.to_crs(crs).to_numpy()
    crossed = shapely.intersects(one[:, None], roads[None, :]).any(axis=1)
    assert crossed.sum() >= 10  # of 200 compounds 30 m clear of the streets
    found = shift_suspicion(gpd.GeoDataFrame(geometry=shifted, crs=WGS84), district["roads"], layer="roads", crs=crs)
    assert found is not None and found.system == "bd09" and found.converted == 0.0


@pytest.mark.parametrize("system", ["bd09", "gcj02"])
def test_web_map_centres_are_flagged_against_roads_and_against_compounds(tmp_path, district, system):
    _, report = import_sources(_files(tmp_path, district, "centers", system, ("roads", "centers")))
    [warning] = _suspected(report)
    assert (warning["code"], warning["source"]) == (f"{system}_suspected", "centers.geojson")
    values = warning["values"]
    assert values["converted"] == pytest.approx(10, abs=1) and values["as_read"] > 2 * values["converted"]  # 10 m off a street
    # Without roads the compounds (of another file) tell.
    _, report = import_sources(_files(tmp_path, district, "centers", system, ("compounds", "centers")))
    [warning] = _suspected(report)
    assert warning["code"] == f"{system}_suspected" and "小区" in warning["message"]


def test_true_wgs84_is_not_flagged(tmp_path, district):
    _, report = import_sources(_files(tmp_path, district, "", "wgs84", ("roads", "compounds", "centers")))
    assert not _suspected(report)


def test_nothing_is_flagged_when_crs_names_the_web_map(tmp_path, district):
    ds, report = import_sources(_files(tmp_path, district, "compounds", "bd09", ("compounds",)), options=ImportOptions(crs="bd09"))
    assert not _suspected(report)
    moved = ds["compounds"].geometry.to_crs(3857).distance(district["compounds"].geometry.to_crs(3857), align=False)
    assert moved.max() < 1.0
