"""``dangjian import`` into an existing dataset: only the layers named change; an empty dataset is refused."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from layers.dataset import read_dataset
from layers.store import Role, open_store
from tests.helpers import reads, writes

runner = CliRunner()


def test_a_one_layer_import_keeps_the_other_layers_and_the_service_tables(blocks_gpkg: Path, tmp_path: Path):
    assert runner.invoke(app, ["build", str(blocks_gpkg)]).exit_code == 0
    with open_store(blocks_gpkg) as store:
        token = writes(store).create_token(Role.editor, actor="test")
        params = reads(store).get_meta()["params"]
    roads = read_dataset(blocks_gpkg)["roads"]
    boundary = tmp_path / "boundary.geojson"
    read_dataset(blocks_gpkg)["boundary"].iloc[:1].to_file(boundary)
    res = runner.invoke(app, ["import", str(boundary), "-o", str(blocks_gpkg), "--layer", "boundary"])
    assert res.exit_code == 0, res.output
    ds = read_dataset(blocks_gpkg)
    assert len(ds["boundary"]) == 1  # replaced
    assert len(ds["roads"]) == len(roads) and len(ds["compounds"]) == 4 and len(ds["centers"]) == 3  # kept
    assert {"units", "grids", "cells"} <= set(ds.layers)
    with open_store(blocks_gpkg) as store:
        assert store.verify_token(token.token) is not None
        assert reads(store).get_meta()["params"] == params
        with store.snapshot() as snap:
            assert not snap.derived_current()  # the build is now stale; serve rebuilds it in place


def test_replace_starts_anew_and_an_empty_dataset_is_refused(blocks_gpkg: Path, tmp_path: Path):
    boundary = tmp_path / "boundary.geojson"
    read_dataset(blocks_gpkg)["boundary"].to_file(boundary)
    before = blocks_gpkg.read_bytes()
    res = runner.invoke(app, ["import", str(boundary), "-o", str(blocks_gpkg), "--layer", "boundary", "--replace"])
    assert res.exit_code == 2, res.output
    assert "compounds" in res.output and "--allow-empty" in res.output and "Traceback" not in res.output
    assert read_dataset(blocks_gpkg)["compounds"].shape[0] == 4  # nothing changed
    assert blocks_gpkg.read_bytes() == before or len(read_dataset(blocks_gpkg)["roads"]) > 0
    new = tmp_path / "new.gpkg"
    res = runner.invoke(app, ["import", str(boundary), "-o", str(new), "--layer", "boundary"])
    assert res.exit_code == 2 and not new.exists()
    res = runner.invoke(app, ["import", str(boundary), "-o", str(new), "--layer", "boundary", "--allow-empty"])
    assert res.exit_code == 0, res.output
    assert len(read_dataset(new)["boundary"]) == 3
    res = runner.invoke(app, ["import", str(boundary), "-o", str(blocks_gpkg), "--replace", "--allow-empty", "--layer", "boundary"])
    assert res.exit_code == 0, res.output
    assert len(read_dataset(blocks_gpkg)["compounds"]) == 0  # anew: only what was imported
