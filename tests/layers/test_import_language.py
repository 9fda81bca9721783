"""The importer's warnings speak the import's language: Chinese by default, English when asked (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from layers.i18n import CATALOGUES
from layers.importing import import_sources
from layers.importing.messages import speaking
from layers.importing.report import warning_text

#: English words of three letters or more, once codes in backticks, options (--crs) and CRS names are taken out.
_ENGLISH = re.compile(r"\b[A-Za-z]{3,}\b")
_NOT_WORDS = re.compile(r"`[^`]*`|--[a-z0-9-]+|\b(?:WGS84|CGCS2000|GCJ-02|BD-09|EPSG:\d+|km)\b")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _english_words(message: str) -> list[str]:
    return _ENGLISH.findall(_NOT_WORDS.sub(" ", message))


def test_every_key_is_in_both_languages():
    zh, en = set(CATALOGUES["zh"]), set(CATALOGUES["en"])
    assert sorted(zh - en) == [] and sorted(en - zh) == []


def _far_table(tmp_path: Path) -> Path:
    """Twenty compounds in Ordos and one in Paris (a typo'd row); no centres at all."""
    rows = ["名称,户数,经度,纬度"] + [f"小区{i},100,{109.78 + i * 0.002:.4f},{39.60 + (i % 5) * 0.002:.4f}" for i in range(20)]
    rows.append("远方,100,2.35,48.85")
    path = tmp_path / "小区.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_check_warnings_are_chinese_by_default_and_english_when_asked(tmp_path: Path):
    path = _far_table(tmp_path)
    ds, report = import_sources([path])
    codes = {w["code"] for w in report.warnings}
    assert {"far_away", "no_centers"} <= codes
    assert len(ds["compounds"]) == 20
    for w in report.warnings:
        assert _CJK.search(w["message"]), w
        assert _english_words(w["message"]) == [], w
        english = warning_text(w, "en")
        assert not _CJK.search(re.sub(r"`[^`]*`", "", english).replace("远方", "")), english  # file and feature names are data
    far = next(w for w in report.warnings if w["code"] == "far_away")
    assert far["values"]["count"] == 1 and "远方" in far["message"]
    with speaking("en"):
        _, en_report = import_sources([path])
    assert next(w for w in en_report.warnings if w["code"] == "no_centers")["message"].startswith("the dataset has no existing")


def test_outside_china_is_worded_in_chinese(tmp_path: Path):
    table = pd.DataFrame({"名称": ["甲", "乙"], "户数": [10, 20], "经度": [24.94, 24.95], "纬度": [60.17, 60.18]})
    path = tmp_path / "小区.csv"
    table.to_csv(path, index=False)
    _, report = import_sources([path])
    outside = next(w for w in report.warnings if w["code"] == "outside_china")
    assert outside["message"].startswith("数据位于中国境外") and "居民小区 100%" in outside["message"]
