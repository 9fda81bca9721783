"""Shared test data: a hand-drawn 3 x 3 block district whose numbers are worked out by hand.

Local metres are placed at a real spot in Kangbashi (CGCS2000 3-degree
Gauss-Kruger CM 111E, EPSG:4546) and stored in WGS84, as real data would be.

Roads form a 3 x 3 grid of 300 m blocks (x, y = 0, 300, 600, 900); a river
runs east-west along y = 450 and splits the middle row.  Compounds are
100 m squares centred in blocks; centres sit on roads::

    A (150,150) 400 hh    B (450,150) 200 hh    C (750,750) 1000 hh    D (150,750) 300 hh
    S1 community (150,300)   S2 compound (900,900)   S3 community planned (750,150)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point

from geo.crs import metric_crs
from layers.dataset import Dataset, prepare_layer
from layers.store import Store

LOCAL = CRS.from_epsg(4546)
ORIGIN = Transformer.from_crs(4326, LOCAL, always_xy=True).transform(109.78, 39.60)
DEMO = Path(__file__).resolve().parents[1] / "layers" / "demo" / "kangbashi_demo.gpkg"


def local(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Frame drawn in local metres -> WGS84."""
    moved = frame.copy()
    moved["geometry"] = shapely.transform(frame.geometry.to_numpy(), lambda c: c + np.array(ORIGIN))
    return gpd.GeoDataFrame(moved, geometry="geometry", crs=LOCAL).to_crs(4326)


def square(cx: float, cy: float, half: float = 50.0) -> shapely.Polygon:
    """A square of side ``2 * half`` centred on ``(cx, cy)``."""
    return shapely.box(cx - half, cy - half, cx + half, cy + half)


def block_layers() -> dict[str, gpd.GeoDataFrame]:
    """The raw input layers of the 3 x 3 fixture (before validation)."""
    # Roads share a vertex wherever they meet (as surveyed data does); 小巷 joins y = 0 and y = 300 at x = 150.
    ticks = (0, 300, 600, 900)
    roads = [LineString([(x, y) for y in ticks]) for x in ticks]
    roads += [LineString(sorted({(x, y) for x in (*ticks, 150)} if y in (0, 300) else {(x, y) for x in ticks})) for y in ticks]
    classes = ["arterial", "secondary", "secondary", "arterial", "arterial", "secondary", "secondary", "arterial"]
    names = ["西路", "一路", "二路", "东路", "南街", "中街", "北中街", "北街"]
    roads.append(LineString([(150, 0), (150, 300)]))
    classes.append("local")
    names.append("小巷")
    boundary = gpd.GeoDataFrame(
        {
            "name": ["测试区", "西社区", "东社区"],
            "level": ["district", "community", "community"],
            "parent": ["", "测试区", "测试区"],
        },
        geometry=[shapely.box(0, 0, 900, 900), shapely.box(0, 0, 450, 900), shapely.box(450, 0, 900, 900)],
    )
    return {
        "boundary": local(boundary),
        "roads": local(gpd.GeoDataFrame({"name": names, "class": classes}, geometry=roads)),
        "rivers": local(gpd.GeoDataFrame({"name": ["小河"]}, geometry=[LineString([(-50, 450), (950, 450)])])),
        "compounds": local(
            gpd.GeoDataFrame(
                {
                    "id": ["A", "B", "C", "D"],
                    "name": ["甲小区", "乙小区", "丙小区", "丁小区"],
                    "households": [400, 200, 1000, 300],
                    "has_party_org": [True, False, True, True],
                },
                geometry=[square(150, 150), square(450, 150), square(750, 750), square(150, 750)],
            )
        ),
        "centers": local(
            gpd.GeoDataFrame(
                {
                    "id": ["S1", "S2", "S3"],
                    "name": ["一号中心", "二号站", "三号中心"],
                    "level": ["community", "compound", "community"],
                    "status": ["existing", "existing", "planned"],
                },
                geometry=[Point(150, 300), Point(900, 900), Point(750, 150)],
            )
        ),
    }


#: Party organisations of the block district: name, type as a planner types it, members, compound, alliance,
#: local x, y (see ``tests/layers/test_orgs.py`` for where each lies).
BLOCK_ORGS = [
    ("西社区党委", "社区党委", 120, "", "", 100, 400),  # U007 (west strip), community 西社区 by its polygon
    ("东社区党委", "社区党组织", 80, "", "", 700, 350),  # U009 (east strip), 东社区
    ("甲小区党支部", "小区党组织", 25, "A", "", 160, 150),  # names compound A: U010
    ("乙小区党支部", "compound", 6, "", "", 450, 150),  # inside B's polygon, names no compound: B has one now
    ("某科技公司党支部", "非公企业", 8, "", "", 200, 50),  # U010
    ("市税务局机关党支部", "机关", 30, "", "西社区", 1200, 100),  # outside: paired (结对) with 西社区
    ("丙小区联合党支部", "联合党支部", 12, "", "", 750, 760),  # inside C: U003
    ("丁小区网格党支部", "网格党支部", 5, "", "", 160, 760),  # inside D: U001
    ("阳光社工服务中心党支部", "社会组织", 3, "", "邻里单元11", 1300, 100),  # outside: tied to unit U011 by name
]


def block_layers_with_orgs() -> dict[str, gpd.GeoDataFrame]:
    """The block district's raw layers plus :data:`BLOCK_ORGS` as ``party_orgs``."""
    layers = block_layers()
    layers["party_orgs"] = local(
        gpd.GeoDataFrame(
            {
                "name": [o[0] for o in BLOCK_ORGS],
                "type": [o[1] for o in BLOCK_ORGS],
                "members": [o[2] for o in BLOCK_ORGS],
                "compound": [o[3] for o in BLOCK_ORGS],
                "alliance": [o[4] for o in BLOCK_ORGS],
                "role": ["结对" if o[0] == "市税务局机关党支部" else "" for o in BLOCK_ORGS],
            },
            geometry=[Point(o[5], o[6]) for o in BLOCK_ORGS],
        )
    )
    return layers


def make_dataset(layers: dict[str, gpd.GeoDataFrame]) -> Dataset:
    """Validate raw layers into a :class:`Dataset` the way ``read_dataset`` does."""
    prepared, reports = {}, {}
    for name, frame in layers.items():
        prepared[name], reports[name] = prepare_layer(frame, name)
    crs = metric_crs(*(prepared[n] for n in ("boundary", "roads", "compounds") if n in prepared))
    return Dataset(layers=prepared, metric_crs=crs, report=reports)


class _OneShot:
    """Any read of a snapshot, or write of a transaction, as one call on a store (tests only)."""

    def __init__(self, store: Store, *, write: bool) -> None:
        self._store, self._write = store, write

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._write:
                with self._store.transaction(actor=kwargs.pop("actor")) as tx:
                    out = getattr(tx, name)(*args, **kwargs)
                    return tx.revision if out is None else out
            with self._store.snapshot() as snap:
                return getattr(snap, name)(*args, **kwargs)

        return call


def reads(store: Store) -> Any:
    """``reads(store).read_layer("centers")``: one snapshot for one read."""
    return _OneShot(store, write=False)


def writes(store: Store) -> Any:
    """``writes(store).write_layer("centers", frame, actor="t")``: one transaction for one write; the result or the new revision."""
    return _OneShot(store, write=True)
