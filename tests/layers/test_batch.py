"""Batch runs: manifests, a Dask LocalCluster with 2 workers, failures, skips and the province roll-up.

The districts are small synthetic cities made here (about 1,500 street
segments, 10 centres, 60 compounds each).  Roll-up numbers are checked
against the households summed by hand from each written GeoPackage, and on
hand-made results (city 甲: 100 + 50 compounds, 80 + 25 covered = 70 %;
1000 + 500 households, 900 + 100 covered = 66.67 %).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from typer.testing import CliRunner

from bench.synth_city import make_city, write_city
from geo.errors import DatasetNotFoundError, InvalidValueError, MissingColumnError
from geo.network import partitioned_walk_coverage, road_segments
from layers.batch.manifest import BatchEntry, read_manifest
from layers.batch.rollup import province_rollup, rollup_html, rollup_xlsx
from layers.batch.run import STATE_FILE, load_state, run_batch
from layers.batch.task import DatasetResult
from layers.build import BuildParams
from layers.coverage import compound_coverage
from layers.dataset import read_dataset
from tests.helpers import writes

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 in-process workers (fast to start, no pickling of the test module)."""
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def district(path: Path, seed: int) -> Path:
    write_city(path, make_city(1_500, 10, 60, seed=seed))
    return path


@pytest.fixture(scope="module")
def districts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small synthetic districts and a broken file, made once."""
    data = tmp_path_factory.mktemp("districts")
    for i in range(3):
        district(data / f"d{i}.gpkg", seed=i)
    (data / "broken.gpkg").write_text("not a geopackage")
    return data


@pytest.fixture
def province(districts: Path, tmp_path: Path) -> Path:
    """Three good districts (walking network whole and split into 1 km tiles, straight line), a broken file, a missing one and a bad setting."""
    shutil.copytree(districts, tmp_path / "data")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "name,path,city,method,minutes,split\n"
        "东区,data/d0.gpkg,甲市,network,,no\n"
        "西区,data/d1.gpkg,甲市,network,,1\n"
        "南区,data/d2.gpkg,乙市,circle,10,\n"
        "坏区,data/broken.gpkg,乙市,circle,,\n"
        "缺区,data/missing.gpkg,,circle,,\n"
        "错区,data/d0.gpkg,乙市,circle,-5,\n",
        encoding="utf-8",
    )
    return manifest


# ---------------------------------------------------------------------------
# manifests
# ---------------------------------------------------------------------------


def test_read_manifest_csv(province: Path) -> None:
    entries, title = read_manifest(province)
    assert title == ""
    by = {e.name: e for e in entries}
    assert [e.name for e in entries] == ["东区", "西区", "南区", "坏区", "缺区", "错区"]
    assert by["东区"].path == str(province.parent / "data" / "d0.gpkg")
    assert by["东区"].city == "甲市" and by["东区"].params.method == "network" and by["东区"].split is False
    assert by["西区"].split is True and by["西区"].tile_m == 1000.0
    assert by["南区"].params.minutes == 10.0
    assert by["缺区"].params.method == "circle" and by["缺区"].error == ""
    assert "minutes" in by["错区"].error


def test_read_manifest_toml_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(
        'title = "示范省"\n[defaults]\nminutes = 10\nlevel_minutes = {compound = 5}\n'
        '[[dataset]]\nname = "a"\npath = "a.gpkg"\ncity = "甲市"\nstatuses = ["existing", "planned"]\n'
        '[[dataset]]\nname = "b"\npath = "/abs/b.gpkg"\nminutes = 15\nsplit = 2.5\n',
        encoding="utf-8",
    )
    entries, title = read_manifest(tmp_path / "m.toml")
    assert title == "示范省"
    a, b = entries
    assert a.params.minutes == 10.0 and a.params.level_minutes == {"compound": 5.0}
    assert a.params.statuses == ("existing", "planned") and a.params.method == "network"
    assert b.params.minutes == 15.0 and b.path == "/abs/b.gpkg" and b.split is True and b.tile_m == 2500.0


def test_manifest_errors_are_named(tmp_path: Path) -> None:
    m = tmp_path / "m.csv"
    with pytest.raises(DatasetNotFoundError):
        read_manifest(m)
    m.write_text("name,file\na,b\n")
    with pytest.raises(MissingColumnError, match="`path`"):
        read_manifest(m)
    m.write_text("name,path,minuts\na,b,5\n")
    with pytest.raises(InvalidValueError, match="unknown columns minuts"):
        read_manifest(m)
    m.write_text("name,path\na,x.gpkg\na,y.gpkg\n")
    with pytest.raises(InvalidValueError, match="rows 1 and 2"):
        read_manifest(m)
    m.write_text("name,path\na/b,x.gpkg\n")
    with pytest.raises(InvalidValueError, match="cannot name output files"):
        read_manifest(m)
    m.write_text("name,path,level_minutes\na,x.gpkg,compound=5;community=x\n")
    (entry,), _ = read_manifest(m)
    assert "level_minutes" in entry.error


# ---------------------------------------------------------------------------
# the run on a cluster
# ---------------------------------------------------------------------------


def test_batch_on_a_local_cluster(province: Path, client, tmp_path: Path) -> None:  # noqa: ANN001
    entries, _ = read_manifest(province)
    out = tmp_path / "out"
    seen: list[DatasetResult] = []
    outcome = run_batch(entries, out, client=client, title="示范省", on_result=seen.append)

    status = {r.name: r.status for r in outcome.results}
    assert status == {"东区": "built", "西区": "built", "南区": "built", "坏区": "failed", "缺区": "failed", "错区": "failed"}
    assert len(seen) == 6
    reasons = {r.name: r.reason for r in outcome.results}
    assert "cannot read" in reasons["坏区"]
    assert "does not exist" in reasons["缺区"]
    assert "minutes" in reasons["错区"]
    for name in ("东区", "西区", "南区"):
        assert (out / f"{name}.gpkg").is_file() and (out / f"{name}.xlsx").is_file()
    assert not (out / "坏区.gpkg").exists()

    east = next(r for r in outcome.results if r.name == "东区")
    assert east.row["method"] == "network" and east.row["tiles"] == 0
    assert len(read_dataset(out / "东区.gpkg")["service_areas"]) > 0
    # the split district ran its walking pass in tiles on the cluster
    west = next(r for r in outcome.results if r.name == "西区")
    assert west.row["method"] == "network" and west.row["tiles"] >= 4
    built = read_dataset(out / "西区.gpkg")
    assert built.meta["batch"]["split_tiles"] == west.row["tiles"]
    assert "split" in built.meta["service_areas"]

    # roll-up: the households of each city are the sums of the written compounds layers
    hh = {n: read_dataset(out / f"{n}.gpkg")["compounds"] for n in ("东区", "西区", "南区")}
    workbook = openpyxl.load_workbook(io.BytesIO(outcome.rollup_xlsx.read_bytes()))
    cities = list(workbook["按城市"].iter_rows(values_only=True))
    head = cities[0]
    rows = {r[0]: dict(zip(head, r, strict=True)) for r in cities[1:]}
    jia = rows["甲市"]
    assert jia["户数"] == int(hh["东区"]["households"].sum() + hh["西区"]["households"].sum())
    covered = int(hh["东区"].loc[hh["东区"]["covered"], "households"].sum() + hh["西区"].loc[hh["西区"]["covered"], "households"].sum())
    assert jia["已覆盖户数"] == covered
    assert jia["区县数"] == 2 and jia["失败数"] == 0
    assert rows["乙市"]["区县数"] == 3 and rows["乙市"]["失败数"] == 2
    total = rows["全省合计"]
    assert total["户数"] == sum(int(f["households"].sum()) for f in hh.values())
    assert total["失败数"] == 3
    assert [r[1] for r in workbook["失败"].iter_rows(min_row=2, values_only=True)] == ["坏区", "缺区", "错区"]
    page = outcome.rollup_html.read_text(encoding="utf-8")
    assert "示范省" in page and "坏区" in page

    state = json.loads((out / STATE_FILE).read_text(encoding="utf-8"))
    assert set(state["datasets"]) == set(status)

    # rerun: the unchanged ones are skipped, the failures tried again
    again = run_batch(entries, out, client=client)
    assert {r.name: r.status for r in again.results} == status | {"东区": "skipped", "西区": "skipped", "南区": "skipped"}
    assert next(r for r in again.results if r.name == "东区").row == next(r for r in outcome.results if r.name == "东区").row

    # a changed input and a changed setting are rebuilt; the rest stays skipped
    district(province.parent / "data" / "d2.gpkg", seed=42)
    changed = [e if e.name != "东区" else BatchEntry(e.name, e.path, BuildParams(method="circle", minutes=12.0), e.city) for e in entries]
    third = run_batch(changed, out, client=client)
    assert {r.name: r.status for r in third.results if r.status != "failed"} == {"东区": "built", "西区": "skipped", "南区": "built"}
    assert load_state(out)["东区"]["row"]["minutes"] == 12.0


def test_split_build_equals_whole_network_build(tmp_path: Path) -> None:
    """The coverage columns of a split walking pass equal the whole-network ones."""
    ds = read_dataset(district(tmp_path / "city.gpkg", seed=3))
    roads = ds["roads"][ds["roads"]["walkable"].astype(bool)]
    kwargs = {"metric_crs": ds.metric_crs, "method": "network", "level_minutes": {"compound": 5.0}, "roads": ds["roads"]}
    whole = compound_coverage(ds["compounds"], ds["centers"], **kwargs)
    segments = road_segments(roads.to_crs(ds.metric_crs))

    def split_pass(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        return partitioned_walk_coverage(segments, *args, tile_m=800.0, **kw)

    split = compound_coverage(ds["compounds"], ds["centers"], network_pass=split_pass, **kwargs)
    within = whole["walk_m"].to_numpy() <= 1000.0
    assert within.sum() > 20
    np.testing.assert_array_equal(split["covered"], whole["covered"])
    for col in ("nearest_center", "walk_m", "walk_min", "unreachable", "flags"):
        np.testing.assert_array_equal(split[col].to_numpy()[within], whole[col].to_numpy()[within])


# ---------------------------------------------------------------------------
# the roll-up, by hand
# ---------------------------------------------------------------------------


def hand_results() -> list[DatasetResult]:
    def row(name: str, compounds: int, covered: int, households: int, covered_hh: int) -> dict:
        return {
            "district": name, "method": "network", "minutes": 15.0, "compounds": compounds, "covered_compounds": covered,
            "households": households, "covered_households": covered_hh, "population": households * 3,
            "covered_population": covered_hh * 3, "no_party_org": 1, "centers": 2, "road_edges": 1000, "tiles": 0,
            "seconds": 1.5,
        }

    return [
        DatasetResult("a", "甲市", "a.gpkg", "built", row=row("A区", 100, 80, 1000, 900)),
        DatasetResult("<b>", "甲市", "b.gpkg", "skipped", row=row("B区", 50, 25, 500, 100)),
        DatasetResult("c", "乙市", "c.gpkg", "failed", reason="bad <data>"),
    ]


def test_province_rollup_by_hand() -> None:
    districts, cities, total = province_rollup(hand_results())
    jia = cities.set_index("city").loc["甲市"]
    assert (jia["compounds"], jia["covered_compounds"], jia["compound_share"]) == (150, 105, 0.7)
    assert (jia["households"], jia["covered_households"], jia["uncovered_households"]) == (1500, 1000, 500)
    assert jia["household_share"] == pytest.approx(0.6667)
    yi = cities.set_index("city").loc["乙市"]
    assert (yi["districts"], yi["failed"], yi["households"]) == (1, 1, 0)
    assert total["households"] == 1500 and total["districts"] == 3 and total["failed"] == 1
    assert districts["name"].tolist() == ["c", "<b>", "a"]  # by city (乙 U+4E59 < 甲 U+7532), then name
    failed = districts.set_index("name").loc["c"]
    assert np.isnan(failed["households"])


def test_rollup_files_escape_names() -> None:
    page = rollup_html(hand_results(), lang="en", title="<Province>")
    assert "&lt;Province&gt;" in page and "&lt;b&gt;" in page and "bad &lt;data&gt;" in page
    assert "<td>&lt;b&gt;</td>" in page and "<td><b></td>" not in page
    wb = openpyxl.load_workbook(io.BytesIO(rollup_xlsx(hand_results(), lang="en")))
    assert wb.sheetnames == ["Cities", "Districts", "Failed"]
    total = list(wb["Cities"].iter_rows(values_only=True))[-1]
    assert total[0] == "Province total" and total[7] == 1500


# ---------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------


def test_cli_batch(province: Path, client, tmp_path: Path) -> None:  # noqa: ANN001
    from api.cli import app

    runner = CliRunner()
    out = tmp_path / "cli_out"
    result = runner.invoke(
        app, ["batch", str(province), "-o", str(out), "--scheduler", client.scheduler.address, "--lang", "en"]
    )
    assert result.exit_code == 1, result.output  # some datasets failed
    assert "Dask dashboard:" in result.output
    assert "done: 3 built, 0 skipped (unchanged), 3 failed" in result.output
    assert (out / "province.xlsx").is_file() and (out / "province.html").is_file()

    bad = runner.invoke(app, ["batch", str(tmp_path / "nope.csv"), "-o", str(out)])
    assert bad.exit_code == 2
    both = runner.invoke(app, ["batch", str(province), "-o", str(out), "--scheduler", "tcp://x:1", "--workers", "2"])
    assert both.exit_code == 2


def test_a_postgis_schema_is_a_batch_input_and_reruns_follow_its_revision(
    districts: Path, client, tmp_path: Path, postgis_url: str  # noqa: ANN001
) -> None:
    from layers.store import open_store

    url = f"{postgis_url}?schema=batch_{tmp_path.name[-8:].lower().replace('-', '_')}"
    with open_store(url) as store:
        writes(store).import_dataset(read_dataset(districts / "d0.gpkg"), actor="test")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"name,path,method\n库区,{url},circle\n文件区,{districts / 'd0.gpkg'},circle\n", encoding="utf-8")
    entries, _ = read_manifest(manifest)
    first = run_batch(entries, tmp_path / "out", client=client)
    status = {r.name: r.status for r in first.results}
    assert status == {"库区": "built", "文件区": "built"}
    from_db = read_dataset(tmp_path / "out" / "库区.gpkg")["compounds"]
    from_file = read_dataset(tmp_path / "out" / "文件区.gpkg")["compounds"]
    assert from_db["households"].sum() == from_file["households"].sum()
    assert from_db["covered"].sum() == from_file["covered"].sum()
    assert {r.name: r.status for r in run_batch(entries, tmp_path / "out", client=client).results}["库区"] == "skipped"
    with open_store(url) as store:  # a write moves the revision: the next run rebuilds
        writes(store).set_meta({"note": "edited"}, actor="test")
    assert {r.name: r.status for r in run_batch(entries, tmp_path / "out", client=client).results}["库区"] == "built"
