"""Incremental updates after edits equal recomputing everything, on the demo district's walking network.

The reference recomputes every compound's coverage, every circle and
walking service area, and every unit, grid and cell from scratch (with the
unit and grid shapes fixed, as an edit keeps them); the incremental update
must agree with it after each edit of a chain of random ones, while
recomputing only the compounds an edit can reach.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point

from layers.build import BuildParams, build_dataset, summarize
from layers.cells import cell_totals
from layers.circles import service_circles
from layers.coverage import CIRCLE_COMPARISON_COLUMNS, COVERAGE_COLUMNS, compound_coverage
from layers.dataset import Dataset, read_dataset
from layers.service_areas import walking_service_areas
from layers.shares import covered_shares, grid_attributes, polygon_counts
from layers.units import assign_to_polygons
from layers.update import EditUpdate, splice, update_after_edit
from layers.walking import SHARED_NETWORKS
from tests.helpers import DEMO

PARAMS = BuildParams(method="network")


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return build_dataset(read_dataset(DEMO), PARAMS)


def test_splice_keeps_places_drops_and_appends() -> None:
    frame = gpd.GeoDataFrame({"k": ["a", "b", "b", "c"], "v": [1, 2, 3, 4]}, geometry=[Point(i, 0) for i in range(4)], crs=4326)
    rows = gpd.GeoDataFrame({"k": ["b", "d"], "v": [20, 50]}, geometry=[Point(9, 9), Point(5, 5)], crs=4326)
    out = splice(frame, "k", ["b", "c", "d"], rows)
    assert out["k"].tolist() == ["a", "b", "d"]
    assert out["v"].tolist() == [1, 20, 50]
    assert out.crs == frame.crs
    assert splice(frame, "k", ["a"], rows.iloc[0:0])["k"].tolist() == ["b", "b", "c"]


# ---------------------------------------------------------------------------
# the reference: everything recomputed
# ---------------------------------------------------------------------------


def reference(before: Dataset, centers: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, *, recount: bool) -> Dataset:
    crs = before.metric_crs
    compounds = compounds.copy()
    compounds["unit"] = assign_to_polygons(compounds, before["units"], metric_crs=crs).to_numpy()
    compounds["grid"] = assign_to_polygons(compounds, before["grids"], metric_crs=crs).to_numpy()
    net = SHARED_NETWORKS.get(before["roads"], metric_crs=crs)
    kwargs = {"minutes": PARAMS.minutes, "speed_kmh": PARAMS.speed_kmh, "level_minutes": PARAMS.level_minutes, "statuses": PARAMS.statuses}
    compounds = compound_coverage(compounds, centers, metric_crs=crs, method="network", roads=before["roads"], network=net, **kwargs)
    units, grids = before["units"], before["grids"]
    if recount:
        units = polygon_counts(units, compounds, "unit")
        grids = grid_attributes(
            polygon_counts(grids, compounds, "grid"), compounds,
            min_households=PARAMS.min_households, max_households=PARAMS.max_households,
        )
    out = before.replace(
        centers=centers,
        compounds=compounds,
        units=covered_shares(units, compounds, "unit"),
        grids=covered_shares(grids, compounds, "grid"),
        cells=cell_totals(before["cells"], compounds, metric_crs=crs, households=recount),
        circles=service_circles(centers, metric_crs=crs, bands=PARAMS.bands),
        service_areas=walking_service_areas(net, centers[centers["status"] == "existing"], metric_crs=crs, bands=PARAMS.bands),
    )
    out.meta["summary"] = summarize(out)
    return out


def _by(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    return frame.sort_values(list(keys), kind="stable").reset_index(drop=True)


def assert_same(got: Dataset, want: Dataset) -> None:
    cols = [*COVERAGE_COLUMNS, *CIRCLE_COMPARISON_COLUMNS, "unit", "grid"]
    g, w = _by(got["compounds"], "id"), _by(want["compounds"], "id")
    assert g["id"].tolist() == w["id"].tolist()
    for col in cols:
        a, b = g[col].to_numpy(), w[col].to_numpy()
        if col in ("walk_m", "walk_min", "straight_m", "walk_m_circle"):
            np.testing.assert_allclose(a.astype(float), b.astype(float), atol=0.051, err_msg=col)
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), col
    for name in ("units", "grids"):
        g, w = _by(got[name], "id"), _by(want[name], "id")
        for col in ("compounds", "households", "population", "covered_compounds", "covered_households"):
            assert g[col].astype(int).tolist() == w[col].astype(int).tolist(), (name, col)
        np.testing.assert_allclose(g["coverage"].astype(float), w["coverage"].astype(float), atol=1e-9, err_msg=name)
        if name == "grids":
            assert g["flags"].tolist() == w["flags"].tolist()
            assert g["staffing"].tolist() == w["staffing"].tolist()
            assert [set(s.split(",")) - {""} for s in g["compound_ids"]] == [set(s.split(",")) - {""} for s in w["compound_ids"]]
    g, w = _by(got["cells"], "id"), _by(want["cells"], "id")
    for col in ("households", "covered_households"):
        np.testing.assert_allclose(g[col].astype(float), w[col].astype(float), atol=0.11, err_msg=col)
    for name in ("circles", "service_areas"):
        g, w = _by(got[name], "center_id", "minutes"), _by(want[name], "center_id", "minutes")
        assert g[["center_id", "minutes", "level", "status", "name"]].astype(str).values.tolist() == w[
            ["center_id", "minutes", "level", "status", "name"]
        ].astype(str).values.tolist(), name
        assert shapely.equals_exact(g.geometry.to_numpy(), w.geometry.to_numpy(), tolerance=1e-9).all(), name
    assert got.meta["summary"] == want.meta["summary"]


# ---------------------------------------------------------------------------
# random edits, as the store hands them over
# ---------------------------------------------------------------------------


def _row(frame: gpd.GeoDataFrame, values: dict, geometry: shapely.Geometry) -> gpd.GeoDataFrame:
    """One stored row: the given values, the layer's other columns empty (as a new row reads back from a store)."""
    data = {c: [values.get(c, np.nan)] for c in frame.columns if c != frame.geometry.name}
    return gpd.GeoDataFrame(data, geometry=[geometry], crs=frame.crs)


