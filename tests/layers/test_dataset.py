from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point

from geo.errors import DatasetNotFoundError, InvalidValueError, MissingColumnError
from layers.dataset import prepare_layer, read_dataset, write_dataset
from tests.helpers import block_layers, make_dataset


def test_reads_a_geopackage_and_fills_defaults(blocks_gpkg: Path):
    ds = read_dataset(blocks_gpkg)
    assert ds.metric_crs.to_epsg() == 4546
    c = ds["compounds"]
    assert c["id"].tolist() == ["A", "B", "C", "D"]
    # population defaults to households x 2.62, rounded, and is marked as an estimate
    assert c["population"].tolist() == [1048, 524, 2620, 786]
    assert c["population_estimated"].all()
    assert c["community"].tolist() == ["", "", "", ""]
    centers = ds["centers"]
    assert centers["status"].tolist() == ["existing", "existing", "planned"]
    roads = ds["roads"]
    assert roads["walkable"].all()
    assert set(ds.report["compounds"].defaults) == {"population", "community", "needs"}


def test_reads_a_folder_of_geojson(tmp_path: Path):
    for name, frame in block_layers().items():
        frame.to_file(tmp_path / f"{name}.geojson", driver="GeoJSON")
    ds = read_dataset(tmp_path)
    assert len(ds["compounds"]) == 4 and len(ds["roads"]) == 9


def test_missing_dataset_and_missing_compounds_layer(tmp_path: Path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        read_dataset(tmp_path / "nope.gpkg")
    block_layers()["roads"].to_file(tmp_path / "roads.geojson", driver="GeoJSON")
    with pytest.raises(DatasetNotFoundError, match="no `compounds` layer"):
        read_dataset(tmp_path)


def test_missing_required_column_names_layer_and_column():
    layers = block_layers()
    layers["compounds"] = layers["compounds"].drop(columns="households")
    with pytest.raises(MissingColumnError, match=r"layer `compounds` lacks the required column `households`"):
        make_dataset(layers)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("households", -5, r"`households`: must be a non-negative whole number; got -5 at row 2 \(乙小区\)"),
        ("households", "many", r"`households`.*got 'many' at row 2"),
        ("households", 12.5, r"`households`.*row 2"),
        ("has_party_org", "maybe", r"`has_party_org`: must be yes/no"),
    ],
)
def test_bad_compound_values_name_the_row(column, value, message):
    layers = block_layers()
    c = layers["compounds"].astype({column: object})
    c.loc[1, column] = value
    layers["compounds"] = c
    with pytest.raises(InvalidValueError, match=message):
        make_dataset(layers)


def test_unknown_level_names_the_row_and_chinese_levels_are_accepted():
    layers = block_layers()
    layers["centers"]["level"] = ["社区级", "小区级", "街道"]
    ds = make_dataset(layers)
    assert ds["centers"]["level"].tolist() == ["community", "compound", "subdistrict"]
    layers["centers"]["level"] = ["community", "village", "compound"]
    with pytest.raises(InvalidValueError, match=r"layer `centers`, column `level`: must be one of .* got 'village' at row 2"):
        make_dataset(layers)


def test_chinese_yes_no_and_status():
    layers = block_layers()
    layers["compounds"]["has_party_org"] = ["是", "否", "有", "无"]
    layers["centers"]["status"] = ["已建", "规划", "拟建"]
    ds = make_dataset(layers)
    assert ds["compounds"]["has_party_org"].tolist() == [True, False, True, False]
    assert ds["centers"]["status"].tolist() == ["existing", "planned", "proposed"]


def test_invalid_geometry_repaired_and_empty_rows_reported():
    layers = block_layers()
    c = layers["compounds"]
    x0, y0 = c.geometry.iloc[0].bounds[:2]
    bow = shapely.Polygon([(x0, y0), (x0 + 0.001, y0 + 0.001), (x0 + 0.001, y0), (x0, y0 + 0.001)])
    c.loc[0, "geometry"] = bow
    c.loc[3, "geometry"] = None
    ds = make_dataset(layers)
    rep = ds.report["compounds"]
    assert (rep.read, rep.kept, rep.repaired) == (4, 3, 1)
    assert rep.rejected == [{"row": 4, "id": "D", "reason": "missing_geometry"}]
    assert ds["compounds"].geometry.is_valid.all()


def test_ids_assigned_when_absent_and_duplicates_refused():
    frame = gpd.GeoDataFrame({"name": ["a", "b"], "level": ["community"] * 2}, geometry=[Point(109.78, 39.6)] * 2, crs=4326)
    out, _ = prepare_layer(frame, "centers")
    assert out["id"].tolist() == ["S0001", "S0002"]
    frame["id"] = [7, 7]
    with pytest.raises(InvalidValueError, match="repeated ids at rows 1, 2"):
        prepare_layer(frame, "centers")


def test_layer_in_gauss_kruger_is_brought_to_wgs84(blocks):
    projected = blocks["compounds"].to_crs(4546)
    out, rep = prepare_layer(projected, "compounds")
    assert out.crs.to_epsg() == 4326
    assert rep.source_crs == "EPSG:4546"
    assert out.geometry.iloc[0].centroid.distance(blocks["compounds"].geometry.iloc[0].centroid) < 1e-9


def test_write_is_atomic_and_round_trips(blocks, tmp_path: Path):
    target = tmp_path / "out.gpkg"
    target.write_bytes(b"old")
    blocks.meta["note"] = {"k": "值"}
    write_dataset(blocks, target)
    back = read_dataset(target)
    assert back.meta["note"] == {"k": "值"}
    assert back["compounds"]["id"].tolist() == ["A", "B", "C", "D"]
    assert not list(tmp_path.glob("*.tmp.gpkg"))
