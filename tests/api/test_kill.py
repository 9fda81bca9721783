"""SIGKILL the real HTTP server while edits are in flight: nothing acknowledged is lost, nothing is half-applied.

``dangjian serve`` runs as a subprocess (its own process group, loopback
only) on a GeoPackage store of the 3 x 3 block district built at 5 minutes
with the walking network.  Each round restarts it, sends a few edits of
centres and compounds and waits for their answers, then sends one or two more
and kills the process group after a random delay of up to about one edit's
duration.  After each kill, with the server down:

(a) the file opens and ``PRAGMA integrity_check`` says ``ok``;
(b) every edit answered 2xx is stored with the version it answered; an edit
    cut off is either wholly there (all its values, the next version) or
    not at all;
(c) the stored coverage columns of the compounds equal a fresh full
    recomputation from the stored centres and compounds with the stored build
    parameters, and the stored circles and walking service areas belong to
    the same centres as a fresh computation draws them for;
(d) the summary in ``meta`` matches the stored compounds.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geo.errors import NotFoundError
from layers.build import BuildParams, build_dataset, coverage_layers, summarize
from layers.dataset import Dataset
from layers.store import Role, open_store
from tests.conftest import LOCAL, ORIGIN, block_layers, make_dataset

#: Kill rounds; each restarts the server (about 2 s: mostly imports) and sends 2 to 4 edits.
ROUNDS = 6
SEED = 20261124
DANGJIAN = Path(sys.executable).with_name("dangjian")
_TO_WGS84 = Transformer.from_crs(LOCAL, 4326, always_xy=True)


def lonlat(x: float, y: float) -> list[float]:
    """Local metres of the block fixture -> ``[lon, lat]``."""
    lon, lat = _TO_WGS84.transform(x + ORIGIN[0], y + ORIGIN[1])
    return [lon, lat]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Servers:
    """Starts ``dangjian serve`` on ``path`` in its own process group; kills every group it started."""

    def __init__(self, path: Path, log: Path) -> None:
        self.path = path
        self.log = log
        self.started: list[subprocess.Popen[bytes]] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DANGJIAN_")}
        self.env.update({"DANGJIAN_RATE_LIMIT_PER_MINUTE": "0", "XDG_CACHE_HOME": str(log.parent / "cache")})

    def start(self) -> str:
        """Start a server and wait until ``/health`` answers; its base URL."""
        port = _free_port()
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(
                [str(DANGJIAN), "serve", str(self.path), "--host", "127.0.0.1", "--port", str(port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.started.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=url, timeout=1) as poll:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"the server exited with {proc.returncode}:\n{self.log.read_text()[-3000:]}")
                try:
                    if poll.get("/health").status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        pytest.fail(f"the server did not answer /health within 60 s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the process group of every server still running and reap it."""
        for proc in self.started:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=30)


@dataclass
class Edit:
    """One request and what the feature holds if it was applied."""

    method: str
    layer: str
    feature_id: str
    body: dict[str, Any] | None
    if_match: int | None = None
    status: int | None = None  # None: no answer (cut off by the kill)
    version: int | None = None

    def send(self, client: httpx.Client) -> None:
        url = f"/collections/{self.layer}/items" + ("" if self.method == "POST" else f"/{self.feature_id}")
        headers = {} if self.if_match is None else {"If-Match": f'"{self.if_match}"'}
        try:
            res = client.request(self.method, url, json=self.body, headers=headers)
        except httpx.TransportError:
            return
        self.status = res.status_code
        if res.status_code < 300:
            self.version = int(res.headers["etag"].strip('"'))


@dataclass
class Known:
    """What the test knows of a feature: its version and the values it was given (``None``: deleted)."""

    version: int
    properties: dict[str, Any] | None
    point: list[float] | None = None


@pytest.fixture
def served_file(tmp_path: Path) -> tuple[Path, str]:
    """A GeoPackage store of the block district (walking network, 5 minutes) and an editor token in it."""
    path = tmp_path / "blocks.gpkg"
    built = build_dataset(make_dataset(block_layers()), BuildParams(minutes=5, method="network"))
    with open_store(path) as store:
        store.import_dataset(built, actor="test")
        token = store.create_token(Role.editor, actor="test", name="kill test").token
    return path, token


