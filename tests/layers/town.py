"""A two-community town for the planning tests (reports, suggestions, scenarios), numbers worked by hand.

Local metres (placed in Kangbashi like the shared fixture), 15 minutes at 4 km/h = 1000 m::

    community 西社区 x 0-1000            community 东社区 x 1000-2000
    W1 (200,500) 100 hh, org            E1 (1200,500) 500 hh, org
    W2 (800,500) 300 hh, no org         E2 (1900,500) 700 hh, no org
                                        E3 (1100,200) 200 hh, org
    S1 community, existing (200,400)    S2 compound, planned (1850,300)

Straight line from S1: W1 100 m, W2 608.3 m, E3 922.0 m (covered); E1 1005.0 m,
E2 1702.9 m (not covered).  Households 1800: covered 600, uncovered 1200.
"""

from __future__ import annotations

import geopandas as gpd
import shapely
from shapely.geometry import LineString, Point

from layers.dataset import Dataset, empty_layer
from tests.helpers import local, make_dataset, square

HOUSEHOLDS = {"W1": 100, "W2": 300, "E1": 500, "E2": 700, "E3": 200}
POPULATION = {"W1": 250, "W2": 800, "E1": 1300, "E2": 1900, "E3": 520}
XY = {"W1": (200, 500), "W2": (800, 500), "E1": (1200, 500), "E2": (1900, 500), "E3": (1100, 200)}


def town_layers() -> dict[str, gpd.GeoDataFrame]:
    """Raw input layers of the town."""
    ids = list(HOUSEHOLDS)
    boundary = gpd.GeoDataFrame(
        {
            "name": ["测试区", "一街道", "西社区", "东社区"],
            "level": ["district", "subdistrict", "community", "community"],
            "parent": ["", "测试区", "一街道", "一街道"],
        },
        geometry=[shapely.box(0, 0, 2000, 1000), shapely.box(0, 0, 2000, 1000), shapely.box(0, 0, 1000, 1000),
                  shapely.box(1000, 0, 2000, 1000)],
    )
    roads = [LineString([(0, y), (2000, y)]) for y in (0, 1000)] + [LineString([(x, 0), (x, 1000)]) for x in (0, 1000, 2000)]
    roads.append(LineString([(0, 650), (2000, 650)]))
    classes = ["arterial"] * 5 + ["local"]
    return {
        "boundary": local(boundary),
        "roads": local(gpd.GeoDataFrame({"name": [f"路{i}" for i in range(len(roads))], "class": classes}, geometry=roads)),
        "compounds": local(
            gpd.GeoDataFrame(
                {
                    "id": ids,
                    "name": [f"{i}小区" for i in ids],
                    "households": [HOUSEHOLDS[i] for i in ids],
                    "population": [POPULATION[i] for i in ids],
                    "has_party_org": [True, False, True, False, True],
                },
                geometry=[square(*XY[i]) for i in ids],
            )
        ),
        "centers": local(
            gpd.GeoDataFrame(
                {
                    "id": ["S1", "S2"],
                    "name": ["西社区中心", "东站"],
                    "level": ["community", "compound"],
                    "status": ["existing", "planned"],
                },
                geometry=[Point(200, 400), Point(1850, 300)],
            )
        ),
    }


def town() -> Dataset:
    """The town, validated (not built); no rivers."""
    ds = make_dataset(town_layers())
    ds.layers["rivers"] = empty_layer("rivers")
    return ds


def built_town() -> Dataset:
    """The town built with the default parameters (15 min, 4 km/h, straight line)."""
    from layers.build import build_dataset

    return build_dataset(town())
