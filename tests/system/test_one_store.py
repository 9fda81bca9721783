"""One dataset, one store, many processes: rebuilds, imports and kills while two workers serve and editors write.

``dangjian serve --workers 2`` runs as a subprocess on a copy of the block
district (walking network) while twenty editors PATCH their own compound over
HTTP, each waiting for its answer before the next edit.  Meanwhile
``dangjian build`` runs three times in its own process, with other minutes.
After each build the file's ``PRAGMA integrity_check`` is ``ok``; at the end
every acknowledged edit is stored with the version it answered, the token
still works, each edit has its audit entry, and the servers show the last
build without a restart.

Then ``kill -9`` ten times each of a running ``dangjian build`` and of a
``dangjian import`` (one layer) at a random moment: the file stays whole, and
the dataset is wholly the previous revision or wholly the new one.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from layers.dataset import read_dataset, write_dataset
from layers.rebuild import build_state
from layers.store import Role, open_store
from tests.helpers import block_layers, local, make_dataset, reads, square, writes

pytestmark = pytest.mark.slow

DANGJIAN = Path(sys.executable).with_name("dangjian")
EDITORS = 20
EDITS_EACH = 4
SEED = 20261201


def _integrity(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGJIAN_")}
    env.update({"DANGJIAN_DATA_DIR": str(tmp / "data"), "XDG_STATE_HOME": str(tmp / "state")})
    return env


@pytest.fixture
def district(tmp_path: Path) -> Path:
    """The block district with twenty compounds (one per editor), walking network, built in place."""
    import geopandas as gpd

    layers = block_layers()
    cells = [(60 + (i % 5) * 180, 60 + (i // 5) * 220) for i in range(EDITORS)]
    layers["compounds"] = local(
        gpd.GeoDataFrame(
            {
                "id": [f"K{i:02d}" for i in range(EDITORS)],
                "name": [f"小区{i}" for i in range(EDITORS)],
                "households": [100 + i for i in range(EDITORS)],
            },
            geometry=[square(x, y, 20) for x, y in cells],
        )
    )
    path = write_dataset(make_dataset(layers), tmp_path / "district.gpkg")
    res = subprocess.run([str(DANGJIAN), "build", str(path), "--method", "network"], env=_env(tmp_path), capture_output=True)
    assert res.returncode == 0, res.stderr.decode()
    return path


def test_rebuilds_while_two_workers_serve_and_twenty_editors_write(district: Path, tmp_path: Path):
    with open_store(district) as store:
        token = writes(store).create_token(Role.editor, actor="test").token
        audit_before = len(reads(store).audit())
    url = _start_two_workers(district, tmp_path)
    acknowledged: dict[str, tuple[int, str]] = {}
    answered: list[tuple[str, int]] = []
    failures: list[str] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}"}

    def editor(i: int) -> None:
        fid = f"K{i:02d}"
        with httpx.Client(base_url=url, timeout=120, headers=headers) as c:
            for n in range(EDITS_EACH):
                got = c.get(f"/collections/compounds/items/{fid}")
                if got.status_code != 200:
                    failures.append(f"{fid} GET {got.status_code}")
                    return
                name = f"编辑{i}-{n}"
                res = c.patch(
                    f"/collections/compounds/items/{fid}",
                    json={"properties": {"name": name}},
                    headers={"If-Match": got.headers["ETag"]},
                )
                if res.status_code != 200:
                    failures.append(f"{fid} PATCH {res.status_code} {res.text[:200]}")
                    return
                with lock:
                    acknowledged[fid] = (int(res.headers["ETag"].strip('"')), name)
                    answered.append((fid, acknowledged[fid][0]))

    threads = [threading.Thread(target=editor, args=(i,)) for i in range(EDITORS)]
    try:
        for t in threads:
            t.start()
        for minutes in (11, 9, 13):
            res = subprocess.run(
                [str(DANGJIAN), "build", str(district), "--minutes", str(minutes)], env=_env(tmp_path), capture_output=True
            )
            assert res.returncode == 0, res.stderr.decode()
            assert _integrity(district) == "ok"
        for t in threads:
            t.join(timeout=300)
        assert not failures, failures
        assert len(acknowledged) == EDITORS
        # the servers follow the newest revision without a restart
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = {httpx.get(f"{url}/coverage/summary", timeout=30).json()["minutes"] for _ in range(4)}
            if shown == {13}:
                break
            time.sleep(0.5)
        assert shown == {13}
    finally:
        _stop(tmp_path)
    assert _integrity(district) == "ok"
    with open_store(district) as store:
        compounds = reads(store).read_layer("compounds", versions=True).set_index("id")
        for fid, (version, name) in acknowledged.items():
            assert compounds.loc[fid, "name"] == name, fid
            assert compounds.loc[fid, "version"] == version, fid
        assert store.verify_token(token) is not None
        entries = reads(store).audit(layer="compounds", limit=100_000)
        audited = {(e.feature_id, e.version) for e in entries if e.action == "update"}
        assert len(answered) == EDITORS * EDITS_EACH
        assert set(answered) <= audited  # every acknowledged edit has its audit entry
        assert len(reads(store).audit(limit=100_000)) > audit_before
        with store.snapshot() as snap:
            assert build_state(snap) == "current"
        assert reads(store).get_meta()["params"]["minutes"] == 13


_WORKERS: dict[str, subprocess.Popen[bytes]] = {}


def _start_two_workers(district: Path, tmp_path: Path) -> str:
    from tests.pgcluster import free_port

    port = free_port()
    env = _env(tmp_path)
    env["DANGJIAN_RATE_LIMIT_PER_MINUTE"] = "0"
    log = open(tmp_path / "workers.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [str(DANGJIAN), "serve", str(district), "--port", str(port), "--workers", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    _WORKERS[str(tmp_path)] = proc
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "workers.log").read_text()[-3000:]
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("two workers did not answer /health within 90 s")


def _stop(tmp_path: Path) -> None:
    proc = _WORKERS.pop(str(tmp_path), None)
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _revision_state(path: Path) -> tuple[int, float, int, str]:
    """(revision, stored minutes, boundary rows, build state) as the store holds them."""
    with open_store(path) as store, store.snapshot() as snap:
        meta = snap.get_meta()
        rows = {i.name: i.rows for i in snap.list_layers()}
        return snap.revision, float(meta["params"]["minutes"]), rows.get("boundary", 0), build_state(snap)


@pytest.mark.parametrize("command", ["build", "import"])
def test_kill_9_of_a_build_or_an_import_leaves_one_whole_revision(district: Path, tmp_path: Path, command: str):
    rng = random.Random(SEED + len(command))
    boundary = tmp_path / "boundary.geojson"
    read_dataset(district)["boundary"].iloc[:1].to_file(boundary)
    env = _env(tmp_path)
    cut = whole = 0
    for i in range(10):
        before = _revision_state(district)
        if command == "build":
            minutes = 7 + i
            args = [str(DANGJIAN), "build", str(district), "--minutes", str(minutes)]
        else:
            args = [str(DANGJIAN), "import", str(boundary), "-o", str(district), "--layer", "boundary"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(1.0, 4.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            cut += 1
        proc.wait(timeout=60)
        whole += proc.returncode == 0
        assert _integrity(district) == "ok", i
        after = _revision_state(district)
        if after[0] == before[0]:
            assert after == before, i  # wholly the previous revision
        elif command == "build":
            assert after[0] > before[0] and after[1] == minutes and after[3] == "current", (i, after)
        else:
            assert after[2] == 1 and after[1] == before[1], (i, after)  # wholly the new boundary, the rest kept
        if command == "import" and after[2] == 1:  # put the full boundary back for the next round
            with open_store(district) as store:
                writes(store).write_layer("boundary", make_dataset(block_layers())["boundary"], actor="test")
    assert cut > 0  # at least some processes were cut off