@pytest.fixture
def servers(served_file: tuple[Path, str], tmp_path: Path) -> Iterator[Servers]:
    found = Servers(served_file[0], tmp_path / "server.log")
    try:
        yield found
    finally:
        found.kill()


def _stored_params(meta: dict[str, Any]) -> BuildParams:
    known = {f.name for f in fields(BuildParams)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["params"].items() if k in known}
    return BuildParams(**values)


def _centre_ids(frame: gpd.GeoDataFrame) -> list[str]:
    return sorted(frame["center_id"].astype(str)) if len(frame) else []


def _check_consistent(dataset: Dataset, where: str) -> None:
    """(c) and (d): coverage, circles and service areas as a fresh computation has them; the summary matches."""
    fresh = coverage_layers(dataset, _stored_params(dataset.meta))
    stored = dataset["compounds"].set_index("id").sort_index()
    again = fresh["compounds"].set_index("id").sort_index()
    assert list(stored.index) == list(again.index), where
    assert stored["covered"].astype(bool).tolist() == again["covered"].astype(bool).tolist(), (where, stored["covered"], again["covered"])
    nearest = [pd.Series(f["nearest_center"]).fillna("").astype(str).tolist() for f in (stored, again)]
    assert nearest[0] == nearest[1], (where, nearest)
    walk = [f["walk_m"].astype(float).to_numpy() for f in (stored, again)]
    assert np.allclose(walk[0], walk[1], atol=0.01, equal_nan=True), (where, walk)
    for layer in ("circles", "service_areas"):
        assert _centre_ids(dataset[layer]) == _centre_ids(fresh[layer]), (where, layer)
    summary = dataset.meta["summary"]
    counted = summarize(dataset)
    for key in ("compounds", "households", "centers"):
        assert summary[key] == counted[key], (where, key, summary[key], counted[key])


def _check_after_kill(path: Path, known: dict[tuple[str, str], Known], cut: list[Edit], where: str) -> None:
    """(a) to (d) on the file of a killed server; ``known`` learns the fate of the ``cut`` edits."""
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], where
    with open_store(path) as store:
        for edit in cut:  # cut off: wholly applied (the next version, all its values) or not at all
            key = (edit.layer, edit.feature_id)
            before = known.get(key)
            try:
                now = store.get_feature(*key)
            except NotFoundError:
                now = None
            if edit.method == "DELETE":
                assert now is None or (before is not None and now.version == before.version), (where, edit, now)
                if now is None:
                    known[key] = Known(before.version + 1 if before else 0, None)
            elif now is not None and (before is None or before.properties is None or now.version != before.version):
                assert now.version == (1 if before is None else before.version + 1), (where, edit, now)
                merged = {**(before.properties or {} if before else {}), **(edit.body or {}).get("properties", {})}
                point = (edit.body or {}).get("geometry", {}).get("coordinates") or (before.point if before else None)
                known[key] = Known(now.version, merged, point)
        for (layer, feature_id), fact in known.items():  # every acknowledged edit is there with its version
            if fact.properties is None:
                with pytest.raises(NotFoundError):
                    store.get_feature(layer, feature_id)
                continue
            got = store.get_feature(layer, feature_id)
            assert got.version == fact.version, (where, layer, feature_id, got.version, fact.version)
            for name, value in fact.properties.items():
                assert got.properties[name] == value, (where, layer, feature_id, name, got.properties[name], value)
            if fact.point is not None:
                assert np.allclose(got.to_geojson()["geometry"]["coordinates"], fact.point, atol=1e-6), (where, feature_id)
        dataset = store.export_dataset()
    _check_consistent(dataset, where)


