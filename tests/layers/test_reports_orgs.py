"""The organisation, alliance and needs reports on the block district, in every format, numbers by hand (issue 15).

Organisations: :data:`tests.helpers.BLOCK_ORGS`.  Needs and services, 5 minutes (333.3 m) straight line:
S1 (150, 300) offers 政策宣讲、亲情代办, S2 (900, 900) 文体活动, S3 is planned (does not count).
A (400 hh) needs policy and culture: culture only at S2, 1,060.7 m away -> unmet, S1 (150 m) could add it.
B (200 hh) needs errands: S1 is 335.4 m away -> unmet, no centre within reach.  C (1,000 hh) needs culture
(S2 at 212.1 m) and assistance (offered nowhere) -> assistance unmet, S2 could add it.  D needs nothing.
"""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset
from layers.reports.kinds import render_report
from tests.helpers import block_layers_with_orgs, make_dataset


@pytest.fixture(scope="module")
def district() -> Dataset:
    layers = block_layers_with_orgs()
    layers["centers"]["services"] = ["政策宣讲、亲情代办", "文体活动", "帮扶救助"]
    layers["compounds"]["needs"] = ["policy, culture", "errands", "文体活动；帮扶救助", ""]
    return build_dataset(make_dataset(layers), BuildParams(minutes=5))


def _json(ds: Dataset, kind: str, lang: str = "zh") -> dict:
    return json.loads(render_report(ds, kind, fmt="json", lang=lang).content)


def test_the_needs_report_counts_unmet_needs_by_category_and_household(district: Dataset) -> None:
    body = _json(district, "needs")
    cats = {r["category"]: r for r in body["tables"]["by_category"]}
    assert (cats["政策宣讲"]["need_compounds"], cats["政策宣讲"]["unmet_compounds"]) == (1, 0)
    assert (cats["文体活动"]["need_households"], cats["文体活动"]["unmet_households"], cats["文体活动"]["met_share"]) == (1400, 400, 0.5)
    assert (cats["亲情代办"]["unmet_compounds"], cats["亲情代办"]["unmet_households"]) == (1, 200)
    assert (cats["帮扶救助"]["unmet_households"], cats["就业服务"]["need_compounds"]) == (1000, 0)
    assert body["cards"] == {"need_compounds": 3, "unmet_compounds": 3, "unmet_households": 1600}
    rows = [(r["id"], r["unmet_needs"], r["unmet_needs_nearby"]) for r in body["tables"]["compounds"]]
    assert rows == [("C", "帮扶救助", "帮扶救助:S2"), ("A", "文体活动", "文体活动:S1"), ("B", "亲情代办", "")]
    total = body["tables"]["by_community"][-1]
    assert (total["community"], total["unmet_households"]) == ("__total__", 1600)


def test_the_needs_report_reads_in_english(district: Dataset) -> None:
    rendered = render_report(district, "needs", fmt="csv", lang="en", table="compounds")
    lines = rendered.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Id,Compound,Community,Neighbourhood unit,Households,Needs,Unmet needs,Nearby centre that could add it"
    assert lines[1] == "C,丙小区,东社区,U003,1000,assistance、culture/sports,assistance,assistance:S2"
    assert rendered.filename == "needs.compounds.csv"


def test_the_orgs_report_gives_coverage_by_community_and_the_roster(district: Dataset) -> None:
    body = _json(district, "orgs")
    by_type = {r["type"]: (r["orgs"], r["org_members"]) for r in body["tables"]["by_type"]}
    assert by_type["community"] == (2, 200) and by_type["compound"] == (2, 31) and by_type["government"] == (1, 30)
    com = {r["community"]: r for r in body["tables"]["by_community"]}
    # 西社区: A and D, both with an organisation; 2 grids, D's with a grid branch; 西社区党委, 甲小区党支部,
    # the company, 丁小区网格党支部 lie in it (the tax office lies outside every community).
    assert (com["西社区"]["compounds"], com["西社区"]["org_compounds"], com["西社区"]["grids"], com["西社区"]["branch_grids"]) == (2, 2, 2, 1)
    assert (com["西社区"]["orgs"], com["西社区"]["org_members"], com["西社区"]["grid_branch_share"]) == (4, 158, 0.5)
    assert (com["东社区"]["orgs"], com["东社区"]["org_compound_share"]) == (3, 1.0)
    assert (com[""]["orgs"], com[""]["compounds"]) == (2, 0)
    assert com["__total__"]["orgs"] == 9 and com["__total__"]["org_members"] == 289
    roster = {r["name"]: r for r in body["tables"]["roster"]}
    assert (roster["甲小区党支部"]["unit"], roster["甲小区党支部"]["grid"]) == ("U010", "B0002-02")


def test_the_alliance_report_lists_1_n_x_per_unit(district: Dataset) -> None:
    body = _json(district, "alliance")
    units = {r["unit"]: r for r in body["tables"]["units"]}
    assert units["U010"]["alliance_roster"] == "1: 西社区党委; N: 甲小区党支部、某科技公司党支部; X: 市税务局机关党支部(结对)"
    assert units["U010"]["community"] == "西社区"
    # Units without households or members are left out: U002, U004-U006, U008, U012.
    assert sorted(units) == ["U001", "U003", "U007", "U009", "U010", "U011"]


@pytest.mark.parametrize("kind", ["orgs", "alliance", "needs"])
def test_every_kind_opens_as_a_workbook_and_a_page(district: Dataset, kind: str) -> None:
    book = openpyxl.load_workbook(io.BytesIO(render_report(district, kind, fmt="xlsx").content))
    assert len(book.sheetnames) == len(_json(district, kind)["tables"])
    page = render_report(district, kind, fmt="html").content.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "测试区" in page
    assert "__total__" not in page


def test_every_kind_on_the_demo_as_the_store_holds_it(tmp_path) -> None:
    # the service reports on the stored layers, which keep the file's own columns (the demo's organisations have no
    # `community` column: it is filled from the boundary)
    import shutil

    from layers.rebuild import build_in_store
    from layers.store import open_store
    from tests.helpers import DEMO

    path = tmp_path / "demo.gpkg"
    shutil.copy(DEMO, path)
    with open_store(path) as store:
        build_in_store(store, BuildParams(minutes=15), actor="test")
        with store.snapshot() as snap:
            ds = snap.export_dataset()
    orgs = _json(ds, "orgs")
    assert orgs["cards"]["orgs"] == 65 and sum(r["orgs"] for r in orgs["tables"]["by_type"]) == 65
    assert {r["community"] for r in orgs["tables"]["roster"]} >= {"锦绣社区", "阳光社区"}
    assert len(_json(ds, "alliance")["tables"]["units"]) > 10
    assert _json(ds, "needs")["cards"]["need_compounds"] == int((ds["compounds"]["needs"] != "").sum())
