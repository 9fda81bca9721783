"""Parsing service / need category lists in every separator and language (issue 15)."""

from layers.services.catalogue import catalogue_from
from layers.services.parse import parse_categories


def test_chinese_list_with_dunhao_in_catalogue_order() -> None:
    assert parse_categories("亲情代办、政策宣讲") == (["policy", "errands"], [])


def test_every_separator_and_language_mixed() -> None:
    keys, unknown = parse_categories("政策宣讲,assistance;文体活动，Errands；compound governance 就业服务")
    assert keys == ["policy", "assistance", "culture", "errands", "governance", "employment"]
    assert unknown == []


def test_unknown_names_returned_and_duplicates_dropped() -> None:
    assert parse_categories("政策宣讲、理发、policy") == (["policy"], ["理发"])


def test_empty_and_custom_catalogue() -> None:
    assert parse_categories(None) == ([], [])
    assert parse_categories("  ") == ([], [])
    cat = catalogue_from([("health", "医疗健康", "health care")])
    assert parse_categories("医疗健康 政策宣讲", cat) == (["health"], ["政策宣讲"])
