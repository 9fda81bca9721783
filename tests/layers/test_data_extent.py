"""A boundary much larger than the data: units, grids and cells limited to where the data lies, the rest one area."""

from __future__ import annotations

import shapely

from layers.build import BuildParams, build_dataset, summary_lines
from tests.helpers import block_layers, local, make_dataset


def test_a_district_with_data_in_one_corner_gets_a_no_data_area_and_a_warning() -> None:
    layers = block_layers()
    big = layers["boundary"].copy()
    # the district is 20 x 20 km; the 900 m block district sits in its south-west corner
    big.loc[0, "geometry"] = local(big.iloc[[0]].set_geometry([shapely.box(0, 0, 20_000, 20_000)])).geometry.iloc[0]
    layers["boundary"] = big
    built = build_dataset(make_dataset(layers), BuildParams(minutes=5))
    u = built["units"].to_crs(4546)
    rest = u[u["no_data"]]
    assert rest["name"].tolist() == ["无数据区域"] and rest["households"].tolist() == [0]
    # data footprint: the road grid's hull (0-900 m) grown by 500 m and cut by the district: (0..1400)^2 minus
    # the rounded outer corner, about 1.90 km²; the rest is 400 - 1.90 km²
    extent = built.meta["summary"]["data_extent"]
    assert extent["boundary_km2"] == 400.0 and 1.85 < extent["data_km2"] < 1.96
    assert abs(float(rest.area.iloc[0]) / 1e6 - (400 - extent["data_km2"])) < 0.01
    assert u.loc[~u["no_data"], "households"].sum() == 1900 and len(u) > 2
    # cells only where the data lies; no grid for the empty rest
    cells = built["cells"].to_crs(4546)
    width = cells.total_bounds[2] - cells.total_bounds[0]
    assert width < 2_000  # the 1.4 km footprint and a cell's overhang, not the 20 km district
    assert built["grids"]["households"].sum() == 1900
    line = [ln for ln in summary_lines(built.meta["summary"]) if "无数据区域" in ln]
    assert line and line[0].startswith("边界面积 400.0 km²，小区与道路只覆盖其中 1.9 km²")


def test_data_filling_the_boundary_changes_nothing(blocks) -> None:
    built = build_dataset(blocks, BuildParams(minutes=5))
    assert "no_data" not in built["units"].columns and "data_extent" not in built.meta["summary"]
