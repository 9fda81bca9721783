from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from layers.dataset import read_dataset
from tests.helpers import reads, writes

runner = CliRunner()


def test_build_writes_every_layer_and_prints_a_chinese_summary(blocks_gpkg: Path, tmp_path: Path):
    out = tmp_path / "built.gpkg"
    res = runner.invoke(app, ["build", str(blocks_gpkg), "-o", str(out), "--minutes", "5", "--method", "circle"])
    assert res.exit_code == 0, res.output
    assert "居民户数 1,900 户: 已覆盖 1,400 户, 未覆盖 500 户" in res.output
    ds = read_dataset(out)
    assert {"units", "grids", "cells", "circles"} <= set(ds.layers)
    assert ds["compounds"].set_index("id")["covered"].to_dict() == {"A": True, "B": False, "C": True, "D": False}


def test_coverage_in_english_with_level_minutes(blocks_gpkg: Path, tmp_path: Path):
    out = tmp_path / "cov.gpkg"
    res = runner.invoke(
        app,
        ["coverage", str(blocks_gpkg), "-o", str(out), "--method", "circle", "--level-minutes", "compound=2", "--lang", "en"],
    )
    assert res.exit_code == 0, res.output
    assert "Compounds 4: covered 4, not covered 0" in res.output
    c = read_dataset(out)["compounds"].set_index("id")
    assert c.loc["C", "nearest_center"] == "S1"


def test_bad_input_is_one_line_and_exit_2_and_keeps_the_old_output(blocks_gpkg: Path, tmp_path: Path):
    out = tmp_path / "keep.gpkg"
    out.write_bytes(b"previous result")
    res = runner.invoke(app, ["build", str(blocks_gpkg), "-o", str(out), "--minutes", "0"])
    assert res.exit_code == 2
    assert "`minutes` must lie in (0, 120]" in res.output
    assert "Traceback" not in res.output
    assert out.read_bytes() == b"previous result"
    res = runner.invoke(app, ["build", str(tmp_path / "missing.gpkg"), "-o", str(out)])
    assert res.exit_code == 2 and "不存在" in res.output
    res = runner.invoke(app, ["build", str(blocks_gpkg), "-o", str(out), "--level-minutes", "compound:5"])
    assert res.exit_code == 2 and "LEVEL=MINUTES" in res.output


def test_unreadable_file_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "broken.gpkg"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    res = runner.invoke(app, ["build", str(bad), "-o", str(tmp_path / "x.gpkg")])
    assert res.exit_code == 2
    assert "is not a GeoPackage" in res.output


def _invoke(*args: str):
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res


def test_build_in_place_keeps_edits_tokens_and_the_audit_log(blocks_gpkg: Path):
    from layers.store import Role, open_store

    _invoke("build", str(blocks_gpkg), "--method", "circle")
    with open_store(blocks_gpkg) as store:
        token = writes(store).create_token(Role.editor, actor="test")
        writes(store).update_feature("centers", "S3", properties={"status": "existing"}, expected_version=None, actor="test")
        audit = len(reads(store).audit())
        first = store.revision()
    res = _invoke("build", str(blocks_gpkg), "--minutes", "11")
    assert "11 分钟" in res.output  # the parameters are printed
    assert sorted(p.name for p in blocks_gpkg.parent.glob("*.gpkg")) == ["blocks.gpkg"]  # no second file
    with open_store(blocks_gpkg) as store:
        assert store.verify_token(token.token) is not None
        assert reads(store).read_layer("centers").set_index("id").loc["S3", "status"] == "existing"  # the edit stays
        entries = reads(store).audit()
        assert len(entries) > audit and entries[-1].actor.startswith("cli:")
        assert store.revision() == first + 1  # one new revision
        meta = reads(store).get_meta()
        assert meta["params"]["minutes"] == 11 and meta["params"]["method"] == "circle"  # given wins, the rest stays
    ds = read_dataset(blocks_gpkg)
    assert ds["compounds"]["covered"].all()  # S3 now counts


def test_coverage_without_output_refuses_a_built_dataset_and_fills_an_unbuilt_one(blocks_gpkg: Path, tmp_path: Path):
    _invoke("coverage", str(blocks_gpkg), "--method", "circle", "--minutes", "5")
    ds = read_dataset(blocks_gpkg)
    assert ds["compounds"].set_index("id")["covered"].to_dict() == {"A": True, "B": False, "C": True, "D": False}
    _invoke("build", str(blocks_gpkg))
    before = blocks_gpkg.read_bytes()
    res = runner.invoke(app, ["coverage", str(blocks_gpkg)])
    assert res.exit_code == 2 and "dangjian build" in res.output
    assert blocks_gpkg.read_bytes() == before
    copy = tmp_path / "copy.gpkg"
    _invoke("coverage", str(blocks_gpkg), "-o", str(copy))
    res = runner.invoke(app, ["coverage", str(blocks_gpkg), "-o", str(copy)])
    assert res.exit_code == 2 and "copy.gpkg" in res.output  # never over an existing file
    res = runner.invoke(app, ["build", str(blocks_gpkg), "-o", str(tmp_path / "no" / "such" / "x.gpkg")])
    assert res.exit_code == 2 and "does not exist" in res.output
    assert not (tmp_path / "no").exists()


def test_a_folder_is_imported_once_into_its_own_store(blocks_gpkg: Path, tmp_path: Path):
    folder = tmp_path / "district"
    folder.mkdir()
    ds = read_dataset(blocks_gpkg)
    for name in ("roads", "compounds", "centers", "boundary", "rivers"):
        ds[name].to_file(folder / f"{name}.geojson")
    res = _invoke("build", str(folder))
    store = tmp_path / "district.gpkg"
    assert str(store) in res.output
    assert read_dataset(store)["compounds"]["covered"].notna().all()
    res = _invoke("build", str(folder))
    assert "district.gpkg" in res.output
