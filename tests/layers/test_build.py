import pytest

from geo.errors import InvalidValueError
from layers.build import BuildParams, build_dataset, summary_lines
from layers.dataset import read_dataset, write_dataset
from tests.helpers import DEMO


def test_build_on_blocks_fills_admin_units_grids_and_summary(blocks):
    built = build_dataset(blocks, BuildParams(minutes=5))
    c = built["compounds"].set_index("id")
    assert c["community"].to_dict() == {"A": "西社区", "B": "东社区", "C": "东社区", "D": "西社区"}
    assert (c["unit"] != "").all() and (c["grid"] != "").all()
    s = built.meta["summary"]
    assert s["compounds"] == {"total": 4, "covered": 2, "uncovered": 2, "share": 0.5}
    assert s["households"] == {"total": 1900, "covered": 1400, "uncovered": 500, "share": round(1400 / 1900, 6)}
    assert s["centers"]["counted"] == 2 and s["centers"]["by_level"]["compound"] == 1
    assert [r["id"] for r in s["uncovered_top"]] == ["D", "B"]
    units = built["units"]
    assert units["households"].sum() == 1900 and units["covered_households"].sum() == 1400
    grids = built["grids"]
    assert grids["households"].sum() == 1900 and grids["covered_households"].sum() == 1400
    assert built.meta["params"]["minutes"] == 5
    assert "units" not in blocks.layers  # the input dataset is untouched


def test_summary_in_both_languages(blocks):
    s = build_dataset(blocks, BuildParams(minutes=5)).meta["summary"]
    zh = "\n".join(summary_lines(s, "zh"))
    en = "\n".join(summary_lines(s, "en"))
    assert "居民小区 4 个: 已覆盖 2 个, 未覆盖 2 个 (覆盖率 50.0%)" in zh
    assert "Households 1,900: covered 1,400, not covered 500 (73.7% covered)" in en
    with pytest.raises(InvalidValueError, match="`lang`"):
        summary_lines(s, "fr")


def test_bad_params_are_refused_before_work(blocks):
    with pytest.raises(InvalidValueError, match="speed_kmh"):
        build_dataset(blocks, BuildParams(speed_kmh=-1))


def test_demo_district_builds_with_gaps_in_the_intended_range(tmp_path):
    ds = read_dataset(DEMO)
    assert 150 <= len(ds["compounds"]) <= 300
    assert 15 <= len(ds["centers"]) <= 30
    assert set(ds["centers"]["level"]) == {"district", "subdistrict", "community", "compound"}
    hh = ds["compounds"]["households"]
    assert hh.min() >= 80 and hh.max() <= 3000
    b = ds["boundary"]
    assert (b["level"] == "subdistrict").sum() in (2, 3) and 6 <= (b["level"] == "community").sum() <= 10
    built = build_dataset(ds, BuildParams(method="network"))
    s = built.meta["summary"]
    # Not within a 15-minute walk: 10-25 % of households; the straight line misses some of them.
    assert 0.10 <= 1 - s["households"]["share"] <= 0.25
    assert 0.05 <= 1 - s["circle"]["share"] < 1 - s["households"]["share"]
    assert s["circle_overcount"]["compounds"] > 0
    areas = built["service_areas"]
    assert set(areas["minutes"]) == {5.0, 10.0, 15.0} and not areas.geometry.is_empty.any()
    path = write_dataset(built, tmp_path / "demo.gpkg")
    assert path.stat().st_size < 3_000_000
    back = read_dataset(path)
    assert back.built and back.meta["summary"]["households"] == s["households"]
