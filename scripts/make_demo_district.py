"""Generate the bundled demo district (康巴什示范区) as one GeoPackage.

Deterministic: the same script writes the same file.  The district sits at
real coordinates in Kangbashi, Ordos (about 39.60N, 109.78E), 4.2 x 3 km,
with a river (乌兰木伦河) crossed by three bridges, arterial and secondary
roads 450-650 m apart (two of them curved), local streets and riverside
paths, three subdistricts, eight communities, about 200 residential compounds
and twenty service centres placed so that part of the district is not served;
about 65 party organisations of every type (each community's, compound and
grid branches, local bodies, some paired with a community), residents' needs
on compounds and the services each centre offers.

Run ``python scripts/make_demo_district.py [OUT.gpkg]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import split

from layers.schema import ALIASES

SEED = 20261124
ORIGIN_LONLAT = (109.755, 39.587)  # south-west corner of the district
METRIC = CRS.from_epsg(4546)  # CGCS2000 / 3-degree Gauss-Kruger CM 111E
WIDTH, HEIGHT = 4200.0, 3000.0
OUT = Path(__file__).resolve().parents[1] / "layers" / "demo" / "kangbashi_demo.gpkg"

rng = np.random.default_rng(SEED)


def river_y(x: np.ndarray | float) -> np.ndarray | float:
    """Centre line of the river, metres north of the district's south edge."""
    return 1350 + 110 * np.sin(2 * np.pi * np.asarray(x) / 2600) + 45 * np.sin(2 * np.pi * np.asarray(x) / 900)


def curve(xs: np.ndarray, y0: float, amp: float, wave: float) -> LineString:
    """An east-west road that swings north and south."""
    return LineString(np.column_stack([xs, y0 + amp * np.sin(2 * np.pi * xs / wave)]))


def district_polygon() -> Polygon:
    return Polygon(
        [(0, 0), (2100, -60), (WIDTH, 0), (WIDTH + 60, 1500), (WIDTH, HEIGHT), (2000, HEIGHT + 80), (0, HEIGHT), (-50, 1500)]
    )


def roads_and_river(district: Polygon) -> tuple[gpd.GeoDataFrame, Polygon, LineString]:
    xs = np.linspace(-200, WIDTH + 200, 400)
    centre = LineString(np.column_stack([xs, river_y(xs)]))
    river = centre.buffer(35, cap_style="flat")
    rows: list[tuple[str, str, LineString]] = []
    # North-south roads: (x, class, name, crosses the river?)
    verticals = [
        (500, "secondary", "康和路", True),
        (1150, "secondary", "文化路", False),
        (1800, "arterial", "鄂尔多斯大街", True),
        (2450, "secondary", "青春山路", False),
        (3100, "arterial", "乌兰木伦路", True),
        (3750, "secondary", "康宁路", False),
    ]
    for x, cls, name, bridge in verticals:
        full = LineString([(x, -200), (x, HEIGHT + 200)])
        if bridge:
            rows.append((name, cls, full))
        else:
            south = LineString([(x, -200), (x, float(river_y(x)) - 60)])
            north = LineString([(x, float(river_y(x)) + 60), (x, HEIGHT + 200)])
            rows += [(name, cls, south), (name, cls, north)]
    rows.append(("康巴什大道", "arterial", curve(xs, 450, 60, 2100)))
    rows.append(("滨湖路", "secondary", LineString([(-200, 900), (WIDTH + 200, 900)])))
    rows.append(("北环路", "arterial", LineString([(-200, 1850), (WIDTH + 200, 1850)])))
    rows.append(("青年大街", "secondary", curve(xs, 2450, 90, 1800)))
    # Riverside promenades on both banks.
    for side, name in ((-1, "滨河南步道"), (1, "滨河北步道")):
        rows.append((name, "path", LineString(np.column_stack([xs, river_y(xs) + side * 70]))))
    # Local streets halfway between the main roads, kept off the river.
    dry = district.buffer(300).difference(centre.buffer(60))
    for x in (825, 1475, 2125, 2775, 3425, 4000):
        line = LineString([(x, -200), (x, HEIGHT + 200)]).intersection(dry)
        for part in shapely.get_parts(line):
            if rng.random() > 0.15:
                rows.append((f"支路{len(rows):02d}", "local", part))
    for y in (225, 675, 1120, 2150, 2750):
        line = LineString([(-200, y), (WIDTH + 200, y)]).intersection(dry)
        for part in shapely.get_parts(line):
            rows.append((f"支路{len(rows):02d}", "local", part))
    # A footpath through a park in the north-west.
    rows.append(("公园步道", "path", LineString([(500, 2150), (825, 2300), (1150, 2150)])))
    frame = gpd.GeoDataFrame(
        {"name": [r[0] for r in rows], "class": [r[1] for r in rows]}, geometry=[r[2] for r in rows]
    )
    frame["geometry"] = frame.geometry.intersection(district)
    frame = frame[~frame.geometry.is_empty].explode(ignore_index=True)
    return node_roads(frame), river.intersection(district.buffer(100)), centre


