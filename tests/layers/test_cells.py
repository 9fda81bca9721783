import numpy as np
import pytest
import shapely

from geo.errors import InvalidValueError
from layers.cells import analysis_cells, square_cells
from layers.coverage import compound_coverage
from layers.units import study_area


def test_square_cells_clip_to_the_area():
    cells = square_cells(shapely.box(0, 0, 900, 900), size_m=250)
    assert len(cells) == 16  # 4 x 4 from the south-west corner; the last row and column 150 m wide
    assert shapely.area(cells).sum() == pytest.approx(810000)
    assert sorted(set(np.round(shapely.area(cells)))) == [22500.0, 37500.0, 62500.0]
    tri = square_cells(shapely.Polygon([(0, 0), (500, 0), (0, 500)]), size_m=250)
    assert len(tri) == 3 and shapely.area(tri).sum() == pytest.approx(125000)


def test_cells_apportion_households_and_coverage(blocks):
    cov = compound_coverage(blocks["compounds"], blocks["centers"], metric_crs=blocks.metric_crs, minutes=5)
    area = study_area(blocks["boundary"], blocks["roads"], metric_crs=blocks.metric_crs)
    cells = analysis_cells(area, cov, metric_crs=blocks.metric_crs, size_m=300, h3_resolution=10)
    for kind in ("square", "h3"):
        part = cells[cells["kind"] == kind]
        assert part["households"].sum() == pytest.approx(1900, abs=0.5)
        # At 5 minutes A (400) and C (1000) are covered, B and D are not.
        assert part["covered_households"].sum() == pytest.approx(1400, abs=0.5)
        assert part["area_m2"].sum() == pytest.approx(810000, abs=1)
    sq = cells[cells["kind"] == "square"]
    assert len(sq) == 9
    a_cell = sq[sq["households"] == 400]
    assert a_cell["coverage"].iloc[0] == 1.0
    assert sq.loc[sq["households"] == 0, "coverage"].isna().all()


def test_bad_cell_options(blocks):
    area = shapely.box(0, 0, 10, 10)
    with pytest.raises(InvalidValueError, match="size_m"):
        square_cells(area, size_m=0)
    with pytest.raises(InvalidValueError, match="kinds"):
        analysis_cells(area, blocks["compounds"], metric_crs=blocks.metric_crs, kinds=["triangle"])
