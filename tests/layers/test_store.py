"""The store, on both backends: versions and conflicts, audit, tokens, scenarios, revisions, nothing lost.

Every test runs on the GeoPackage store (a file in ``tmp_path``) and on the
PostGIS store (a fresh schema in the throwaway cluster of ``conftest.py``).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import layers.store.store as store_module
from geo.errors import (
    FeatureExistsError,
    GeometryError,
    InvalidValueError,
    NotFoundError,
    VersionConflictError,
)
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset, read_dataset, write_dataset
from layers.planning.scenario_store import ScenarioStore, StoredScenarios
from layers.planning.scenarios import parse_scenario
from layers.store import DERIVED_REVISION, Role, Store, open_store, schema_name_for
from layers.store.tokens import split_token
from tests.helpers import reads, writes

BACKENDS = ["gpkg", "postgis"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[], Store]]:
    """Opens the test's store (again, when called again: same file / same schema)."""
    opened: list[Store] = []
    if backend == "gpkg":
        target = str(tmp_path / "district.gpkg")
    else:
        url = request.getfixturevalue("postgis_url")
        target = f"{url}?schema=t_{uuid.uuid4().hex[:12]}"

    def make() -> Store:
        store = open_store(target)
        opened.append(store)
        return store

    make.target = target  # type: ignore[attr-defined]
    yield make
    for store in opened:
        store.close()
    if backend == "postgis":
        from layers.store.postgis import PostGISStore

        final = open_store(target)
        assert isinstance(final, PostGISStore)
        final.drop()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()


@pytest.fixture
def built(blocks: Dataset) -> Dataset:
    """The 3 x 3 block district built with straight-line circles (fast)."""
    return build_dataset(blocks, BuildParams(method="circle"))


@pytest.fixture
def loaded(store: Store, built: Dataset) -> Store:
    writes(store).import_dataset(built, actor="test:import")
    return store


def _state(store: Store) -> dict[str, object]:
    """Everything a failed write must leave as it was."""
    with store.snapshot() as snap:
        return {
            "revision": snap.revision,
            "layers": {i.name: snap.read_layer(i.name, versions=True).to_wkt().to_json() for i in snap.list_layers()},
            "meta": snap.get_meta(),
            "scenarios": snap.list_scenarios(),
            "audit": len(snap.audit(limit=10_000)),
            "tokens": [t.as_dict() for t in snap.list_tokens()],
        }


# ---------------------------------------------------------------------------
# round trip
# ---------------------------------------------------------------------------


def test_dataset_round_trips_through_the_store(loaded: Store, built: Dataset) -> None:
    out = reads(loaded).export_dataset()
    # Input layers the dataset lacks come back empty (``party_orgs`` here).
    assert set(out.layers) - set(built.layers) == {"party_orgs"} and not len(out["party_orgs"])
    assert set(built.layers) <= set(out.layers)
    for name, frame in built.layers.items():
        got = out[name]
        attrs = [c for c in frame.columns if c != frame.geometry.name]
        assert [c for c in got.columns if c != got.geometry.name] == attrs, name  # the geometry comes last
        assert len(got) == len(frame), name
        pd.testing.assert_frame_equal(
            pd.DataFrame(got[attrs]).astype(object).where(got[attrs].notna(), None).reset_index(drop=True),
            pd.DataFrame(frame[attrs]).astype(object).where(frame[attrs].notna(), None).reset_index(drop=True),
            check_dtype=False,
            obj=name,
        )
        assert shapely.equals_exact(got.geometry.to_numpy(), frame.geometry.to_numpy(), 0).all(), name
    assert out["compounds"]["households"].dtype == np.int64
    assert out["compounds"]["covered"].dtype == bool
    # a built dataset's derived layers agree with its centres and compounds as of the import
    assert out.meta.pop(DERIVED_REVISION) == loaded.revision()
    assert out.meta == json.loads(json.dumps(built.meta))
    assert out.metric_crs == built.metric_crs
    with loaded.snapshot() as snap:
        assert snap.derived_current()
    writes(loaded).update_feature("centers", str(built["centers"]["id"].iloc[0]), expected_version=None, properties={"name": "改"}, actor="t")
    with loaded.snapshot() as snap:
        assert not snap.derived_current()  # a feature written without recomputing