def _next_edit(rng: random.Random, known: dict[tuple[str, str], Known], serial: int) -> Edit:
    """A random edit of a centre (add, move, rename, status) or a compound (households) the test knows."""
    live = [key for key, fact in known.items() if fact.properties is not None]
    centres = [key for key in live if key[0] == "centers"]
    choice = rng.random()
    if choice < 0.3 or not centres:
        point = lonlat(rng.uniform(0, 900), rng.uniform(0, 900))
        body = {"type": "Feature", "id": f"K{serial}", "geometry": {"type": "Point", "coordinates": point},
                "properties": {"name": f"新{serial}", "level": rng.choice(["community", "compound"]), "status": "existing"}}
        return Edit("POST", "centers", f"K{serial}", body)
    if choice < 0.85:
        layer, feature_id = rng.choice(centres)
        patch: dict[str, Any] = {"properties": {"name": f"改{serial}"}}
        if rng.random() < 0.6:
            patch["geometry"] = {"type": "Point", "coordinates": lonlat(rng.uniform(0, 900), rng.uniform(0, 900))}
        if rng.random() < 0.3:
            patch["properties"]["status"] = rng.choice(["existing", "planned"])
        return Edit("PATCH", layer, feature_id, patch, if_match=known[(layer, feature_id)].version)
    if choice < 0.93:
        feature_id = rng.choice(["A", "B", "C", "D"])
        patch = {"properties": {"households": rng.randrange(50, 2000)}}
        return Edit("PATCH", "compounds", feature_id, patch, if_match=known[("compounds", feature_id)].version)
    layer, feature_id = rng.choice(centres)
    return Edit("DELETE", layer, feature_id, None, if_match=known[(layer, feature_id)].version)


def _learn(known: dict[tuple[str, str], Known], edit: Edit) -> None:
    """``known`` after an edit answered 2xx."""
    key = (edit.layer, edit.feature_id)
    assert edit.status is not None and edit.version is not None
    if edit.method == "DELETE":
        known[key] = Known(edit.version, None)
        return
    before = known.get(key)
    merged = {**((before.properties or {}) if before else {}), **(edit.body or {}).get("properties", {})}
    point = (edit.body or {}).get("geometry", {}).get("coordinates") or (before.point if before else None)
    known[key] = Known(edit.version, merged, point)


def test_killing_the_server_mid_edit_loses_nothing_acknowledged_and_half_applies_nothing(
    servers: Servers, served_file: tuple[Path, str]
) -> None:
    path, token = served_file
    rng = random.Random(SEED)
    with open_store(path) as store:
        known = {(layer, str(fid)): Known(1, {}) for layer in ("centers", "compounds") for fid in store.read_layer(layer)["id"]}
    headers = {"Authorization": f"Bearer {token}"}
    serial = 0
    durations: list[float] = []
    for round_ in range(ROUNDS):
        url = servers.start()
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(rng.randint(1, 2)):  # answered edits
                serial += 1
                edit = _next_edit(rng, known, serial)
                t0 = time.perf_counter()
                edit.send(client)
                durations.append(time.perf_counter() - t0)
                assert edit.status is not None and edit.status < 300, (round_, edit)
                _learn(known, edit)
            cut = []  # edits in flight at the kill, on distinct features, one or two at once
            for _ in range(rng.randint(1, 2)):
                serial += 1
                edit = _next_edit(rng, known, serial)
                if all((e.layer, e.feature_id) != (edit.layer, edit.feature_id) for e in cut):
                    cut.append(edit)
            threads = [threading.Thread(target=edit.send, args=(client,)) for edit in cut]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0, float(np.median(durations))))
            servers.kill()
            for thread in threads:
                thread.join(timeout=30)
        for edit in cut:
            if edit.status is not None and edit.status < 300:  # answered just before the kill
                _learn(known, edit)
        assert all(e.status is None or e.status < 300 for e in cut), cut
        still_open = [e for e in cut if e.status is None]
        _check_after_kill(path, known, still_open, f"round {round_} (seed {SEED}), cut off: {still_open}")


def test_the_consistency_check_sees_an_edit_without_its_recomputation(served_file: tuple[Path, str]) -> None:
    path, _ = served_file
    with open_store(path) as store:
        _check_consistent(store.export_dataset(), "as built")
        far = shapely.Point(lonlat(2000, 2000))
        store.update_feature("centers", "S1", expected_version=1, geometry=far, actor="test")  # no recomputation
        with pytest.raises(AssertionError):
            _check_consistent(store.export_dataset(), "centre moved")
        store.update_feature("centers", "S1", expected_version=2, geometry=shapely.Point(lonlat(150, 300)), actor="test")
        _check_consistent(store.export_dataset(), "moved back")
        store.update_feature("compounds", "A", expected_version=1, properties={"households": 1}, actor="test")
        with pytest.raises(AssertionError, match="households"):
            _check_consistent(store.export_dataset(), "households changed")
