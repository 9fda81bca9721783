"""``dangjian serve``: build the dataset in place when needed (never a second file), then hand the app to uvicorn."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.commands.serve import ensure_built, tcp_socket
from api.settings import Settings
from layers.dataset import read_dataset
from layers.rebuild import build_state
from layers.store import open_store
from tests.helpers import reads, writes

runner = CliRunner()


def _state(path: Path) -> str:
    with open_store(path) as store, store.snapshot() as snap:
        return build_state(snap)


def test_builds_in_place_then_reuses_it(blocks_gpkg: Path):
    assert _state(blocks_gpkg) == "unbuilt"
    with open_store(blocks_gpkg) as store:
        done = ensure_built(store, Settings())
        assert done is not None and done.params.minutes == 15
        assert ensure_built(store, Settings()) is None  # current: nothing recomputed
    assert _state(blocks_gpkg) == "current"
    assert sorted(p.name for p in blocks_gpkg.parent.glob("*.gpkg")) == ["blocks.gpkg"]  # no second file
    ds = read_dataset(blocks_gpkg)
    assert {"units", "grids", "cells", "circles"} <= set(ds.layers)
    assert ds["compounds"].set_index("id")["covered"].to_dict() == {"A": True, "B": True, "C": True, "D": True}


def test_other_settings_do_not_rebuild_a_built_dataset(blocks_gpkg: Path):
    with open_store(blocks_gpkg) as store:
        ensure_built(store, Settings())
        assert ensure_built(store, Settings(minutes=10)) is None
        assert reads(store).get_meta()["params"]["minutes"] == 15  # the dataset's own defaults stay


def test_a_changed_input_makes_it_stale_and_it_is_rebuilt(blocks_gpkg: Path):
    with open_store(blocks_gpkg) as store:
        ensure_built(store, Settings())
        roads = reads(store).read_layer("roads")
        writes(store).write_layer("roads", roads.iloc[:-1], actor="test")
    assert _state(blocks_gpkg) == "stale"
    with open_store(blocks_gpkg) as store:
        done = ensure_built(store, Settings(minutes=10))
        assert done is not None and done.params.minutes == 15  # rebuilt with the stored parameters
    assert _state(blocks_gpkg) == "current"


def test_missing_dataset_is_exit_2(tmp_path: Path):
    res = runner.invoke(cli, ["serve", str(tmp_path / "none.gpkg"), "--port", "0"])
    assert res.exit_code == 2
    assert "不存在" in res.output


def test_a_busy_port_is_one_line_and_exit_2(blocks_gpkg: Path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        res = runner.invoke(cli, ["serve", str(blocks_gpkg), "--port", str(port)])
    finally:
        taken.close()
    assert res.exit_code == 2, res.output
    assert f"127.0.0.1:{port}" in res.output and "--port" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert _state(blocks_gpkg) == "unbuilt"  # refused before building anything


def test_serve_builds_in_place_prints_the_map_url_and_runs_uvicorn(blocks_gpkg: Path, monkeypatch: pytest.MonkeyPatch):
    seen: dict[str, Any] = {}

    def fake_run(server: uvicorn.Server, sockets: Any = None) -> None:
        seen["app"], seen["sockets"] = server.config.app, sockets

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    token = runner.invoke(cli, ["token", "create", str(blocks_gpkg), "--role", "editor"]).stdout.strip().splitlines()[0]
    res = runner.invoke(cli, ["serve", str(blocks_gpkg), "--port", "0"])
    assert res.exit_code == 0, res.output
    assert "/maps/coverage" in res.output
    assert len(seen["sockets"]) == 1 and seen["sockets"][0].fileno() == -1  # bound up front, closed after the run
    state = seen["app"].state.dangjian
    assert state.loaded  # loaded before the first request
    assert state.dataset().path == blocks_gpkg.resolve()  # the dataset's own file is the store
    assert state.store.verify_token(token) is not None  # a token created before the first serve works
    with TestClient(seen["app"]) as c:
        assert c.get("/coverage/summary").json()["households"]["total"] == 1900


def test_worker_socket_is_tcp_so_nagle_is_off():
    sock = tcp_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio only sets TCP_NODELAY on such sockets
        assert sock.get_inheritable()
    finally:
        sock.close()


def test_a_server_with_other_settings_shows_them_as_a_variant_and_changes_nothing_stored(blocks_gpkg: Path):
    from api.app import create_app

    with open_store(blocks_gpkg) as store:
        ensure_built(store, Settings(method="circle"))
        revision = store.revision()
    with TestClient(create_app(Settings(dataset=blocks_gpkg, minutes=5))) as other:
        shown = other.get("/coverage/summary").json()
        assert shown["minutes"] == 5 and shown["variant"] != "built"
        assert shown["households"]["covered"] == 1400  # A and C within 333 m (worked out by hand)
    with TestClient(create_app(Settings(dataset=blocks_gpkg))) as plain:
        shown = plain.get("/coverage/summary").json()
        assert shown["minutes"] == 15 and shown["variant"] == "built"
    with open_store(blocks_gpkg) as store:
        assert store.revision() == revision and reads(store).get_meta()["params"]["minutes"] == 15
