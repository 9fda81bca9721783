"""Gap reports: hand-worked numbers on the two-community town, and every format agreeing to the household."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from shapely.geometry import Point

from geo.errors import InvalidValueError, NotBuiltError
from layers.dataset import Dataset, read_dataset
from layers.reports.formats import report_csv, report_json, report_xlsx
from layers.reports.gap_tables import GroupBy, group_table
from layers.reports.gaps import gap_report
from layers.reports.html import report_html
from layers.reports.kinds import render_gap_report
from tests.helpers import DEMO, local
from tests.layers.town import built_town

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _no_map(dataset: Dataset, *, lang: str = "zh") -> bytes:
    return PNG_MAGIC + b"stub"


@pytest.fixture(scope="module")
def town() -> Dataset:
    return built_town()


@pytest.fixture(scope="module")
def demo() -> Dataset:
    from layers.build import build_dataset

    return build_dataset(read_dataset(DEMO))


# ---------------------------------------------------------------------------
# the numbers


def test_community_rows_and_total_are_the_hand_worked_numbers(town: Dataset):
    r = gap_report(town, by="community")
    rows = r.groups.set_index("key")
    east, west = rows.loc["东社区"], rows.loc["西社区"]
    assert (east["compounds"], east["households"], east["covered_households"], east["uncovered_households"]) == (3, 1400, 200, 1200)
    assert (east["covered_compounds"], east["uncovered_compounds"], east["no_party_org"]) == (1, 2, 1)
    assert east["population"] == 1300 + 1900 + 520 and east["covered_population"] == 520
    assert east["household_share"] == pytest.approx(200 / 1400)
    assert east["compound_share"] == pytest.approx(1 / 3)
    assert (west["households"], west["covered_households"], west["household_share"]) == (400, 400, 1.0)
    # the counted community centre S1 stands in the west; the planned S2 in the east does not count
    assert (west["centers_community"], east["centers_community"], east["centers_compound"]) == (1, 0, 0)
    assert list(r.groups["key"]) == ["东社区", "西社区"]  # most uncovered households first
    t = r.totals
    assert (t["compounds"], t["households"], t["covered_households"], t["uncovered_households"]) == (5, 1800, 600, 1200)
    assert (t["covered_compounds"], t["uncovered_compounds"], t["no_party_org"]) == (3, 2, 2)
    assert (t["population"], t["covered_population"]) == (4770, 1570)
    assert t["household_share"] == pytest.approx(1 / 3) and t["compound_share"] == pytest.approx(0.6)
    assert (t["centers_community"], t["centers_compound"], t["centers_district"]) == (1, 0, 0)
    assert r.district == "测试区" and r.compare is None


def test_uncovered_list_is_largest_first_with_walks_beyond_the_target(town: Dataset):
    u = gap_report(town).uncovered
    assert list(u["id"]) == ["E2", "E1"]
    e2, e1 = u.iloc[0], u.iloc[1]
    # E2 (1900,500) to S1 (200,400): sqrt(1700^2 + 100^2) = 1702.9 m = 25.54 min at 66.67 m/min
    assert e2["walk_m"] == pytest.approx(1702.9) and e2["walk_min"] == pytest.approx(25.54)
    assert e2["target_min"] == 15 and e2["beyond_min"] == pytest.approx(10.54)
    assert e2["straight_m"] == pytest.approx(1702.9) and e2["nearest_center"] == "西社区中心"
    assert not e2["has_party_org"] and e2["flags"] == "uncovered,no_party_org"
    # E1 (1200,500): sqrt(1000^2 + 100^2) = 1005.0 m, 15.07 min, 0.07 beyond
    assert e1["walk_m"] == pytest.approx(1005.0) and e1["beyond_min"] == pytest.approx(0.07)
    assert (e1["community"], e1["subdistrict"], e1["households"]) == ("东社区", "一街道", 500)


@pytest.mark.parametrize("by", [g.value for g in GroupBy])
def test_every_grouping_sums_to_the_total_and_the_compounds_layer(demo: Dataset, by: str):
    r = gap_report(demo, by=by)
    c = demo["compounds"]
    hh = c["households"].to_numpy()
    cov = c["covered"].to_numpy(bool)
    assert r.totals["households"] == hh.sum() and r.totals["covered_households"] == hh[cov].sum()
    for col in ("compounds", "households", "population", "covered_households", "uncovered_households", "no_party_org",
                "centers_community", "centers_compound", "centers_subdistrict", "centers_district"):
        assert r.groups[col].sum() == r.totals[col], col
    assert len(r.uncovered) == r.totals["uncovered_compounds"]
    assert r.uncovered["households"].sum() == r.totals["uncovered_households"]


def test_a_centre_outside_every_community_makes_an_unassigned_row_so_totals_still_agree(town: Dataset):
    outside = local(
        gpd.GeoDataFrame(
            {"id": ["S9"], "name": ["界外站"], "level": ["compound"], "status": ["existing"], "community": [""],
             "subdistrict": [""], "capacity": [np.nan]},
            geometry=[Point(2600, 500)],
        )
    )
    ds = town.replace(centers=gpd.GeoDataFrame(pd.concat([town["centers"], outside], ignore_index=True), crs=4326))
    r = gap_report(ds, by="community")
    blank = r.groups.set_index("key").loc[""]
    assert blank["centers_compound"] == 1 and blank["households"] == 0
    assert r.groups["centers_compound"].sum() == r.totals["centers_compound"] == 1
    assert group_table(r, "zh").rows[-2][0] == "(未归属)"


def test_errors_name_the_field(town: Dataset):
    with pytest.raises(InvalidValueError, match="`by` must be one of") as e:
        gap_report(town, by="street")
    assert e.value.field == "by"
    raw = town.replace(compounds=town["compounds"].drop(columns=["covered"]))
    with pytest.raises(NotBuiltError):
        gap_report(raw)


def test_straight_line_and_network_shares_side_by_side_when_both_were_computed(town: Dataset):
    c = town["compounds"].copy()
    # as if the walking network had left W2 (300 hh) uncovered that the circle covers
    c["covered_circle"] = c["covered"].to_numpy()
    c.loc[c["id"] == "W2", "covered"] = False
    r = gap_report(town.replace(compounds=c), by="community")
    assert r.compare is not None
    assert r.compare["circle"]["covered_households"] == 600 and r.compare["network"]["covered_households"] == 300
    assert r.compare["overcount"] == {"compounds": 1, "households": 300}
    west = r.groups.set_index("key").loc["西社区"]
    assert west["circle_covered_households"] == 400 and west["covered_households"] == 100
    assert west["circle_household_share"] == 1.0 and west["household_share"] == pytest.approx(0.25)
    assert "直线法户数覆盖率" in report_csv(r).decode("utf-8-sig").splitlines()[0]


# ---------------------------------------------------------------------------
# the formats agree with each other and with the compounds layer


def _csv_total(content: bytes) -> dict[str, str]:
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    return dict(zip(rows[0], rows[-1], strict=True))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_totals_agree_across_json_csv_xlsx_html_and_the_compounds_layer(demo: Dataset, lang: str):
    c = demo["compounds"]
    hh = c["households"].astype(int)
    cov = c["covered"].astype(bool)
    want = {"households": int(hh.sum()), "covered_households": int(hh[cov].sum()),
            "uncovered_households": int(hh[~cov].sum()), "compounds": len(c), "uncovered_compounds": int((~cov).sum())}
    r = gap_report(demo, by="community")
    from layers.i18n import text

    data = json.loads(report_json(r, lang))
    assert {k: data["totals"][k] for k in want} == want
    assert sum(g["households"] for g in data["groups"]) == want["households"]
    assert data["labels"]["households"] == text("col.households", lang)

    total_row = _csv_total(report_csv(r, lang))
    assert total_row[text("report.by.community", lang)] == text("report.total", lang)
    assert {k: int(total_row[text(f"col.{k}", lang)]) for k in want} == want
    unc = list(csv.DictReader(io.StringIO(report_csv(r, lang, table="uncovered").decode("utf-8-sig"))))
    assert sum(int(u[text("col.households", lang)]) for u in unc) == want["uncovered_households"]

    wb = load_workbook(io.BytesIO(report_xlsx(r, lang)))
    items = {row[0]: row[1] for row in wb[text("report.sheet.totals", lang)].iter_rows(min_row=2, values_only=True)}
    assert {k: items[text(f"col.{k}", lang)] for k in want} == want
    sheet = wb[text("report.by.community", lang)]
    header = [cell.value for cell in sheet[1]]
    last = [cell.value for cell in sheet[sheet.max_row]]
    assert last[0] == text("report.total", lang)
    assert {k: last[header.index(text(f"col.{k}", lang))] for k in want} == want
    unc_sheet = wb[text("report.sheet.uncovered", lang)]
    hcol = [cell.value for cell in unc_sheet[1]].index(text("col.households", lang))
    assert sum(row[hcol] for row in unc_sheet.iter_rows(min_row=2, values_only=True)) == want["uncovered_households"]

    page = report_html(r, lang, map_png=_no_map(demo))
    found = dict(re.findall(r'data-key="(\w+)" data-value="([\d.]+)"', page))
    assert {k: int(found[k]) for k in want} == want
    assert f"{want['uncovered_households']:,}" in page


def test_xlsx_sheets_number_formats_widths_and_frozen_header(town: Dataset):
    wb = load_workbook(io.BytesIO(report_xlsx(gap_report(town, by="grid"), "zh")))
    assert wb.sheetnames == ["总体情况", "网格", "未覆盖小区"]
    ws = wb["网格"]
    header = [c.value for c in ws[1]]
    share = header.index("户数覆盖率") + 1
    hh = header.index("户数") + 1
    assert ws.cell(2, share).number_format == "0.0%" and ws.cell(2, hh).number_format == "#,##0"
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref
    assert all(ws.column_dimensions[ch].width >= 10 for ch in "ABCDE")
    assert ws.cell(ws.max_row, 1).font.bold  # the district total
    unc = wb["未覆盖小区"]
    walk = [c.value for c in unc[1]].index("步行时间(分钟)") + 1
    assert unc.cell(2, walk).value == pytest.approx(25.54) and unc.cell(2, walk).number_format == "0.00"


def test_csv_is_utf8_with_bom_and_english_on_request(town: Dataset):
    r = gap_report(town)
    zh = report_csv(r, "zh")
    assert zh.startswith(b"\xef\xbb\xbf") and zh.decode("utf-8-sig").splitlines()[0].startswith("社区,小区数,户数")
    en = report_csv(r, "en").decode("utf-8-sig").splitlines()
    assert en[0].startswith("Community,Compounds,Households") and en[-1].startswith("District total,5,1800")
    assert en[1].startswith("东社区,3,1400,3720,1,2,0.3333,200,1200,0.1429")


def test_data_text_is_escaped_in_html_and_defused_in_csv_and_xlsx(town: Dataset):
    c = town["compounds"].copy()
    c.loc[c["id"] == "E2", "name"] = '<script>alert("x")</script>'
    c.loc[c["id"] == "E1", "name"] = '=HYPERLINK("http://evil","x")'
    r = gap_report(town.replace(compounds=c))
    page = report_html(r, "zh", map_png=None, map_error="测试")
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    rows = list(csv.reader(io.StringIO(report_csv(r, table="uncovered").decode("utf-8-sig"))))
    assert rows[2][1] == "'=HYPERLINK(\"http://evil\",\"x\")"
    ws = load_workbook(io.BytesIO(report_xlsx(r)))["未覆盖小区"]
    assert ws.cell(3, 2).data_type == "s" and ws.cell(3, 2).value.startswith("=HYPERLINK")


def test_html_is_one_self_contained_page_with_the_map_embedded(town: Dataset):
    out = render_gap_report(town, by="community", fmt="html", lang="zh")
    page = out.content.decode("utf-8")
    assert out.media_type.startswith("text/html") and page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page and "测试区 党群服务中心服务圈缺口报告" in page
    assert 'src="data:image/png;base64,' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere
    assert "E2小区" in page and "未覆盖小区清单" in page


def test_map_falls_back_to_english_with_a_warning_without_a_cjk_font(town: Dataset, monkeypatch):
    import layers.reports.map_png as rm

    monkeypatch.setattr(rm, "cjk_font_family", lambda: None)
    with pytest.warns(rm.CJKFontMissingWarning):
        png = rm.gap_map_png(town, lang="zh", label_top=2)
    assert png.startswith(PNG_MAGIC)


def test_a_cjk_font_is_found_when_the_project_set_up_installed_one():
    from layers.reports.map_png import cjk_font_family

    family = cjk_font_family()
    if family is None:
        pytest.skip("no CJK font installed (scripts/system-deps.sh installs fonts-noto-cjk)")
    assert "CJK" in family or "Hei" in family or "Han" in family


def test_render_picks_media_type_and_file_name(town: Dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = render_gap_report(town, by="unit", fmt="xlsx", lang="en")
    assert x.filename == "gaps_unit.xlsx" and x.content[:2] == b"PK"
    c = render_gap_report(town, by="grid", fmt="csv", table="uncovered")
    assert c.filename == "gaps_grid.uncovered.csv" and c.media_type.startswith("text/csv")
    with pytest.raises(InvalidValueError, match="`format` must be one of"):
        render_gap_report(town, fmt="pdf")
    h = render_gap_report(town, fmt="html", map_renderer=lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("boom")))
    assert "无法绘制地图: RuntimeError: boom" in h.content.decode()
