"""SIGKILL the real HTTP server mid-edit and mid-import: nothing acknowledged is lost, nothing is half-applied.

``dangjian serve`` runs as a subprocess (its own process group, loopback
only) on the 3 x 3 block district built at 5 minutes with the walking network,
stored in its GeoPackage or in a PostGIS schema.  Each round restarts it,
sends one to three edits of centres and compounds at once (the first runs
alone, those arriving meanwhile commit as one batch, each in its own
savepoint) and waits for their answers, then sends one (first round) or three
more at once and kills the process group after a random delay of up to about
two batches' duration.  After each kill, with the server down:

(a) GeoPackage: the file opens and ``PRAGMA integrity_check`` says ``ok``;
    PostGIS: no session of the killed server is left (none idle in a
    transaction, holding locks), no transaction is left prepared;
(b) every edit answered 2xx is stored with the version it answered; an edit
    cut off is either wholly there (all its values, the next version) or
    not at all;
(c) the stored coverage columns of the compounds equal a fresh full
    recomputation from the stored centres and compounds with the stored build
    parameters, and the stored circles and walking service areas belong to
    the same centres as a fresh computation draws them for;
(d) the summary in ``meta`` matches the stored compounds.

The server is also killed while ``POST /datasets`` imports a synthetic city,
both replacing an existing dataset and creating a new one: afterwards each
name holds wholly the old dataset or wholly the new one (layer rows and the
latest import report), a new name is absent or complete, and the scratch file
of a cut import is never listed or opened as the dataset.
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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from pyproj import Transformer

from api.routers.datasets import get_dataset, list_datasets
from api.settings import Settings
from bench.synth_city import make_city, write_city
from geo.errors import NotFoundError
from layers.build import BuildParams, build_dataset, coverage_layers, summarize
from layers.dataset import Dataset
from layers.importing import import_sources
from layers.store import Role, Store, open_store
from tests.helpers import LOCAL, ORIGIN, block_layers, make_dataset, reads, writes
from tests.pgcluster import free_port

#: Kill rounds per store; each restarts the server (about 2 s: mostly imports) and sends 2 to 6 edits.
ROUNDS = {"gpkg": 4, "postgis": 3}
SEED = 20261124
DANGJIAN = Path(sys.executable).with_name("dangjian")
_TO_WGS84 = Transformer.from_crs(LOCAL, 4326, always_xy=True)


def lonlat(x: float, y: float) -> list[float]:
    """Local metres of the block fixture -> ``[lon, lat]``."""
    lon, lat = _TO_WGS84.transform(x + ORIGIN[0], y + ORIGIN[1])
    return [lon, lat]


class Servers:
    """Starts ``dangjian serve`` on ``path`` in its own process group; kills every group it started.

    ``env`` adds ``DANGJIAN_*`` settings (a database, a data folder).
    """

    def __init__(self, path: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.path = path
        self.log = log
        self.started: list[subprocess.Popen[bytes]] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DANGJIAN_")}
        self.env.update({"DANGJIAN_RATE_LIMIT_PER_MINUTE": "0", "XDG_CACHE_HOME": str(log.parent / "cache")})
        self.env.update(env or {})

    def start(self) -> str:
        """Start a server and wait until ``/health`` answers; its base URL."""
        port = free_port()
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


@dataclass
class Served:
    """The served dataset: its built GeoPackage, and its PostGIS schema when the store is there."""

    path: Path
    database_url: str | None = None
    schema: str | None = None

    @property
    def backend(self) -> str:
        return "gpkg" if self.database_url is None else "postgis"

    def env(self) -> dict[str, str]:
        """The server's settings for this store."""
        if self.database_url is None:
            return {}
        return {"DANGJIAN_DATABASE_URL": self.database_url, "DANGJIAN_DATABASE_SCHEMA": str(self.schema)}

    def open(self) -> Store:
        """The store as the server opens it."""
        if self.database_url is None:
            return open_store(self.path)
        return open_store(f"{self.database_url}?schema={self.schema}")

    def token(self, role: Role) -> tuple[str, str]:
        """A new token of ``role`` in the store and its audit-log actor."""
        with self.open() as store:
            made = writes(store).create_token(role, actor="test", name="kill test")
        return made.token, f"token:{made.info.id}"

    def sessions(self, since: float) -> list[tuple[Any, ...]]:
        """PostGIS: sessions of the service opened since ``since`` (epoch s): pid, state, transaction start, query."""
        with psycopg.connect(str(self.database_url), autocommit=True, application_name="kill-test") as conn:
            return conn.execute(
                "SELECT pid, state, xact_start, query FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'dangjian-map' AND backend_start >= to_timestamp(%s)",
                (since,),
            ).fetchall()

    def check_intact(self, since: float, where: str) -> None:
        """(a): the file passes ``PRAGMA integrity_check``; on PostGIS no session of the killed server stays behind."""
        if self.database_url is None:
            with sqlite3.connect(self.path) as con:
                assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], where
            return
        deadline = time.monotonic() + 10  # the database notices the closed sockets at once, or when a query ends
        while (left := self.sessions(since)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], (where, "sessions of the killed server left open", left)
        with psycopg.connect(str(self.database_url), autocommit=True, application_name="kill-test") as conn:
            assert conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone() == (0,), where


