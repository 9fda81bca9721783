"""CSV headers are protected like cells: a column name written straight into the store never reaches Excel as a formula."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.dataset import read_dataset
from layers.reports.formats import defuse_formula
from layers.store import open_store
from tests.helpers import writes


def test_a_formula_column_name_is_defused_in_the_csv_header(blocks_gpkg: Path):
    compounds = read_dataset(blocks_gpkg)["compounds"]
    compounds["=HYPERLINK(1)"] = "=1+1"
    with open_store(blocks_gpkg) as store:
        writes(store).write_layer("compounds", compounds, actor="test")
    with TestClient(create_app(Settings(dataset=blocks_gpkg))) as client:
        res = client.get("/collections/compounds/items?f=csv")
    assert res.status_code == 200
    rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
    assert "'=HYPERLINK(1)" in rows[0] and "=HYPERLINK(1)" not in rows[0]
    assert all(cell != "=1+1" for row in rows[1:] for cell in row)


def test_defuse_formula_leaves_numbers_and_text():
    assert defuse_formula("-12.5") == "-12.5"
    assert defuse_formula("@SUM(A1)") == "'@SUM(A1)"
    assert defuse_formula("甲小区") == "甲小区"