def test_bbox_reads_use_the_spatial_index(loaded: Store, built: Dataset) -> None:
    a = built["compounds"].set_index("id").geometry["A"]
    minx, miny, maxx, maxy = a.bounds
    got = reads(loaded).read_layer("compounds", bbox=(minx, miny, maxx, maxy))
    assert got["id"].tolist() == ["A"]  # the 100 m square alone: B is 200 m east
    assert len(reads(loaded).read_layer("compounds", bbox=(0.0, 0.0, 1.0, 1.0))) == 0
    with pytest.raises(InvalidValueError):
        reads(loaded).read_layer("compounds", bbox=(2.0, 0.0, 1.0, 1.0))


# ---------------------------------------------------------------------------
# features, versions, conflicts
# ---------------------------------------------------------------------------


def test_feature_versions_and_conflicts(loaded: Store) -> None:
    s1 = reads(loaded).get_feature("centers", "S1")
    assert s1.version == 1 and s1.properties["level"] == "community"

    ref = writes(loaded).update_feature("centers", "S1", expected_version=1, properties={"level": "社区级", "name": "一号中心(新)"}, actor="alice")
    assert ref.version == 2
    assert reads(loaded).get_feature("centers", "S1").properties["name"] == "一号中心(新)"

    # Bob read version 1 too: his update and his delete are refused, nothing changes.
    with pytest.raises(VersionConflictError) as info:
        writes(loaded).update_feature("centers", "S1", expected_version=1, properties={"status": "planned"}, actor="bob")
    assert (info.value.expected, info.value.current) == (1, 2)
    with pytest.raises(VersionConflictError):
        writes(loaded).delete_feature("centers", "S1", expected_version=1, actor="bob")
    assert reads(loaded).get_feature("centers", "S1").properties["status"] == "existing"

    created = writes(loaded).create_feature(
        "centers", {"name": "新站", "level": "compound"}, {"type": "Point", "coordinates": [109.781, 39.601]}, actor="alice"
    )
    assert (created.id, created.version) == ("S0004", 1)  # S1..S3 exist: the next number, 4 digits
    with pytest.raises(FeatureExistsError):
        writes(loaded).create_feature("centers", {"id": "S2", "name": "x", "level": "compound"}, shapely.Point(109.78, 39.6), actor="a")

    gone = writes(loaded).delete_feature("centers", "S0004", expected_version=1, actor="alice")
    assert gone.version == 2
    with pytest.raises(NotFoundError):
        reads(loaded).get_feature("centers", "S0004")
    with pytest.raises(NotFoundError):
        writes(loaded).update_feature("centers", "S0004", expected_version=None, properties={"name": "x"}, actor="a")
    again = writes(loaded).create_feature("centers", {"id": "S0004", "name": "又一站", "level": "compound"},
                                  shapely.Point(109.781, 39.601), actor="alice")
    assert again.version == 3  # versions of an id never go backwards
    assert writes(loaded).create_feature("centers", {"name": "再一站", "level": "compound"},
                                 shapely.Point(109.782, 39.602), actor="a").id == "S0005"
    centers = reads(loaded).read_layer("centers", versions=True).set_index("id")
    assert centers.loc[["S1", "S2", "S0004"], "version"].tolist() == [2, 1, 3]


def test_versions_count_edits_not_recomputed_columns(loaded: Store) -> None:
    before = reads(loaded).get_feature("compounds", "A")
    assert before.properties["covered"] is True
    rev = loaded.revision()
    ref = writes(loaded).update_feature("compounds", "A", expected_version=None, properties={"covered": False, "walk_m": 999.0}, actor="system")
    assert ref.version == before.version == 1  # coverage columns are derived: planners' versions stay valid
    assert ref.revision == rev + 1
    assert reads(loaded).get_feature("compounds", "A").properties["covered"] is False
    assert writes(loaded).update_feature("compounds", "A", expected_version=1, properties={"households": 410}, actor="a").version == 2
    frame = reads(loaded).read_layer("compounds", versions=True)
    frame.loc[frame["id"] == "B", "households"] = 250
    writes(loaded).write_layer("compounds", frame, actor="importer")
    versions = reads(loaded).read_layer("compounds", versions=True).set_index("id")["version"]
    assert versions.to_dict() == {"A": 2, "B": 2, "C": 1, "D": 1}


