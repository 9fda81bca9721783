"""How the command line fails: one line on stderr, exit 2 for bad input, 1 (and a logged traceback) for the rest."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from api.cli import app
from api.cli_errors import OneLineErrors, friendly_errors, log_file
from layers.build import build_dataset
from layers.dataset import read_dataset, write_dataset
from layers.reports.kinds import REPORT_KINDS, ReportKind

runner = CliRunner()


@pytest.fixture(autouse=True)
def _log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "logs" / "dangjian.log"
    log.parent.mkdir()
    monkeypatch.setenv("DANGJIAN_LOG_FILE", str(log))
    for name in ("DANGJIAN_LANG", "DANGJIAN_CONFIG", "DANGJIAN_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    return log


@pytest.fixture
def built_gpkg(blocks_gpkg: Path, tmp_path: Path) -> Path:
    return write_dataset(build_dataset(read_dataset(blocks_gpkg)), tmp_path / "built.gpkg")


def _one_line(res) -> str:  # noqa: ANN001 - click's Result
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def test_an_output_in_a_missing_folder_is_exit_2_before_any_work(blocks_gpkg: Path, tmp_path: Path):
    target = tmp_path / "no" / "such" / "r.csv"
    res = runner.invoke(app, ["report", str(blocks_gpkg), "--by", "community", "--format", "csv", "-o", str(target)])
    assert res.exit_code == 2
    line = _one_line(res)
    assert line.startswith("错误/error:") and f"`{tmp_path / 'no' / 'such'}` does not exist" in line
    assert not (tmp_path / "no").exists()


def test_report_files_get_the_umask_mode(built_gpkg: Path, tmp_path: Path):
    old = os.umask(0o027)
    try:
        res = runner.invoke(app, ["report", str(built_gpkg), "--format", "csv", "-o", str(tmp_path / "r.csv")])
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE((tmp_path / "r.csv").stat().st_mode) == 0o640


@pytest.mark.parametrize("command", [["build"], ["serve"], ["report", "--format", "json"]])
def test_a_bad_setting_is_exit_2_naming_its_variable(command: list[str], blocks_gpkg: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DANGJIAN_MINUTES", "-5")
    res = runner.invoke(app, [*command, str(blocks_gpkg)])
    assert res.exit_code == 2
    line = _one_line(res)
    assert line == "错误/error: 设置 DANGJIAN_MINUTES 的值 '-5' 无效: Input should be greater than 0"


def test_a_bad_setting_in_english_and_in_the_config_file(blocks_gpkg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DANGJIAN_MINUTES", "-5")
    res = runner.invoke(app, ["report", str(blocks_gpkg), "--lang", "en"])
    assert _one_line(res) == "错误/error: the setting DANGJIAN_MINUTES = '-5' is invalid: Input should be greater than 0"
    monkeypatch.delenv("DANGJIAN_MINUTES")
    config = tmp_path / "dangjian.toml"
    config.write_text('method = "walk"\n', encoding="utf-8")
    monkeypatch.setenv("DANGJIAN_CONFIG", str(config))
    res = runner.invoke(app, ["report", str(blocks_gpkg), "--lang", "en"])
    assert res.exit_code == 2
    assert f"the setting method in {config} = 'walk' is invalid: Input should be 'circle' or 'network'" in _one_line(res)


def test_an_internal_error_is_exit_1_with_the_traceback_in_the_log(
    built_gpkg: Path, monkeypatch: pytest.MonkeyPatch, _log: Path
):
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the grid\nfell over")

    monkeypatch.setitem(REPORT_KINDS, "gaps", ReportKind(build=boom))
    res = runner.invoke(app, ["report", str(built_gpkg), "--format", "json"])
    assert res.exit_code == 1
    line = _one_line(res)
    assert line == f"内部错误/internal error: RuntimeError: the grid fell over(详情见 {_log})"
    logged = _log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in logged and "in boom" in logged
    assert "RuntimeError: the grid\nfell over" in logged
    assert stat.S_IMODE(_log.stat().st_mode) == 0o600
    res = runner.invoke(app, ["report", str(built_gpkg), "--format", "json", "--lang", "en"])
    assert _one_line(res) == f"内部错误/internal error: RuntimeError: the grid fell over (details in {_log})"
    assert _log.read_text(encoding="utf-8").count("Traceback") == 2  # appended


def test_the_log_goes_to_the_state_folder_else_to_the_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DANGJIAN_LOG_FILE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert log_file() == tmp_path / "state" / "dangjian-map" / "dangjian.log"
    res = runner.invoke(_app_raising(ValueError("no")), [])
    assert res.exit_code == 1
    assert (tmp_path / "state" / "dangjian-map" / "dangjian.log").is_file()  # the state folder is made
    monkeypatch.setenv("DANGJIAN_LOG_FILE", str(tmp_path / "missing" / "x.log"))  # a configured folder is not
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = runner.invoke(_app_raising(ValueError("no")), [])
    fallback = tmp_path / f"dangjian-map-{os.getuid()}.log"
    assert res.exit_code == 1 and str(fallback) in _one_line(res)
    assert "ValueError: no" in fallback.read_text(encoding="utf-8")
    assert not (tmp_path / "missing").exists()


def _app_raising(exc: BaseException) -> typer.Typer:
    bare = typer.Typer(cls=OneLineErrors)

    @bare.command()
    @friendly_errors
    def run() -> None:
        raise exc

    return bare


def test_ctrl_c_is_exit_130_in_one_line():
    res = runner.invoke(_app_raising(KeyboardInterrupt()), [])
    assert res.exit_code == 130
    assert _one_line(res) == "中断/interrupted: 已停止(Ctrl-C)"


def test_exits_pass_through_and_secrets_are_masked(_log: Path):
    assert runner.invoke(_app_raising(typer.Exit(code=3)), []).exit_code == 3
    res = runner.invoke(_app_raising(SystemExit(4)), [])
    assert res.exit_code == 4
    res = runner.invoke(_app_raising(ConnectionError("postgresql://dj:s3cret@db/x refused")), [])
    assert res.exit_code == 1 and "s3cret" not in res.output and "postgresql://dj:***@db/x" in res.output
    assert "s3cret" not in _log.read_text(encoding="utf-8")


def test_a_bad_option_is_one_line_exit_2(blocks_gpkg: Path):
    res = runner.invoke(app, ["report", str(blocks_gpkg), "--minutes", "5"])
    assert res.exit_code == 2
    assert _one_line(res) == "错误/error: No such option: --minutes (用法见 dangjian report --help)"
    res = runner.invoke(app, ["build", str(blocks_gpkg), "--minutes", "abc"])
    assert res.exit_code == 2
    assert "Invalid value for '--minutes'" in _one_line(res)


def test_every_command_fails_the_same_way():
    commands = [(c.name or c.callback.__name__, c.callback) for c in app.registered_commands]
    for group in app.registered_groups:
        commands += [(f"{group.name} {c.name}", c.callback) for c in group.typer_instance.registered_commands]
    assert {"build", "coverage", "report", "optimize", "import", "batch", "serve", "token create"} <= {n for n, _ in commands}
    unwrapped = [name for name, callback in commands if not getattr(callback, "__dangjian_friendly_errors__", False)]
    assert unwrapped == []
