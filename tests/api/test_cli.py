from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from layers.dataset import read_dataset

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
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["build", str(blocks_gpkg), "-o", str(out), "--level-minutes", "compound:5"])
    assert res.exit_code == 2 and "LEVEL=MINUTES" in res.output


def test_unreadable_file_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "broken.gpkg"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    res = runner.invoke(app, ["build", str(bad), "-o", str(tmp_path / "x.gpkg")])
    assert res.exit_code == 2
    assert "cannot read" in res.output
