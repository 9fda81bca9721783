"""``dangjian serve``: build once beside the source, rebuild when stale, then hand the app to uvicorn."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import layers.dataset
from api.cli import app as cli
from api.commands import serve as serve_mod
from api.commands.serve import ensure_built, is_built_file, tcp_socket
from layers.build import BuildParams

runner = CliRunner()


def test_builds_beside_the_source_then_reuses_it(blocks_gpkg: Path):
    params = BuildParams()
    built, fresh = ensure_built(blocks_gpkg, params)
    assert fresh and built == blocks_gpkg.with_name("blocks.built.gpkg")
    assert is_built_file(built) and not is_built_file(blocks_gpkg)
    again, fresh = ensure_built(blocks_gpkg, params)
    assert again == built and not fresh
    assert ensure_built(built, params) == (built, False)  # a built file is served as it is


def test_rebuilds_when_the_source_is_newer_or_the_parameters_differ(blocks_gpkg: Path):
    built, _ = ensure_built(blocks_gpkg, BuildParams())
    _, fresh = ensure_built(blocks_gpkg, BuildParams(minutes=10))
    assert fresh
    stamp = built.stat().st_mtime
    os.utime(blocks_gpkg, (stamp + 10, stamp + 10))
    _, fresh = ensure_built(blocks_gpkg, BuildParams(minutes=10))
    assert fresh


def test_a_read_only_folder_falls_back_to_the_cache(blocks_gpkg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real = layers.dataset.write_dataset

    def refuse_beside(ds: Any, path: Any) -> Path:
        if Path(path).parent == blocks_gpkg.parent:
            raise PermissionError(13, "read-only", str(path))
        return real(ds, path)

    monkeypatch.setattr(serve_mod, "write_dataset", refuse_beside)
    built, fresh = ensure_built(blocks_gpkg, BuildParams())
    assert fresh and built == tmp_path / "cache" / "dangjian-map" / "blocks.built.gpkg"
    assert ensure_built(blocks_gpkg, BuildParams()) == (built, False)


def test_missing_dataset_is_exit_2(tmp_path: Path):
    res = runner.invoke(cli, ["serve", str(tmp_path / "none.gpkg")])
    assert res.exit_code == 2
    assert "does not exist" in res.output


def test_serve_builds_prints_the_map_url_and_runs_uvicorn(blocks_gpkg: Path, monkeypatch: pytest.MonkeyPatch):
    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen["app"], seen["kwargs"] = app, kwargs

    monkeypatch.setattr(uvicorn, "run", fake_run)
    res = runner.invoke(cli, ["serve", str(blocks_gpkg), "--port", "8123"])
    assert res.exit_code == 0, res.output
    assert "http://127.0.0.1:8123/maps/coverage" in res.output
    assert seen["kwargs"] == {"host": "127.0.0.1", "port": 8123, "log_level": "info"}
    state = seen["app"].state.dangjian
    assert state.loaded  # loaded before the first request
    assert state.dataset().path == blocks_gpkg.with_name("blocks.built.gpkg")
    with TestClient(seen["app"]) as c:
        assert c.get("/coverage/summary").json()["households"]["total"] == 1900


def test_worker_socket_is_tcp_so_nagle_is_off():
    sock = tcp_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio only sets TCP_NODELAY on such sockets
        assert sock.get_inheritable()
    finally:
        sock.close()