def _serve_blocks(path: Path, database_url: str | None = None) -> Served:
    """The block district (walking network, 5 minutes) built into ``path``, its store, or into a new PostGIS schema."""
    built = build_dataset(make_dataset(block_layers()), BuildParams(minutes=5, method="network"))
    with open_store(path) as store:
        writes(store).import_dataset(built, actor="test")
    if database_url is None:
        return Served(path)
    served = Served(path, database_url, f"kill_{uuid.uuid4().hex[:10]}")
    with served.open() as store:
        writes(store).import_dataset(built, actor="test")
    return served


@pytest.fixture
def served_file(tmp_path: Path) -> Served:
    """The block district in a GeoPackage store."""
    return _serve_blocks(tmp_path / "blocks.gpkg")


@pytest.fixture(params=["gpkg", "postgis"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Served:
    """The block district in a GeoPackage store, then in a PostGIS schema (the file stays what ``serve`` is given)."""
    url = request.getfixturevalue("postgis_url") if request.param == "postgis" else None
    return _serve_blocks(tmp_path / "blocks.gpkg", url)


@pytest.fixture
def servers(served: Served, tmp_path: Path) -> Iterator[Servers]:
    found = Servers(served.path, tmp_path / "server.log", served.env())
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


def _check_after_kill(served: Served, known: dict[tuple[str, str], Known], cut: list[Edit], where: str) -> None:
    """(b) to (d) on the store of a killed server; ``known`` learns the fate of the ``cut`` edits."""
    with served.open() as store:
        for edit in cut:  # cut off: wholly applied (the next version, all its values) or not at all
            key = (edit.layer, edit.feature_id)
            before = known.get(key)
            try:
                now = reads(store).get_feature(*key)
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
                    reads(store).get_feature(layer, feature_id)
                continue
            got = reads(store).get_feature(layer, feature_id)
            assert got.version == fact.version, (where, layer, feature_id, got.version, fact.version)
            for name, value in fact.properties.items():
                assert got.properties[name] == value, (where, layer, feature_id, name, got.properties[name], value)
            if fact.point is not None:
                assert np.allclose(got.to_geojson()["geometry"]["coordinates"], fact.point, atol=1e-6), (where, feature_id)
        dataset = reads(store).export_dataset()
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


def _distinct_edits(
    rng: random.Random, known: dict[tuple[str, str], Known], serial: int, n: int
) -> tuple[list[Edit], int]:
    """Up to ``n`` random edits of distinct features (so they may run at once) and the last serial used."""
    edits: list[Edit] = []
    for _ in range(4 * n):
        if len(edits) == n:
            break
        serial += 1
        edit = _next_edit(rng, known, serial)
        if all((e.layer, e.feature_id) != (edit.layer, edit.feature_id) for e in edits):
            edits.append(edit)
    return edits, serial


def _send_at_once(client: httpx.Client, edits: list[Edit]) -> list[threading.Thread]:
    threads = [threading.Thread(target=edit.send, args=(client,)) for edit in edits]
    for thread in threads:
        thread.start()
    return threads


def test_killing_the_server_mid_edit_loses_nothing_acknowledged_and_half_applies_nothing(
    servers: Servers, served: Served
) -> None:
    token, actor = served.token(Role.editor)
    rng = random.Random(SEED)
    with served.open() as store:
        known = {(layer, str(fid)): Known(1, {}) for layer in ("centers", "compounds") for fid in reads(store).read_layer(layer)["id"]}
        first_revision = store.revision()
    headers = {"Authorization": f"Bearer {token}"}
    serial = 0
    batch_s: list[float] = []  # wall time of a batch of edits
    in_flight = []
    for round_ in range(ROUNDS[served.backend]):
        since = time.time()
        url = servers.start()
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            # sent at once and answered: the first alone, the others as one batch (three at once in round 1)
            answered, serial = _distinct_edits(rng, known, serial, 3 if round_ == 1 else rng.randint(1, 3))
            t0 = time.perf_counter()
            for thread in _send_at_once(client, answered):
                thread.join(timeout=60)
            batch_s.append((time.perf_counter() - t0) / min(len(answered), 2))
            for edit in answered:
                assert edit.status is not None and edit.status < 300, (round_, edit)
                _learn(known, edit)
            if served.database_url is not None:
                assert served.sessions(since), "the server's sessions are not told apart from others"
            cut, serial = _distinct_edits(rng, known, serial, 1 if round_ == 0 else 3)  # in flight at the kill
            in_flight.append(len(cut))
            threads = _send_at_once(client, cut)
            time.sleep(rng.uniform(0, float(np.median(batch_s)) * min(len(cut), 2)))
            servers.kill()
            for thread in threads:
                thread.join(timeout=30)
        for edit in cut:
            if edit.status is not None and edit.status < 300:  # answered just before the kill
                _learn(known, edit)
        assert all(e.status is None or e.status < 300 for e in cut), cut
        still_open = [e for e in cut if e.status is None]
        where = f"{served.backend} round {round_} (seed {SEED}), cut off: {still_open}"
        served.check_intact(since, where)
        _check_after_kill(served, known, still_open, where)
    assert max(in_flight) >= 2, in_flight
    with served.open() as store:  # edits arriving together were committed as one batch (one revision) at least once
        entries = reads(store).audit(limit=100_000)
    edited = ("create", "update", "delete")
    edits = [e for e in entries if e.revision > first_revision and e.actor == actor and e.action in edited]
    per_revision = pd.Series([e.revision for e in edits]).value_counts()
    assert (per_revision >= 2).any(), per_revision.to_dict()


def test_the_consistency_check_sees_an_edit_without_its_recomputation(served_file: Served) -> None:
    with served_file.open() as store:
        _check_consistent(reads(store).export_dataset(), "as built")
        far = shapely.Point(lonlat(2000, 2000))
        writes(store).update_feature("centers", "S1", expected_version=1, geometry=far, actor="test")  # no recomputation
        with pytest.raises(AssertionError):
            _check_consistent(reads(store).export_dataset(), "centre moved")
        writes(store).update_feature("centers", "S1", expected_version=2, geometry=shapely.Point(lonlat(150, 300)), actor="test")
        _check_consistent(reads(store).export_dataset(), "moved back")
        writes(store).update_feature("compounds", "A", expected_version=1, properties={"households": 1}, actor="test")
        with pytest.raises(AssertionError, match="households"):
            _check_consistent(reads(store).export_dataset(), "households changed")


@dataclass
class City:
    """A synthetic city GeoPackage to upload and the rows each of its layers has once imported."""

    path: Path
    rows: dict[str, int]


@dataclass
class Upload:
    """One ``POST /datasets`` and its answer (``status`` ``None``: cut off by the kill)."""

    name: str
    source: Path
    status: int | None = None
    body: dict[str, Any] | None = None
    seconds: float = 0.0

    def send(self, client: httpx.Client, *, replace: bool = True) -> None:
        t0 = time.perf_counter()
        try:
            with open(self.source, "rb") as fh:
                res = client.post(
                    "/datasets",
                    files=[("files", (self.source.name, fh, "application/geopackage+sqlite3"))],
                    data={"name": self.name, "replace": "true" if replace else "false"},
                )
        except httpx.TransportError:
            return
        self.seconds = time.perf_counter() - t0
        self.status, self.body = res.status_code, res.json()


@dataclass
class Holding:
    """What a dataset name holds: rows of each layer, the latest import report (id, its layer rows) and how many."""

    rows: dict[str, int]
    report_id: int | None
    report_rows: dict[str, int] | None
    reports: int


def _holding(path: Path) -> Holding | None:
    """The dataset GeoPackage ``path`` (``None``: there is none), after ``PRAGMA integrity_check`` said ``ok``."""
    if not path.exists():
        return None
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
    with open_store(path) as store:
        rows = {info.name: info.rows for info in reads(store).list_layers()}
        reports = reads(store).list_import_reports(limit=1000)
    if not reports:
        return Holding(rows, None, None, 0)
    return Holding(rows, reports[0]["id"], reports[0]["report"]["layers"], len(reports))


def _outcome(data_dir: Path, upload: Upload, before: Holding | None, city: City, where: str) -> Holding | None:
    """Wholly the old dataset (or none) or wholly the new one under ``upload.name``; what it holds now."""
    now = _holding(data_dir / f"{upload.name}.gpkg")
    where = f"{where}: {upload.name} answered {upload.status}, folder {sorted(p.name for p in data_dir.iterdir())}"
    assert upload.status in (None, 201), (where, upload.body)
    if now is None or (before is not None and now.report_id == before.report_id):  # the import did not commit
        assert upload.status is None, where
        assert now == before, (where, now, before)
        return now
    assert now.rows == city.rows, (where, now.rows, city.rows)  # every layer of the upload, nothing of the old one
    assert now.report_rows == city.rows, (where, now.report_rows)
    assert now.reports == (before.reports if before else 0) + 1, (where, now.reports)
    if upload.body is not None:
        assert upload.body["report_id"] == now.report_id and upload.body["layers"] == city.rows, (where, upload.body)
    return now


def _check_listed(data_dir: Path, served: Path, holdings: dict[str, Holding | None], where: str) -> None:
    """``GET /datasets`` and ``GET /datasets/{id}`` see exactly the datasets held, never a scratch file."""
    settings = Settings(dataset=served, data_dir=data_dir, database_url="")
    listed = sorted(item["id"] for item in list_datasets(settings)["datasets"])
    assert listed == sorted(name for name, held in holdings.items() if held is not None), (where, listed)
    for name, held in holdings.items():
        if held is None:
            with pytest.raises(NotFoundError):
                get_dataset(name, settings)
            continue
        shown = get_dataset(name, settings)
        assert (shown["layers"], shown["report_id"]) == (held.rows, held.report_id), (where, name, shown["layers"])


def _city(path: Path, edges: int, compounds: int, seed: int) -> City:
    """A synthetic city written to ``path``; at these sizes its import over HTTP takes a second or two."""
    write_city(path, make_city(edges, compounds // 20, compounds, seed=seed))
    dataset, _ = import_sources([path])
    return City(path, {layer: len(frame) for layer, frame in dataset.layers.items()})


@pytest.fixture
def import_servers(served_file: Served, tmp_path: Path) -> Iterator[Servers]:
    found = Servers(served_file.path, tmp_path / "server.log", {"DANGJIAN_DATA_DIR": str(tmp_path / "datasets")})
    try:
        yield found
    finally:
        found.kill()


def test_killing_the_server_mid_import_leaves_the_old_dataset_or_the_new_one_whole(
    import_servers: Servers, served_file: Served, tmp_path: Path
) -> None:
    data_dir = tmp_path / "datasets"
    blocks = City(tmp_path / "sources" / "blocks.gpkg", {})
    blocks.path.parent.mkdir()
    for layer, frame in block_layers().items():
        frame.to_file(blocks.path, layer=layer, driver="GPKG")
    # what the import holds: every input layer, the ones the file lacks (party_orgs) empty
    blocks.rows.update({layer: len(frame) for layer, frame in import_sources([blocks.path])[0].layers.items()})
    city_a = _city(tmp_path / "sources" / "city_a.gpkg", 40_000, 6_000, seed=1)
    token, _ = served_file.token(Role.admin)
    rng = random.Random(SEED)
    holdings: dict[str, Holding | None] = {}
    import_s = 0.0  # one uncut import of city a (s)
    answers: list[int | None] = []
    for round_ in range(2):
        url = import_servers.start()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            if round_ == 0:  # the dataset to replace, and how long one import of a city takes (uncut)
                first = Upload("town", blocks.path)
                first.send(client, replace=False)
                assert first.status == 201, first.body
                holdings["town"] = _outcome(data_dir, first, None, blocks, "first import")
                warm = Upload("warm", city_a.path)
                warm.send(client)
                assert warm.status == 201, warm.body
                holdings["warm"] = _outcome(data_dir, warm, None, city_a, "uncut import")
                import_s = warm.seconds
            # replace `town` with a city of other rows than it holds, and create a new dataset, at once
            town = holdings["town"]
            city = city_a
            if town is not None and town.rows == city_a.rows:  # round 0 replaced it
                city = _city(tmp_path / "sources" / "city_b.gpkg", 30_000, 4_000, seed=2)
            uploads = [Upload("town", city.path), Upload(f"fresh{round_}", city.path)]
            before = {u.name: holdings.get(u.name) for u in uploads}
            threads = [threading.Thread(target=u.send, args=(client,)) for u in uploads]
            t0 = time.monotonic()
            for thread in threads:
                thread.start()
            if round_ == 0:  # anywhere in the two imports
                time.sleep(rng.uniform(0, 2 * import_s))
            else:  # while the new dataset is written into its scratch file
                scratch = f".{uploads[1].name}.import-*.gpkg"
                while not list(data_dir.glob(scratch)) and uploads[1].status is None and time.monotonic() - t0 < 60:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0, import_s))
            killed_after = time.monotonic() - t0
            import_servers.kill()
            for thread in threads:
                thread.join(timeout=30)
        where = f"round {round_} (seed {SEED}), killed after {killed_after:.2f} s"
        for upload in uploads:
            holdings[upload.name] = _outcome(data_dir, upload, before[upload.name], city, where)
            answers.append(upload.status)
        _check_listed(data_dir, served_file.path, holdings, where)
    assert None in answers, ("no import was cut off by the kill", answers)
