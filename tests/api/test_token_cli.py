"""``dangjian token``: a token printed once, verified by the store, listed without its secret, revoked."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from layers.dataset import Dataset, write_dataset
from layers.store import Role, open_store
from tests.helpers import reads, writes

runner = CliRunner()


@pytest.fixture
def district(blocks: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DANGJIAN_DATABASE_URL", raising=False)
    return write_dataset(blocks, tmp_path / "district.gpkg")


def test_token_create_list_revoke(district: Path) -> None:
    res = runner.invoke(app, ["token", "create", str(district), "--role", "editor", "--name", "街道办"])
    assert res.exit_code == 0, res.output
    token = res.stdout.strip().splitlines()[0]
    assert token.startswith("dj_")
    with open_store(district) as store:
        info = store.verify_token(token)
        assert info is not None and info.role is Role.editor and info.name == "街道办"
        assert reads(store).audit()[-1].actor.startswith("cli:")

    listed = runner.invoke(app, ["token", "list", str(district)])
    assert listed.exit_code == 0 and info.id in listed.stdout and "editor" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout and token.split("_", 2)[2] not in listed.stdout

    revoked = runner.invoke(app, ["token", "revoke", info.id, str(district)])
    assert revoked.exit_code == 0, revoked.output
    with open_store(district) as store:
        assert store.verify_token(token) is None
    assert "revoked" in runner.invoke(app, ["token", "list", str(district)]).stdout


def test_token_errors_are_one_line_and_exit_2(district: Path) -> None:
    res = runner.invoke(app, ["token", "create", str(district), "--role", "root"])
    assert res.exit_code == 2 and "viewer, planner, editor, admin" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["token", "revoke", "deadbeef", str(district)])
    assert res.exit_code == 2 and "no token `deadbeef`" in res.output


def test_a_legacy_built_copy_is_adopted_once_with_its_tokens_and_edits(district: Path) -> None:
    from layers.build import build_dataset
    from layers.dataset import read_dataset

    # what an earlier version left: serve built `district.built.gpkg`, tokens and edits went there
    copy = write_dataset(build_dataset(read_dataset(district)), district.with_name("district.built.gpkg"))
    with open_store(copy) as store:
        old = writes(store).create_token(Role.editor, actor="test")
        writes(store).update_feature("centers", "S3", properties={"status": "existing"}, expected_version=None, actor="test")
        edits = len(reads(store).audit())
    res = runner.invoke(app, ["token", "list", str(district)])
    assert res.exit_code == 0, res.output
    assert old.info.id in res.stdout  # adopted into the dataset's own store
    assert "district.built.gpkg" in res.output  # with a one-line notice
    with open_store(district) as store:
        assert store.verify_token(old.token) is not None
        assert reads(store).read_layer("centers").set_index("id").loc["S3", "status"] == "existing"  # the newer copy's layers won
        assert reads(store).get_feature("centers", "S3").version >= 2
        assert sum(e.actor == "test" for e in reads(store).audit()) >= edits - 1
        adopted = len(reads(store).get_meta()["adopted_copies"])
    again = runner.invoke(app, ["token", "list", str(district)])
    assert "district.built.gpkg" not in again.output  # only once
    with open_store(district) as store:
        assert len(reads(store).get_meta()["adopted_copies"]) == adopted == 1
    assert copy.exists()  # left alone: another process may still have it open


def test_token_revoke_with_its_arguments_swapped_is_exit_2_and_creates_no_file(
    district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19, finding 8: the token id read as the dataset path made an empty GeoPackage named after it."""
    monkeypatch.chdir(tmp_path)
    with open_store(district) as store:
        tid = writes(store).create_token(Role.editor, actor="test").info.id
    before = sorted(p.name for p in tmp_path.iterdir())
    res = runner.invoke(app, ["token", "revoke", str(district), tid])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [f"错误/error: 数据集 `{tid}` 不存在(命令的参数顺序是否颠倒?)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no empty dataset named after the token
    with open_store(district) as store:
        assert [t.revoked_at for t in reads(store).list_tokens() if t.id == tid] == [None]  # nothing revoked
