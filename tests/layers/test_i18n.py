"""The text catalogue: the TOML files load, English never has a key Chinese lacks, lookups fall back."""

import pytest

from geo.errors import InvalidValueError
from layers.i18n import CATALOGUES, LANGS, check_lang, flag_text, text


def test_every_language_loads_as_strings_and_english_keys_are_chinese_keys():
    assert set(CATALOGUES) == set(LANGS) == {"zh", "en"}
    for words in CATALOGUES.values():
        assert words and all(isinstance(k, str) and isinstance(v, str) and v for k, v in words.items())
    assert set(CATALOGUES["en"]) <= set(CATALOGUES["zh"])


def test_lookup_formats_and_falls_back():
    assert text("layer.centers") == "党群服务中心"
    assert text("layer.centers", "en") == "Party-mass service centres"
    assert text("summary.written", "en", path="a.gpkg").endswith("a.gpkg")
    assert text("no.such.key", "en") == "no.such.key"
    assert flag_text("uncovered,no_party_org") == "未覆盖、无小区党组织"
    assert flag_text("uncovered,no_party_org", "en") == "not covered, no party organisation"


def test_unknown_language_lists_the_languages():
    assert check_lang("en") == "en"
    with pytest.raises(InvalidValueError, match="zh, en"):
        check_lang("fr")
