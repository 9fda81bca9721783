"""The one numpy/pandas/shapely to plain-JSON converter."""

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import shapely

from geo.plain import is_missing, json_records, jsonable, plain_scalar


def test_scalars_become_python():
    assert type(plain_scalar(np.int64(3))) is int and type(plain_scalar(np.float32(0.5))) is float
    assert plain_scalar(np.bool_(True)) is True and plain_scalar("a") == "a"
    assert all(is_missing(v) for v in (None, pd.NA, pd.NaT, float("nan"))) and not is_missing(0)


def test_jsonable_is_plain_json_all_the_way_down():
    value = {
        1: [np.int64(2), np.float64("nan"), np.float32(np.inf), np.bool_(False)],
        "t": pd.Timestamp("2024-05-01T08:00:00", tz="UTC"),
        "d": datetime(2024, 5, 1, tzinfo=UTC),
        "a": np.array([1, 2]),
        "g": shapely.Point(1, 2),
        "b": b"\x01",
        "n": pd.NA,
        "other": complex(1, 2),
    }
    out = jsonable(value)
    assert out == {
        "1": [2, None, None, False],
        "t": "2024-05-01T08:00:00+00:00",
        "d": "2024-05-01T00:00:00+00:00",
        "a": [1, 2],
        "g": {"type": "Point", "coordinates": [1.0, 2.0]},
        "b": "01",
        "n": None,
        "other": "(1+2j)",
    }
    assert json.loads(json.dumps(out, allow_nan=False)) == out


def test_records_of_a_frame():
    frame = pd.DataFrame(
        {
            "i": np.array([1, 2], dtype="int64"),
            "f": [1.5, np.nan],
            "s": ["a", None],
            "o": pd.Series([np.int64(7), {"k": np.float64(0.5)}], dtype=object),
            "t": pd.to_datetime(["2024-01-02", None]),
        }
    )
    assert json_records(frame) == [
        {"i": 1, "f": 1.5, "s": "a", "o": 7, "t": "2024-01-02T00:00:00"},
        {"i": 2, "f": None, "s": None, "o": {"k": 0.5}, "t": None},
    ]
    assert all(type(r["i"]) is int for r in json_records(frame))


def test_infinite_floats_become_null_so_the_text_is_json():
    frame = pd.DataFrame({"walk_m": [np.inf, 12.5, -np.inf, np.nan], "n": [1, 2, 3, 4]})
    rows = json_records(frame)
    assert [r["walk_m"] for r in rows] == [None, 12.5, None, None]
    assert "Infinity" not in json.dumps(rows, allow_nan=False)