def random_edit(ds: Dataset, rng: np.random.Generator, step: int) -> tuple[str, str, gpd.GeoDataFrame | None]:
    """(layer, id, the edited row or None when deleted)."""
    centres, compounds = ds["centers"], ds["compounds"]
    minx, miny, maxx, maxy = compounds.total_bounds
    kind = step % 8
    if kind == 0:  # a new centre
        geom = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        level = str(rng.choice(["community", "compound", "subdistrict"]))
        return "centers", f"T{step:03d}", _row(centres, {"id": f"T{step:03d}", "name": f"新中心{step}", "level": level, "status": "existing"}, geom)
    if kind in (1, 2, 3):  # move, level or status, name of an existing centre
        i = int(rng.integers(len(centres)))
        row = centres.iloc[[i]].copy()
        if kind == 1:
            p = row.geometry.iloc[0]
            row = row.set_geometry([Point(p.x + rng.uniform(-0.01, 0.01), p.y + rng.uniform(-0.008, 0.008))])
        elif kind == 2:
            row["level"] = "compound" if row["level"].iloc[0] != "compound" else "community"
            row["status"] = "existing" if row["status"].iloc[0] != "existing" else "planned"
        else:
            row["name"] = f"改名{step}"
        return "centers", str(row["id"].iloc[0]), row
    if kind == 4:  # a centre removed
        return "centers", str(centres["id"].iloc[int(rng.integers(len(centres)))]), None
    if kind == 5:  # a new compound
        c = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        geom = shapely.box(c.x - 0.0006, c.y - 0.0005, c.x + 0.0006, c.y + 0.0005)
        hh = int(rng.integers(50, 900))
        values = {"id": f"N{step:03d}", "name": f"新小区{step}", "households": hh, "population": round(hh * 2.62), "has_party_org": False, "community": ""}
        return "compounds", f"N{step:03d}", _row(compounds, values, geom)
    i = int(rng.integers(len(compounds)))
    if kind == 6:  # households changed and the compound moved
        row = compounds.iloc[[i]].copy()
        row["households"] = int(row["households"].iloc[0]) + 500
        row = row.set_geometry(row.geometry.translate(0.004, -0.003))
        return "compounds", str(row["id"].iloc[0]), row
    return "compounds", str(compounds["id"].iloc[i]), None


def apply_random(ds: Dataset, rng: np.random.Generator, step: int) -> tuple[EditUpdate, Dataset]:
    layer, fid, row = random_edit(ds, rng, step)
    frames = {"centers": ds["centers"], "compounds": ds["compounds"]}
    frames[layer] = splice(frames[layer], "id", [fid], row if row is not None else frames[layer].iloc[0:0])
    update = update_after_edit(ds, PARAMS, centers=frames["centers"], compounds=frames["compounds"], edited={layer: [fid]})
    want = reference(ds, update.dataset["centers"], frames["compounds"], recount=layer == "compounds")
    return update, want


