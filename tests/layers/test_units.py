import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString

from layers.units import extend_line_ends, neighbourhood_units
from tests.helpers import block_layers, local, make_dataset


def _units(ds, **kw):
    return neighbourhood_units(ds["boundary"], ds["roads"], ds["rivers"], ds["compounds"], metric_crs=ds.metric_crs, **kw)


def test_main_roads_and_river_make_twelve_units_that_tile_the_district(blocks):
    units = _units(blocks)
    # 3 x 3 blocks of 300 m; the river at y = 450 halves the middle row: 6 whole + 6 half blocks.
    assert len(units) == 12
    areas = sorted(units["area_m2"].round().tolist())
    assert areas == [45000.0] * 6 + [90000.0] * 6
    m = units.to_crs(blocks.metric_crs)
    assert m.area.sum() == pytest.approx(810000, abs=1e-3)
    assert m.union_all().area == pytest.approx(810000, abs=1e-3)  # no overlaps


def test_units_carry_compound_totals_and_bounding_names(blocks):
    units = _units(blocks)
    assert units["compounds"].sum() == 4
    assert units["households"].sum() == 1900
    sw = units.loc[units["households"] == 400].iloc[0]  # the block of compound A
    assert set(sw["bounded_by"].split("、")) == {"西路", "一路", "南街", "中街"}
    river_unit = units[units["bounded_by"].str.contains("小河")]
    assert len(river_unit) == 6


def test_local_roads_do_not_bound_units_unless_asked(blocks):
    assert len(_units(blocks, unit_classes=("arterial", "secondary", "local"))) == 13  # 小巷 halves block A


def test_slivers_merge_into_the_longest_neighbour():
    layers = block_layers()
    extra = local(gpd.GeoDataFrame({"name": ["边路"], "class": ["secondary"]}, geometry=[LineString([(0, 896), (900, 896)])]))
    layers["roads"] = gpd.GeoDataFrame(
        __import__("pandas").concat([layers["roads"], extra], ignore_index=True), crs=4326
    )
    ds = make_dataset(layers)
    units = _units(ds)
    assert len(units) == 12  # three 4 m strips (1200 m² each) merged back into the top row
    assert units["area_m2"].min() == pytest.approx(45000, abs=1)
    assert len(_units(ds, min_area_m2=0)) == 15


def test_roads_stopping_a_hair_short_of_the_boundary_still_close_units():
    layers = block_layers()
    r = layers["roads"].to_crs(4546)
    # shorten every road by 1 m at each end: near misses a digitiser leaves
    r["geometry"] = [LineString([g.interpolate(1), g.interpolate(g.length - 1)]) for g in r.geometry]
    layers["roads"] = r.to_crs(4326)
    assert len(_units(make_dataset(layers))) == 12


def test_extend_line_ends_lengthens_both_ends():
    out = extend_line_ends(np.array([LineString([(0, 0), (10, 0)])], dtype=object), 2.0)
    assert list(out[0].coords) == [(-2.0, 0.0), (12.0, 0.0)]


def test_without_boundary_units_cover_the_roads_hull(blocks):
    empty = blocks["boundary"].iloc[0:0]
    units = neighbourhood_units(empty, blocks["roads"], blocks["rivers"], blocks["compounds"], metric_crs=blocks.metric_crs)
    assert units.to_crs(blocks.metric_crs).area.sum() == pytest.approx(810000, abs=1e-3)