def test_replace_rows_updates_in_place_or_regroups_without_touching_versions(loaded: Store) -> None:
    compounds = reads(loaded).read_layer("compounds", versions=True)
    circles = reads(loaded).read_layer("circles")
    rev = loaded.revision()
    # compounds by id: A and C updated in place (a new derived column added), order and versions kept
    rows = compounds[compounds["id"].isin(["A", "C"])].drop(columns="version").copy()
    rows["covered"] = [False, False]
    rows["note_derived"] = ["x", "y"]
    circle_keys = sorted(circles["center_id"].astype(str).unique())[:1]
    new_circles = circles[circles["center_id"].astype(str).isin(circle_keys)].iloc[:1].copy()
    new_circles["radius_m"] = 123.0
    with loaded.transaction(actor="system:recompute") as tx:
        tx.replace_rows("compounds", rows)
        tx.replace_rows("circles", new_circles, key="center_id", keys=circle_keys)
        with pytest.raises(InvalidValueError, match="not among the keys"):
            tx.replace_rows("circles", new_circles, key="center_id", keys=["nobody"])
    after = reads(loaded).read_layer("compounds", versions=True)
    assert after["id"].tolist() == compounds["id"].tolist()
    assert after.set_index("id")["covered"].to_dict() == {**compounds.set_index("id")["covered"].to_dict(), "A": False, "C": False}
    assert after.set_index("id")["note_derived"].to_dict()["C"] == "y"
    assert after["version"].tolist() == compounds["version"].tolist()
    assert loaded.revision() == rev + 1
    got = reads(loaded).read_layer("circles")
    assert len(got) == len(circles) - int(circles["center_id"].astype(str).isin(circle_keys).sum()) + 1
    assert got.loc[got["center_id"].astype(str) == circle_keys[0], "radius_m"].tolist() == [123.0]
    entries = [e for e in reads(loaded).audit(limit=10) if e.action == "replace_rows"]
    assert {e.layer for e in entries} == {"compounds", "circles"} and all(e.actor == "system:recompute" for e in entries)
    # an id missing from the rows is deleted; the spatial index follows the moved row
    moved = after[after["id"] == "B"].drop(columns="version").copy()
    moved["geometry"] = moved.geometry.translate(0.05, 0.0)
    with loaded.transaction(actor="system:recompute") as tx:
        tx.replace_rows("compounds", moved, keys=["B", "D"])
    ids = reads(loaded).read_layer("compounds")["id"].tolist()
    assert "D" not in ids and "B" in ids
    minx, miny, maxx, maxy = moved.total_bounds
    assert reads(loaded).read_layer("compounds", bbox=(minx, miny, maxx, maxy))["id"].tolist() == ["B"]


def test_bad_edits_are_refused_and_store_nothing(loaded: Store) -> None:
    before = _state(loaded)
    point = {"type": "Point", "coordinates": [109.78, 39.6]}
    with pytest.raises(InvalidValueError, match="level"):
        writes(loaded).create_feature("centers", {"name": "x", "level": "province"}, point, actor="a")
    with pytest.raises(InvalidValueError, match="colour"):
        writes(loaded).create_feature("centers", {"name": "x", "level": "community", "colour": "red"}, point, actor="a")
    with pytest.raises(GeometryError):
        writes(loaded).create_feature("centers", {"name": "x", "level": "community"}, shapely.box(109.78, 39.6, 109.79, 39.61), actor="a")
    with pytest.raises(GeometryError, match="longitude/latitude"):
        writes(loaded).create_feature("centers", {"name": "x", "level": "community"}, {"type": "Point", "coordinates": [500000, 4380000]}, actor="a")
    with pytest.raises(InvalidValueError, match="households"):
        writes(loaded).update_feature("compounds", "A", expected_version=1, properties={"households": "很多"}, actor="a")
    with pytest.raises(InvalidValueError, match="id"):
        writes(loaded).update_feature("compounds", "A", expected_version=1, properties={"id": "Z"}, actor="a")
    with pytest.raises(InvalidValueError):
        writes(loaded).update_feature("roads", "R0001", expected_version=1, properties={"name": "x"}, actor="a")
    with pytest.raises(InvalidValueError, match="repeated"):
        writes(loaded).write_layer("centers", reads(loaded).read_layer("centers").assign(id="S1"), actor="a")
    assert _state(loaded) == before


