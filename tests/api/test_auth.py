"""Bearer tokens over HTTP: a revoked token gets 401 on the next request, in this process and in every worker.

The app keeps no token cache of its own: each request asks the store, whose
check reads the token revision, so ``dangjian token revoke`` counts at once
in every server worker.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import psutil
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.auth import Caller, require
from api.cli import app as cli
from api.errors import install_error_handlers
from layers.dataset import Dataset, write_dataset
from layers.store import Role, open_store
from tests.api.helpers import bearer
from tests.helpers import writes
from tests.pgcluster import free_port

DANGJIAN = Path(sys.executable).with_name("dangjian")
runner = CliRunner()


def _editor_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/whoami")
    async def whoami(caller: Annotated[Caller, Depends(require(Role.editor))]) -> dict[str, str]:
        return {"actor": caller.actor}

    return app


def test_a_token_revoked_through_another_store_gets_401_on_the_next_request(tmp_path: Path) -> None:
    path = tmp_path / "tokens.gpkg"
    with open_store(path) as served, open_store(path) as other:
        app = _editor_app()
        app.state.token_store = served
        editor = writes(other).create_token(Role.editor, actor="cli:root")
        viewer = writes(other).create_token(Role.viewer, actor="cli:root")
        with TestClient(app) as client:
            for _ in range(3):
                assert client.get("/whoami", headers=bearer(editor.token)).json() == {"actor": f"token:{editor.info.id}"}
            assert client.get("/whoami", headers=bearer(viewer.token)).status_code == 403
            writes(other).revoke_token(editor.info.id, actor="cli:root")
            res = client.get("/whoami", headers=bearer(editor.token))
            assert res.status_code == 401 and "已撤销" in res.json()["detail"]


# ---------------------------------------------------------------------------
# a real server with two workers


@pytest.fixture
def served(blocks_built: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, int, psutil.Process]]:
    """``dangjian serve --workers 2`` on a built block district: (its file, its port, the serving process)."""
    for key in [k for k in os.environ if k.startswith("DANGJIAN_")]:
        monkeypatch.delenv(key)
    path = write_dataset(blocks_built, tmp_path / "district.gpkg")  # already built: served as it is
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGJIAN_")}
    env.update({"DANGJIAN_RATE_LIMIT_PER_MINUTE": "0", "XDG_CACHE_HOME": str(tmp_path / "cache")})
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(DANGJIAN), "serve", str(path), "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if _ask(port, "/health", None)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /health within 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield path, port, psutil.Process(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def _ask(port: int, path: str, token: str | None, server: psutil.Process | None = None) -> tuple[int, int | None]:
    """GET ``path`` on a fresh connection: (status, pid of the worker that answered, when ``server`` is given)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=bearer(token) if token else {})
        res = conn.getresponse()
        res.read()
        if server is None:
            return res.status, None
        mine = conn.sock.getsockname()[1]  # the worker still holds the kept-alive connection
        for worker in server.children(recursive=True):
            try:
                if any(c.raddr and c.raddr.port == mine for c in worker.net_connections(kind="tcp")):
                    return res.status, worker.pid
            except psutil.Error:
                continue
        return res.status, None
    finally:
        conn.close()


def _statuses_of_both_workers(port: int, token: str, server: psutil.Process) -> dict[int, set[int]]:
    """The statuses each worker answers ``GET /audit`` with, asking on fresh connections until both have answered."""
    seen: dict[int, set[int]] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        status, pid = _ask(port, "/audit?limit=1", token, server)
        if pid is not None:
            seen.setdefault(pid, set()).add(status)
    assert len(seen) >= 2, f"only workers {sorted(seen)} answered"
    return seen


@pytest.mark.slow
def test_a_token_revoked_by_the_cli_gets_401_from_every_worker_at_once(served: tuple[Path, int, psutil.Process]) -> None:
    path, port, server = served
    made = runner.invoke(cli, ["token", "create", str(path), "--role", "editor"])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    before = _statuses_of_both_workers(port, token, server)  # each worker has checked (and cached) the token
    assert all(v == {200} for v in before.values()), before

    revoked = runner.invoke(cli, ["token", "revoke", token, str(path)])
    assert revoked.exit_code == 0, revoked.output
    after = _statuses_of_both_workers(port, token, server)
    assert set(after) == set(before) and all(v == {401} for v in after.values()), after

    made = runner.invoke(cli, ["token", "create", str(path), "--role", "editor"])  # and a new one works at once
    fresh = made.stdout.strip().splitlines()[0]
    assert all(v == {200} for v in _statuses_of_both_workers(port, fresh, server).values())