def node_roads(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Split roads where they meet so that crossings share a vertex."""
    segments = shapely.get_parts(shapely.node(shapely.union_all(frame.geometry.to_numpy())))
    mids = shapely.line_interpolate_point(segments, 0.5, normalized=True)
    seg_idx, src_idx = frame.sindex.query(mids, predicate="dwithin", distance=0.01)
    first = pd.Series(src_idx, index=seg_idx).groupby(level=0).first()
    out = frame.iloc[first.to_numpy()].reset_index(drop=True)
    out = out.set_geometry(segments[first.index.to_numpy()])
    out["walkable"] = True
    return out[out.geometry.length > 0.5].reset_index(drop=True)


PREFIX = list("康锦华阳御碧金银紫书幸和滨青颐丽世翠怡富泰盛祥瑞嘉悦润")
MIDDLE = ["城", "苑", "府", "园", "庭", "景", "湾", "都", "居", "苑"]
SUFFIX = ["小区", "花园", "家园", "嘉园", "雅居", "公寓", "新村", "名城", "佳苑", "华庭"]


def compound_names(n: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        name = rng.choice(PREFIX) + rng.choice(PREFIX) + rng.choice(MIDDLE) + rng.choice(SUFFIX)
        if name[0] == name[1] or name in seen:
            continue
        seen.add(name)
        names.append(str(name))
    return names


def split_block(block: Polygon, pieces: int) -> list[Polygon]:
    minx, miny, maxx, maxy = block.bounds
    out = [block]
    for k in range(1, pieces):
        piece = out.pop()
        if maxx - minx >= maxy - miny:
            cut = minx + (maxx - minx) * k / pieces
            blade = LineString([(cut, miny - 1), (cut, maxy + 1)])
        else:
            cut = miny + (maxy - miny) * k / pieces
            blade = LineString([(minx - 1, cut), (maxx + 1, cut)])
        parts = sorted(split(piece, blade).geoms, key=lambda g: (g.centroid.x, g.centroid.y))
        out += parts
    return [p.buffer(-6) for p in out]


def compounds(district: Polygon, roads: gpd.GeoDataFrame, river: Polygon) -> gpd.GeoDataFrame:
    edges = shapely.union_all([*roads.geometry, district.exterior, river.exterior])
    blocks = [b for b in shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.node(edges))))]
    blocks = sorted(
        (b for b in blocks if district.contains(b.representative_point()) and not river.contains(b.representative_point())),
        key=lambda b: (round(b.centroid.y, -2), b.centroid.x),
    )
    polys: list[Polygon] = []
    for b in blocks:
        inset = b.buffer(-14, join_style="mitre")
        if inset.is_empty or inset.area < 9000 or rng.random() < 0.12:
            continue  # parks, schools, offices
        pieces = 1 if inset.area < 45000 else (2 if inset.area < 110000 else 3)
        polys += [p for p in split_block(inset, pieces) if p.area > 4000]
    geoms = gpd.GeoSeries(polys)
    area_ha = geoms.area.to_numpy() / 10000
    density = rng.choice([25, 90, 140, 190, 260], size=len(polys), p=[0.08, 0.3, 0.32, 0.2, 0.1])
    households = np.clip(np.round(area_ha * density * rng.uniform(0.8, 1.2, len(polys))), 80, 3000).astype(int)
    population = np.round(households * rng.uniform(2.3, 3.0, len(polys))).astype(int)
    party = rng.random(len(polys)) < np.where(households > 500, 0.7, 0.35)
    return gpd.GeoDataFrame(
        {
            "id": [f"XQ{i + 1:03d}" for i in range(len(polys))],
            "name": compound_names(len(polys)),
            "households": households,
            "population": population,
            "has_party_org": party,
        },
        geometry=geoms,
    )


SUBDISTRICTS = {"south": "滨河街道", "northwest": "青春山街道", "northeast": "哈巴格希街道"}
COMMUNITIES = [
    ("锦绣社区", "south", (-500, 1150)),
    ("和谐社区", "south", (1150, 2450)),
    ("康城社区", "south", (2450, 4800)),
    ("青春社区", "northwest", (-500, 1150)),
    ("书香社区", "northwest", (1150, 1800)),
    ("文博社区", "northeast", (1800, 2450)),
    ("颐和社区", "northeast", (2450, 3100)),
    ("阳光社区", "northeast", (3100, 4800)),
]


def boundaries(district: Polygon, centre: LineString) -> gpd.GeoDataFrame:
    halves = sorted(split(district, centre).geoms, key=lambda g: g.centroid.y)
    south, north = halves[0], shapely.union_all(halves[1:])
    parts = {
        "south": south,
        "northwest": north.intersection(shapely.box(-500, -500, 1800, 4000)),
        "northeast": north.intersection(shapely.box(1800, -500, 4800, 4000)),
    }
    rows = [("康巴什示范区", "district", "", district)]
    rows += [(SUBDISTRICTS[k], "subdistrict", "康巴什示范区", g) for k, g in parts.items()]
    for name, sub, (x0, x1) in COMMUNITIES:
        rows.append((name, "community", SUBDISTRICTS[sub], parts[sub].intersection(shapely.box(x0, -500, x1, 4000))))
    return gpd.GeoDataFrame(
        {
            "id": [f"B{i:02d}" for i in range(len(rows))],
            "name": [r[0] for r in rows],
            "level": [r[1] for r in rows],
            "parent": [r[2] for r in rows],
        },
        geometry=[r[3] for r in rows],
    )


# Centres: (name, level, status, x, y).  Placed by hand so that the river, the
# eastern edge and the south-west corner are left partly unserved.
CENTERS = [
    ("康巴什示范区党群服务中心", "district", "existing", 1950, 2000),
    ("滨河街道党群服务中心", "subdistrict", "existing", 1900, 700),
    ("青春山街道党群服务中心", "subdistrict", "existing", 1000, 2300),
    ("哈巴格希街道党群服务中心", "subdistrict", "existing", 2950, 2300),
    ("锦绣社区党群服务中心", "community", "existing", 1000, 1000),
    ("和谐社区党群服务中心", "community", "existing", 1600, 300),
    ("康城社区党群服务中心", "community", "planned", 3900, 600),
    ("青春社区党群服务中心", "community", "existing", 350, 2700),
    ("书香社区党群服务中心", "community", "existing", 1450, 2850),
    ("文博社区党群服务中心", "community", "existing", 2300, 2700),
    ("颐和社区党群服务中心", "community", "existing", 2750, 1650),
    ("阳光社区党群服务中心", "community", "existing", 3500, 2800),
    ("锦华苑小区党群服务站", "compound", "existing", 650, 1080),
    ("御景湾小区党群服务站", "compound", "existing", 2300, 1150),
    ("金泰名城小区党群服务站", "compound", "planned", 2850, 350),
    ("碧水华庭小区党群服务站", "compound", "existing", 1300, 1650),
    ("紫园雅居小区党群服务站", "compound", "proposed", 3300, 2000),
    ("幸福家园小区党群服务站", "compound", "existing", 600, 2000),
    ("颐景嘉园小区党群服务站", "compound", "proposed", 4000, 1600),
    ("书香佳苑小区党群服务站", "compound", "existing", 1700, 2450),
]


def centers() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [f"DQ{i + 1:02d}" for i in range(len(CENTERS))],
            "name": [c[0] for c in CENTERS],
            "level": [c[1] for c in CENTERS],
            "status": [c[2] for c in CENTERS],
            "capacity": [{"district": 800, "subdistrict": 400, "community": 150, "compound": 50}[c[1]] for c in CENTERS],
        },
        geometry=[Point(c[3], c[4]) for c in CENTERS],
    )


# Services (服务项目清单) by centre level: every centre offers its level's first ones, some one more.
CATEGORIES = ("政策宣讲", "帮扶救助", "文体活动", "亲情代办", "小区治理", "就业服务")
LEVEL_SERVICES = {"district": 6, "subdistrict": 5, "community": 3, "compound": 2}

# Party organisations outside the community and compound branches: (name, type, members, community or "")
# — "" for a body placed anywhere in the district; the alliance column names the community it is paired with.
LOCAL_ORGS = [
    ("康巴什区委组织部机关党支部", "机关", 42, "和谐社区"),
    ("康巴什区民政局机关党支部", "机关", 35, "锦绣社区"),
    ("康巴什区税务局机关党支部", "机关", 28, "康城社区"),
    ("康巴什区卫健委机关党支部", "机关", 31, "阳光社区"),
    ("康巴什区住建局机关党支部", "机关", 26, "青春社区"),
    ("康巴什区第一小学党支部", "事业单位", 24, ""),
    ("康巴什区人民医院党委", "事业单位", 168, ""),
    ("康巴什区图书馆党支部", "事业单位", 12, ""),
    ("康巴什区体育中心党支部", "事业单位", 9, ""),
    ("国网康巴什供电公司党支部", "国有企业", 57, "文博社区"),
    ("康巴什城投集团党委", "国有企业", 88, ""),
    ("中国移动康巴什分公司党支部", "国有企业", 21, ""),
    ("鄂尔多斯绿源科技有限公司党支部", "非公企业", 11, ""),
    ("康巴什万家惠超市党支部", "非公企业", 6, ""),
    ("蒙泰物业服务有限公司党支部", "非公企业", 19, "颐和社区"),
    ("康巴什智慧停车公司党支部", "非公企业", 5, ""),
    ("鄂尔多斯羊绒制品公司党支部", "非公企业", 14, ""),
    ("阳光社工服务中心党支部", "社会组织", 7, "阳光社区"),
    ("康巴什爱心志愿者协会党支部", "社会组织", 9, ""),
    ("康巴什老年协会党支部", "社会组织", 15, "书香社区"),
    ("康巴什书画协会党支部", "社会组织", 4, ""),
    ("锦绣社区商户联合党支部", "联合党支部", 8, ""),
    ("康城社区非公企业联合党支部", "联合党支部", 10, ""),
    ("文博社区楼宇联合党支部", "联合党支部", 7, ""),
]


#: How a body outside the community is tied to it (结对共建 for government bodies, 驻区 for units based there).
PAIRING_ROLE = {"机关": "结对", "国有企业": "驻区", "非公企业": "驻区", "社会组织": "共建"}


def party_orgs(boundary: gpd.GeoDataFrame, compounds_: gpd.GeoDataFrame, centers_: gpd.GeoDataFrame, river: Polygon) -> gpd.GeoDataFrame:
    """About 65 party organisations: each community's, compound branches, one grid branch per community, local bodies."""
    r = np.random.default_rng(SEED + 1)  # its own stream: the compounds and centres stay as they were
    rows: list[tuple[str, str, int, str, str, Point, str]] = []
    communities = boundary[boundary["level"] == "community"]
    for _, com in communities.iterrows():
        centre = centers_[centers_["community"] == com["name"]]
        at = centre.geometry.iloc[0] if len(centre) else com.geometry.representative_point()
        rows.append((f"{com['name']}党委", "社区党组织", int(r.integers(80, 300)), "", "", Point(at.x + 25, at.y + 15), ""))
        mine = compounds_[compounds_["community"] == com["name"]]
        if len(mine):
            first = mine.iloc[int(r.integers(len(mine)))]
            p = first.geometry.representative_point()
            rows.append((f"{com['name']}第1网格党支部", "网格党支部", int(r.integers(5, 25)), "", "", p, ""))
    with_org = compounds_[compounds_["has_party_org"].astype(bool)]
    for _, c in with_org.iloc[r.permutation(len(with_org))[:25]].sort_index().iterrows():
        p = c.geometry.representative_point()
        rows.append((f"{c['name']}党支部", "小区党组织", int(r.integers(6, 60)), str(c["id"]), "", Point(p.x + 5, p.y), ""))
    for name, kind, members, paired in LOCAL_ORGS:
        com = communities[communities["name"] == paired] if paired and r.random() < 0.5 else communities.iloc[[int(r.integers(len(communities)))]]
        area = com.geometry.iloc[0].difference(river)
        x0, y0, x1, y1 = area.bounds
        while True:
            p = Point(r.uniform(x0, x1), r.uniform(y0, y1))
            if area.contains(p) and not compounds_.contains(p).any():
                break
        rows.append((name, kind, members, "", paired, p, PAIRING_ROLE.get(kind, "结对") if paired else ""))
    return gpd.GeoDataFrame(
        {
            "id": [f"DZ{i + 1:03d}" for i in range(len(rows))],
            "name": [row[0] for row in rows],
            "type": [ALIASES["org_type"][row[1]] for row in rows],  # stored as codes, like centre levels
            "members": [row[2] for row in rows],
            "compound": [row[3] for row in rows],
            "alliance": [row[4] for row in rows],
            "role": [row[6] for row in rows],
        },
        geometry=[row[5] for row in rows],
    )


def needs_and_services(compounds_: gpd.GeoDataFrame, centers_: gpd.GeoDataFrame) -> None:
    """Residents' needs on compounds (0-3 categories) and services on centres (by level), in place."""
    r = np.random.default_rng(SEED + 2)
    weights = np.array([0.14, 0.2, 0.26, 0.16, 0.14, 0.1])
    needs = []
    for _ in range(len(compounds_)):
        k = int(r.choice([0, 1, 2, 3], p=[0.25, 0.35, 0.28, 0.12]))
        picked = sorted(r.choice(len(CATEGORIES), size=k, replace=False, p=weights)) if k else []
        needs.append("、".join(CATEGORIES[i] for i in picked))
    compounds_["needs"] = needs
    services = []
    for level in centers_["level"]:
        n = LEVEL_SERVICES[level] + int(r.random() < 0.4)
        first = list(range(min(n, len(CATEGORIES))))
        if level in ("community", "compound"):
            first = sorted(r.choice(len(CATEGORIES), size=min(n, len(CATEGORIES)), replace=False))
        services.append("、".join(CATEGORIES[i] for i in first))
    centers_["services"] = services


def to_lonlat(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    ox, oy = Transformer.from_crs(4326, METRIC, always_xy=True).transform(*ORIGIN_LONLAT)
    moved = frame.copy()
    moved["geometry"] = shapely.transform(frame.geometry.to_numpy(), lambda c: c + np.array([ox, oy]))
    return gpd.GeoDataFrame(moved, geometry="geometry", crs=METRIC).to_crs(4326)


def main(out: Path = OUT) -> Path:
    district = district_polygon()
    roads, river, centre = roads_and_river(district)
    bnd = boundaries(district, centre)
    cmp_ = compounds(district, roads, river)
    communities = bnd[bnd.level == "community"]
    j = gpd.sjoin(
        gpd.GeoDataFrame(geometry=cmp_.representative_point()), communities[["name", "geometry"]], predicate="within"
    )
    cmp_["community"] = j["name"].groupby(level=0).first().reindex(cmp_.index).fillna("").to_numpy()
    # A compound must lie in one community: drop the rare block that straddles two.
    inside = [communities.geometry.intersection(g).area.max() / g.area > 0.99 for g in cmp_.geometry]
    cmp_ = cmp_[np.array(inside) & (cmp_["community"] != "")].reset_index(drop=True)
    cmp_["id"] = [f"XQ{i + 1:03d}" for i in range(len(cmp_))]
    ctr = centers()
    jc = gpd.sjoin(ctr[["geometry"]], communities[["name", "geometry"]], predicate="within")
    ctr["community"] = jc["name"].groupby(level=0).first().reindex(ctr.index).fillna("").to_numpy()
    rivers = gpd.GeoDataFrame({"id": ["HE1"], "name": ["乌兰木伦河"]}, geometry=[river])
    orgs = party_orgs(bnd, cmp_, ctr, river)
    needs_and_services(cmp_, ctr)
    roads.insert(0, "id", [f"LU{i + 1:04d}" for i in range(len(roads))])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    layers = (("boundary", bnd), ("rivers", rivers), ("roads", roads), ("compounds", cmp_), ("centers", ctr), ("party_orgs", orgs))
    for name, frame in layers:
        pyogrio.write_dataframe(to_lonlat(frame), out, layer=name, driver="GPKG")
    return out


if __name__ == "__main__":
    path = main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
    print(path, f"{path.stat().st_size / 1e6:.2f} MB")