def test_concurrent_updates_of_one_feature_one_wins(loaded: Store) -> None:
    results: list[str] = []
    barrier = threading.Barrier(4)

    def edit(n: int) -> None:
        barrier.wait()
        try:
            writes(loaded).update_feature("centers", "S2", expected_version=1, properties={"name": f"站{n}"}, actor=f"planner{n}")
            results.append("ok")
        except VersionConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 3 + ["ok"]
    assert reads(loaded).get_feature("centers", "S2").version == 2


# ---------------------------------------------------------------------------
# audit
# ---------------------------------------------------------------------------


def test_audit_log_has_who_what_before_and_after(loaded: Store) -> None:
    writes(loaded).update_feature("centers", "S3", expected_version=1, properties={"status": "existing"}, actor="token:abc")
    writes(loaded).delete_feature("centers", "S2", expected_version=1, actor="token:def")
    entries = reads(loaded).audit(layer="centers")
    replace, update, delete = entries[-3:]
    assert replace.action == "replace_layer" and replace.after["rows"] == 3 and replace.after["added_ids"] == ["S1", "S2", "S3"]
    assert (update.actor, update.action, update.feature_id, update.version) == ("token:abc", "update", "S3", 2)
    assert update.before["properties"]["status"] == "planned" and update.before["version"] == 1
    assert update.after["properties"]["status"] == "existing" and update.after["geometry"]["type"] == "Point"
    assert (delete.action, delete.before["id"], delete.after) == ("delete", "S2", None)
    assert update.at and update.revision < delete.revision
    assert [e.action for e in reads(loaded).audit(feature_id="S3")] == ["update"]
    first = reads(loaded).audit(limit=1)[0]
    assert [e.seq for e in reads(loaded).audit(after_seq=first.seq - 2, limit=2)] == [first.seq - 1, first.seq]
    with loaded._session(write=True) as session, pytest.raises(Exception, match="append-only"):
        session.exec("UPDATE dj_audit SET actor = 'mallory'")
    with loaded._session(write=True) as session, pytest.raises(Exception, match="append-only"):
        session.exec("DELETE FROM dj_audit")
    assert reads(loaded).audit(feature_id="S3")[0].actor == "token:abc"


# ---------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_verified(store: Store, backend: str, make_store: Callable[[], Store]) -> None:
    new = writes(store).create_token("editor", name="街道编辑", actor="cli:root")
    token_id, secret = split_token(new.token)  # type: ignore[misc]
    assert new.info.role is Role.editor and new.info.id == token_id
    assert store.verify_token(new.token).role is Role.editor  # type: ignore[union-attr]
    assert store.verify_token(new.token).role is Role.editor  # type: ignore[union-attr]  # cached path
    assert store.verify_token(new.token[:-1] + ("A" if new.token[-1] != "A" else "B")) is None
    assert store.verify_token(f"dj_{token_id}_{'x' * 43}") is None
    assert store.verify_token("Bearer nonsense") is None
    # The plaintext is nowhere in the store: only the salted scrypt hash.
    with store._session(write=False) as session:
        rows = session.query("SELECT * FROM dj_tokens")
        audit = session.query("SELECT before, after FROM dj_audit")
    assert len(rows) == 1 and secret not in repr(rows) and secret not in repr(audit)
    assert any(str(v).startswith("scrypt$16384$8$1$") for v in rows[0])
    if backend == "gpkg":
        store.close()
        path = Path(make_store.target)  # type: ignore[attr-defined]
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert secret.encode() not in raw
        store = make_store()
    admin = writes(store).create_token(Role.admin, actor="cli:root")
    writes(store).revoke_token(token_id, actor="cli:root")
    assert store.verify_token(new.token) is None  # revocation counts at once, cache or not
    assert store.verify_token(admin.token).role is Role.admin  # type: ignore[union-attr]
    listed = {t.id: t for t in reads(store).list_tokens()}
    assert not listed[token_id].active and listed[admin.info.id].active and listed[token_id].name == "街道编辑"
    with pytest.raises(NotFoundError):
        writes(store).revoke_token("ffffffff", actor="cli:root")
    with pytest.raises(InvalidValueError, match="viewer, planner, editor, admin"):
        writes(store).create_token("superuser", actor="cli:root")
    assert Role.admin.allows("editor") and Role.editor.allows(Role.planner) and not Role.planner.allows("editor")