def test_a_chain_of_random_edits_matches_recomputing_everything(demo: Dataset) -> None:
    rng = np.random.default_rng(7)
    ds = demo
    recomputed = []
    for step in range(16):
        update, want = apply_random(ds, rng, step)
        assert_same(update.dataset, want)
        recomputed.append(update.recomputed)
        ds = update.dataset
    # the chain did change the answer, and most edits did not need every compound
    assert ds.meta["summary"] != demo.meta["summary"]
    assert np.median(recomputed) < 0.5 * len(demo["compounds"]), recomputed


def test_a_far_small_centre_recomputes_only_compounds_it_can_reach(demo: Dataset) -> None:
    centres = demo["centers"]
    minx, miny, _, _ = demo["compounds"].total_bounds
    row = _row(centres, {"id": "X1", "name": "角落小区中心", "level": "compound", "status": "existing"}, Point(minx, miny))
    centers = splice(centres, "id", ["X1"], row)
    update = update_after_edit(demo, PARAMS, centers=centers, compounds=demo["compounds"], edited={"centers": ["X1"]})
    assert 0 < update.recomputed < 0.5 * len(demo["compounds"])
    assert_same(update.dataset, reference(demo, update.dataset["centers"], demo["compounds"], recount=False))
    # what changed is what the store will write: the new circles, a few compounds, no unit outside the corner
    assert update.changes["circles"].keys == ["X1"]
    assert set(update.changes) <= {"circles", "service_areas", "compounds", "units", "grids", "cells"}
    assert len(update.changes.get("compounds", pd.DataFrame()).rows if "compounds" in update.changes else []) <= update.recomputed


def test_a_new_compound_joins_its_unit_and_grid(demo: Dataset) -> None:
    compounds = demo["compounds"]
    host = compounds.iloc[10]
    geom = shapely.affinity.scale(host.geometry, 0.3, 0.3)
    geom = shapely.affinity.translate(geom, 0.0, 0.0)
    values = {"id": "NEW1", "name": "新小区", "households": 480, "population": 1258, "has_party_org": True, "community": ""}
    after = splice(compounds, "id", ["NEW1"], _row(compounds, values, geom))
    update = update_after_edit(demo, PARAMS, centers=demo["centers"], compounds=after, edited={"compounds": ["NEW1"]})
    new = update.dataset["compounds"].set_index("id").loc["NEW1"]
    unit = assign_to_polygons(gpd.GeoDataFrame(geometry=[geom], crs=4326), demo["units"], metric_crs=demo.metric_crs).iloc[0]
    assert new["unit"] == unit != ""
    assert new["community"] == host["community"]
    assert new["subdistrict"] == host["subdistrict"]
    units_before = demo["units"].set_index("id")
    units_after = update.dataset["units"].set_index("id")
    assert units_after.loc[unit, "households"] == units_before.loc[unit, "households"] + 480
    assert units_after.loc[unit, "compounds"] == units_before.loc[unit, "compounds"] + 1
    grid = update.dataset["grids"].set_index("id").loc[new["grid"]]
    assert "NEW1" in grid["compound_ids"].split(",")
    assert update.dataset.meta["summary"]["households"]["total"] == demo.meta["summary"]["households"]["total"] + 480
    assert_same(update.dataset, reference(demo, demo["centers"], after, recount=True))


def test_a_compound_moved_a_little_is_recounted_and_redrawn_where_it_now_lies(demo: Dataset) -> None:
    """Moved 40 m, the compound keeps its unit, grid and coverage; the cells and tiles of its new place still change."""
    compounds = demo["compounds"]
    row = compounds.iloc[[30]].copy()
    fid = str(row["id"].iloc[0])
    row = row.set_geometry(row.geometry.translate(0.0005, 0.0))
    after = splice(compounds, "id", [fid], row)
    update = update_after_edit(demo, PARAMS, centers=demo["centers"], compounds=after, edited={"compounds": [fid]})
    assert_same(update.dataset, reference(demo, demo["centers"], after, recount=True))
    minx, miny, maxx, maxy = row.total_bounds
    boxes = update.boxes["compounds"]
    assert ((boxes[:, 0] <= minx) & (boxes[:, 2] >= maxx) & (boxes[:, 1] <= miny) & (boxes[:, 3] >= maxy)).any()
