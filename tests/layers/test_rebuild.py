"""Building inside the store: one audited revision, inputs and edits never overwritten, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset
from layers.rebuild import OPTIMISTIC_TRIES, build_in_store, build_state, coverage_only
from layers.store import Role, Store, open_store
from tests.helpers import reads, writes


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path, blocks: Dataset) -> Iterator[Store]:
    """The block district's inputs (not built) in a store of each backend."""
    if request.param == "gpkg":
        target = str(tmp_path / "district.gpkg")
    else:
        target = f"{request.getfixturevalue('postgis_url')}?schema=t_{uuid.uuid4().hex[:12]}"
    opened = open_store(target)
    with opened.transaction(actor="test") as tx:
        tx.import_dataset(blocks)
    yield opened
    opened.close()
    if request.param == "postgis":
        from layers.store.postgis import PostGISStore

        assert isinstance(opened, PostGISStore)
        with open_store(target) as again:
            again.drop()  # type: ignore[attr-defined]


def _state(store: Store) -> str:
    with store.snapshot() as snap:
        return build_state(snap)


def test_a_build_is_one_audited_revision_inside_the_store(store: Store) -> None:
    token = writes(store).create_token(Role.editor, actor="test")
    assert _state(store) == "unbuilt"
    before = store.revision()
    done = build_in_store(store, BuildParams(method="circle", minutes=5), actor="cli:planner")
    assert done.revision == before + 1 == store.revision() and done.attempts == 1
    assert _state(store) == "current"
    stored = reads(store).read_layer("compounds").set_index("id")
    assert stored["covered"].to_dict() == {"A": True, "B": False, "C": True, "D": False}  # worked out by hand (5 min, 333 m)
    assert {"units", "grids", "cells", "circles"} <= {i.name for i in reads(store).list_layers()}
    assert reads(store).get_meta()["params"]["minutes"] == 5
    assert {e.actor for e in reads(store).audit() if e.revision == done.revision} == {"cli:planner"}
    assert store.verify_token(token.token) is not None
    # without parameters, the stored ones are used again
    again = build_in_store(store, actor="cli:planner")
    assert again.params.minutes == 5 and again.params.method == "circle"


def test_an_edit_while_the_build_computes_is_kept_and_the_build_starts_over(store: Store) -> None:
    calls = []

    def derive(ds: Dataset, params: BuildParams, progress) -> Dataset:  # type: ignore[no-untyped-def]
        calls.append(ds["centers"].set_index("id")["status"].to_dict())
        if len(calls) == 1:  # another process edits while this one computes
            writes(store).update_feature("centers", "S3", properties={"status": "existing"}, expected_version=None, actor="editor")
        return build_dataset(ds, params, progress=progress)

    done = build_in_store(store, BuildParams(method="circle"), actor="cli:planner", derive=derive)
    assert done.attempts == 2
    assert calls[0]["S3"] == "planned" and calls[1]["S3"] == "existing"  # the second attempt saw the edit
    assert reads(store).read_layer("centers").set_index("id").loc["S3", "status"] == "existing"  # and it stays
    assert _state(store) == "current"


def test_inputs_that_keep_changing_are_built_under_the_write_lock(store: Store) -> None:
    calls = []

    def derive(ds: Dataset, params: BuildParams, progress) -> Dataset:  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) <= OPTIMISTIC_TRIES:
            writes(store).update_feature("compounds", "A", properties={"households": 400 + len(calls)}, expected_version=None, actor="e")
        return build_dataset(ds, params, progress=progress)

    done = build_in_store(store, BuildParams(method="circle"), actor="cli:planner", derive=derive)
    assert done.attempts == OPTIMISTIC_TRIES + 1
    stored = reads(store).read_layer("compounds").set_index("id")
    assert stored.loc["A", "households"] == 400 + OPTIMISTIC_TRIES  # the last edit stays
    assert _state(store) == "current"


def test_coverage_only_leaves_the_dataset_unbuilt_but_covered(store: Store) -> None:
    build_in_store(store, BuildParams(method="circle", minutes=5), actor="t", derive=coverage_only(areas=False))
    assert _state(store) == "unbuilt"
    assert reads(store).read_layer("compounds")["covered"].sum() == 2