# ---------------------------------------------------------------------------
# scenarios, reports, meta, revision
# ---------------------------------------------------------------------------


def test_scenarios_and_import_reports_round_trip(store: Store) -> None:
    doc = parse_scenario({"name": "东区加一站", "changes": [{"op": "add", "level": "community", "lon": 109.78, "lat": 39.6}]}).as_dict()
    writes(store).put_scenario(doc["id"], doc, actor="planner")
    assert reads(store).get_scenario(doc["id"]) == doc
    changed = {**doc, "name": "东区加两站"}
    writes(store).put_scenario(doc["id"], changed, actor="planner")
    writes(store).put_scenario("b-2", {"name": "第二", "changes": []}, actor="planner")
    assert [d["name"] for d in reads(store).list_scenarios()] == ["东区加两站", "第二"]
    writes(store).delete_scenario("b-2", actor="planner")
    with pytest.raises(NotFoundError):
        reads(store).get_scenario("b-2")
    with pytest.raises(NotFoundError):
        writes(store).delete_scenario("b-2", actor="planner")
    with pytest.raises(NotFoundError):
        writes(store).put_scenario("../etc", doc, actor="planner")
    report = {"layers": {"compounds": {"read": 4, "kept": 4, "rejected": []}}, "warnings": ["坐标偏移"]}
    rid = writes(store).add_import_report(report, actor="admin")
    assert reads(store).list_import_reports()[0]["report"] == report
    assert reads(store).get_import_report(rid)["actor"] == "admin"
    assert [e.action for e in reads(store).audit()][-2:] == ["scenario_delete", "import_report"]


def test_stored_scenarios_work_like_the_folder_store(loaded: Store, built: Dataset) -> None:
    scenarios = StoredScenarios(loaded).as_actor("token:planner1")
    data = {"name": "东区加一站", "changes": [{"op": "status", "center_id": "S3", "status": "existing"}]}
    first = scenarios.create(data, base=built)
    assert scenarios.get(first.id).changes[0].center_id == "S3"
    replaced = scenarios.replace(first.id, {**data, "name": "改名"}, base=built)
    assert replaced.created_at == first.created_at and [s.name for s in scenarios.list()] == ["改名"]
    with pytest.raises(InvalidValueError, match="center_id"):
        scenarios.create({"name": "x", "changes": [{"op": "remove", "center_id": "NOPE"}]}, base=built)
    scenarios.delete(first.id)
    with pytest.raises(NotFoundError):
        scenarios.get(first.id)
    assert {e.actor for e in reads(loaded).audit() if e.action.startswith("scenario")} == {"token:planner1"}


def test_an_edit_may_fill_a_spec_column_the_layer_lacks(loaded: Store) -> None:
    writes(loaded).write_layer("centers", reads(loaded).read_layer("centers").drop(columns=["capacity"]), actor="a")
    assert "capacity" not in reads(loaded).read_layer("centers").columns
    writes(loaded).update_feature("centers", "S1", expected_version=1, properties={"capacity": 120}, actor="a")
    centers = reads(loaded).read_layer("centers").set_index("id")
    assert centers.loc["S1", "capacity"] == 120 and np.isnan(centers.loc["S2", "capacity"])
    assert reads(loaded).get_feature("centers", "S1").version == 2


