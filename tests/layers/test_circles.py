"""Per-level minutes as text: one parser for the command line and the batch manifest."""

import pytest

from geo.errors import InvalidValueError
from layers.circles import parse_level_minutes


def test_pairs_split_by_commas_or_semicolons_full_width_too():
    assert parse_level_minutes("compound=5,community=15") == {"compound": 5.0, "community": 15.0}
    assert parse_level_minutes(" compound = 5；community=12.5; ") == {"compound": 5.0, "community": 12.5}
    assert parse_level_minutes("") == {}


@pytest.mark.parametrize("bad", ["compound:5", "compound=x", "compound=5,community"])
def test_a_bad_pair_is_named(bad):
    with pytest.raises(InvalidValueError, match="LEVEL=MINUTES") as info:
        parse_level_minutes(bad, option="--level-minutes")
    assert info.value.message.startswith("`--level-minutes` takes") and info.value.field == "level_minutes"
    with pytest.raises(InvalidValueError, match="^takes LEVEL=MINUTES"):
        parse_level_minutes(bad)