def test_revision_goes_up_with_every_write_only(loaded: Store) -> None:
    r0 = loaded.revision()
    reads(loaded).read_layer("compounds")
    reads(loaded).export_dataset()
    assert loaded.revision() == r0
    steps = [
        lambda: writes(loaded).set_meta({"note": "月度更新"}, actor="a"),
        lambda: writes(loaded).put_scenario("s1", {"name": "x", "changes": []}, actor="a"),
        lambda: writes(loaded).update_feature("centers", "S1", expected_version=1, properties={"name": "甲"}, actor="a"),
        lambda: writes(loaded).write_layer("roads", reads(loaded).read_layer("roads"), actor="a"),
        lambda: writes(loaded).create_token("viewer", actor="a"),
    ]
    seen = [r0]
    for step in steps:
        step()
        seen.append(loaded.revision())
    assert seen == list(range(r0, r0 + len(steps) + 1))
    with pytest.raises(VersionConflictError):
        writes(loaded).update_feature("centers", "S1", expected_version=1, properties={"name": "乙"}, actor="a")
    assert loaded.revision() == seen[-1]
    info = {i.name: i for i in reads(loaded).list_layers()}
    assert info["centers"].revision == r0 + 3 and info["roads"].revision == r0 + 4 and info["compounds"].revision == r0
    assert reads(loaded).get_meta()["note"] == "月度更新"


# ---------------------------------------------------------------------------
# nothing lost
# ---------------------------------------------------------------------------


def test_a_transaction_failing_midway_leaves_the_previous_state(loaded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(loaded)
    with pytest.raises(RuntimeError, match="boom"), loaded.transaction(actor="a") as tx:
        tx.update_feature("centers", "S1", expected_version=1, properties={"name": "改"})
        tx.write_layer("roads", tx.read_layer("roads").iloc[:2])
        tx.delete_layer("rivers")
        tx.put_scenario("s1", {"name": "x", "changes": []})
        tx.create_token("admin")
        tx.set_meta({"x": 1})
        assert tx.get_feature("centers", "S1").version == 2  # the transaction sees its own writes
        raise RuntimeError("boom")
    assert _state(loaded) == before

    def fail(tx: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "_before_commit", fail)
    with pytest.raises(OSError, match="disk full"):
        writes(loaded).write_layer("compounds", reads(loaded).read_layer("compounds").iloc[:1], actor="a")
    monkeypatch.setattr(store_module, "_before_commit", None)
    bad = Dataset(layers={**reads(loaded).export_dataset().layers}, metric_crs=None, meta={})  # type: ignore[arg-type]
    bad.layers["centers"] = bad.layers["centers"].assign(id="S1")  # written after boundary, compounds ...
    with pytest.raises(InvalidValueError, match="repeated"):
        writes(loaded).import_dataset(bad, actor="a")
    assert _state(loaded) == before
    with pytest.raises(RuntimeError, match="already open"), loaded.transaction(actor="a"):
        loaded.revision()
        writes(loaded).set_meta({"x": 1}, actor="a")


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import geopandas as gpd, numpy as np, shapely
    import layers.store.store as store_module
    from layers.store import open_store

    store = open_store(sys.argv[1])
    n = 60_000
    x = np.linspace(109.70, 109.86, n)
    lines = shapely.linestrings(np.stack([np.stack([x, np.full(n, 39.58)], 1), np.stack([x, np.full(n, 39.62)], 1)], 1))
    roads = gpd.GeoDataFrame({"id": [f"K{i}" for i in range(n)], "name": ["大路"] * n, "class": ["local"] * n,
                              "walkable": [True] * n, "bridge": [False] * n, "tunnel": [False] * n, "layer": [0] * n},
                             geometry=lines, crs=4326)

    def stall(tx):
        print("MIDWAY", tx._s.count_rows("roads"), flush=True)
        time.sleep(120)

    store_module._before_commit = stall
    with store.transaction(actor="killed") as tx:
        tx.write_layer("roads", roads)
    """
)


def test_killing_a_large_write_leaves_the_previous_state(
    loaded: Store, make_store: Callable[[], Store], backend: str, built: Dataset
) -> None:
    before = _state(loaded)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, make_store.target],  # type: ignore[attr-defined]
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("MIDWAY 60000"), proc.stderr.read()  # type: ignore[union-attr]
        assert len(reads(loaded).read_layer("roads")) == len(built["roads"])  # readers meanwhile see the committed state
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    loaded.close()
    reopened = make_store()
    assert _state(reopened) == before
    writes(reopened).update_feature("centers", "S1", expected_version=1, properties={"name": "活着"}, actor="a")  # the lock is free
    if backend == "gpkg":
        path = Path(make_store.target)  # type: ignore[attr-defined]
        assert len(read_dataset(path)["roads"]) == len(built["roads"])  # GDAL reads the file too
        assert not list(path.parent.glob(".district.dj-*"))  # no scratch file left


# ---------------------------------------------------------------------------
# backend specifics
# ---------------------------------------------------------------------------


def test_gpkg_store_adopts_an_existing_dataset_file(built: Dataset, tmp_path: Path) -> None:
    path = write_dataset(built, tmp_path / "old.gpkg")
    ScenarioStore.beside(path).save(parse_scenario({"name": "旧方案", "changes": []}, scenario_id="old1"))
    with open_store(path) as store:
        assert reads(store).get_meta()["params"]["method"] == "circle"
        assert reads(store).get_scenario("old1")["name"] == "旧方案"
        assert reads(store).read_layer("compounds", versions=True)["version"].tolist() == [1, 1, 1, 1]
        assert reads(store).audit() == []  # adopting is no edit
        with store.snapshot() as snap:
            assert snap.derived_current()  # a file `dangjian build` wrote: its coverage agrees with its centres
        writes(store).update_feature("centers", "S1", expected_version=1, properties={"name": "新名"}, actor="a")
        with store.snapshot() as snap:
            assert not snap.derived_current()
        writes(store).set_meta({"params": {"method": "network"}}, actor="a")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [r[0] for r in conn.execute("SELECT version FROM dj_schema")]
    assert versions == [1, 2]
    again = read_dataset(path)  # still an ordinary GeoPackage for GDAL and read_dataset
    assert again["centers"].set_index("id").loc["S1", "name"] == "新名"
    assert again.meta["params"] == {"method": "network"}
    assert "dj_audit" not in pyogrio.list_layers(path)[:, 0]
    with open_store(path) as store:  # opening again migrates nothing
        assert reads(store).get_feature("centers", "S1").version == 2


def test_gpkg_store_notices_a_replaced_file(built: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "d.gpkg"
    with open_store(path) as store:
        writes(store).import_dataset(built, actor="a")
        write_dataset(built.replace(centers=built["centers"].iloc[:1]), path)  # someone replaces the file
        assert reads(store).read_layer("centers")["id"].tolist() == ["S1"]
    with pytest.raises(Exception, match="folder"):
        open_store(tmp_path)


def test_postgis_store_seeds_its_schema_from_the_dataset_file(postgis_url: str, built: Dataset, tmp_path: Path) -> None:
    path = write_dataset(built, tmp_path / "Kangbashi Demo.gpkg")
    assert schema_name_for(path.name) == "kangbashi_demo"
    store = open_store(path, database_url=postgis_url)
    try:
        assert store.location.endswith("#kangbashi_demo")
        assert [e.actor for e in reads(store).audit()][-1] == "system:seed"
        assert len(reads(store).read_layer("compounds")) == 4
        rev = store.revision()
        store.close()
        store = open_store(path, database_url=postgis_url)  # second start: no second import
        assert store.revision() == rev
        with store._session(write=False) as session:
            indexes = {r[0] for r in session.query("SELECT indexdef FROM pg_indexes WHERE schemaname = 'kangbashi_demo'")}
        assert any("USING gist (geom)" in i and "compounds" in i for i in indexes)
        assert any("UNIQUE" in i and "centers" in i for i in indexes)
    finally:
        store.drop()  # type: ignore[attr-defined]
