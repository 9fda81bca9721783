"""Synthetic cities for benchmarks: a grid with diagonal arterials and a river.

``make_city(n_edges, n_centers, n_compounds)`` returns the design's input
layers (``roads``, ``rivers``, ``compounds``, ``centers``, ``boundary``) in
EPSG:4326, placed around 113.3E 23.1N (Guangzhou), built in the CGCS2000
3-degree Gauss-Kruger zone and reprojected.

The city:

- a jittered square grid of streets at ``spacing_m`` (100 m); every tenth
  row is an arterial drawn as one long LineString through all its
  intersections (so lines meet at interior vertices), the other streets are
  two-point lines (``local``, a few ``path``); a few percent are missing;
- two diagonal arterials through the grid's intersections;
- a meandering river (polygon, ~80 m wide) across the city: no street
  crosses it except a few bridges (grid columns every ``bridge_every_m`` and
  the diagonals), which are plain lines over the water with no vertex on it;
- an elevated expressway (``walkable = False``) across the city that shares
  no vertex with the streets;
- compounds: rectangles inside blocks, with ``name`` and ``households``;
- centres near intersections with ``name`` and ``level`` (district,
  subdistrict, community, compound).

Run ``python -m bench.synth_city --edges 100000 --centers 1000 --compounds
20000 out.gpkg`` to write a GeoPackage.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

from geo.crs import WGS84, gauss_kruger_3deg

CENTRE_LON, CENTRE_LAT = 113.3, 23.1
LEVELS = np.array(["district", "subdistrict", "community", "compound"], dtype=object)
_LEVEL_P = np.array([0.005, 0.045, 0.45, 0.5])
_LEVEL_ZH = {"district": "区级", "subdistrict": "街道级", "community": "社区级", "compound": "小区级"}


def make_city(
    n_edges_target: int,
    n_centers: int,
    n_compounds: int,
    *,
    seed: int = 0,
    spacing_m: float = 100.0,
    bridge_every_m: float = 2500.0,
) -> dict[str, gpd.GeoDataFrame]:
    """Make a synthetic city with about ``n_edges_target`` street segments.

    Parameters
    ----------
    n_edges_target
        Wanted number of network edges (street segments between
        intersections); the result is within a few percent.
    n_centers
        Number of party-mass service centres (points).
    n_compounds
        Number of residential compounds (polygons).
    seed
        Random seed; the same arguments give the same city.
    spacing_m
        Street spacing in metres.
    bridge_every_m
        Distance between grid bridges over the river, metres.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        ``roads`` (``class``, ``name``, ``walkable``), ``rivers`` (``name``),
        ``compounds`` (``name``, ``households``, ``population``),
        ``centers`` (``name``, ``level``, ``status``), ``boundary``
        (``name``, ``level``), all in EPSG:4326.
    """
    rng = np.random.default_rng(seed)
    n = max(4, int(round(math.sqrt(n_edges_target / (2 * 0.96)))) + 1)
    metric = gauss_kruger_3deg(CENTRE_LON)
    to_metric = Transformer.from_crs(WGS84, metric, always_xy=True)
    cx, cy = to_metric.transform(CENTRE_LON, CENTRE_LAT)
    extent = (n - 1) * spacing_m
    x0, y0 = cx - extent / 2, cy - extent / 2

    # nodes of the jittered grid, index [row, col]
    jitter = min(8.0, spacing_m * 0.08)
    gx, gy = np.meshgrid(np.arange(n) * spacing_m, np.arange(n) * spacing_m)
    xy = np.stack([gx, gy], -1) + rng.uniform(-jitter, jitter, (n, n, 2))

    # the river: y = mid + amp * sin(2 pi x / wavelength), half-width 40 m
    half_w = 40.0
    amp, wave, mid = 0.08 * extent, extent / 1.5, 0.43 * extent

    def river_y(x: np.ndarray) -> np.ndarray:
        return mid + amp * np.sin(2 * np.pi * x / wave)

    side = np.sign(xy[..., 1] - river_y(xy[..., 0]))
    wet = np.abs(xy[..., 1] - river_y(xy[..., 0])) < half_w + 15.0
    node_ok = ~wet

    idx = np.arange(n * n).reshape(n, n)
    flat = xy.reshape(-1, 2)
    ok = node_ok.ravel()
    sd = side.ravel()

    # horizontal segments (rows) and vertical (columns)
    hu, hv = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    h_row = np.repeat(np.arange(n), n - 1)
    vu, vv = idx[:-1, :].ravel(), idx[1:, :].ravel()
    np.tile(np.arange(n), n - 1)
    h_keep = ok[hu] & ok[hv] & (sd[hu] == sd[hv])
    v_keep = ok[vu] & ok[vv] & (sd[vu] == sd[vv])
    arterial_row = h_row % 10 == 0
    # a few local streets missing
    h_keep &= arterial_row | (rng.random(len(hu)) > 0.03)
    v_keep &= rng.random(len(vu)) > 0.03

    frames = []
    # local horizontal + all vertical: two-point lines
    loc_h = h_keep & ~arterial_row
    lu = np.concatenate([hu[loc_h], vu[v_keep]])
    lv = np.concatenate([hv[loc_h], vv[v_keep]])
    loc_lines = shapely.linestrings(np.stack([flat[lu], flat[lv]], 1))
    cls = np.where(rng.random(len(lu)) < 0.1, "path", "local").astype(object)
    cls[: int(loc_h.sum())][(h_row[loc_h] % 5 == 0)] = "secondary"
    frames.append((loc_lines, cls, np.array([f"街{i % 997}巷" for i in range(len(lu))], dtype=object)))

    # arterial rows: one long line per unbroken run of the row
    art_lines, art_names = [], []
    for r in range(0, n, 10):
        keep = h_keep.reshape(n, n - 1)[r]
        runs = np.flatnonzero(np.diff(np.r_[0, keep.astype(np.int8), 0]))
        for s, e in zip(runs[::2], runs[1::2], strict=True):
            art_lines.append(shapely.linestrings(xy[r, s : e + 1]))
            art_names.append(f"东西{r // 10 + 1}路")
    # diagonals through intersections; gaps over the river become bridges
    for diag in (np.arange(n), np.arange(n)[::-1]):
        pts = xy[np.arange(n), diag]
        good = node_ok[np.arange(n), diag]
        art_lines.append(shapely.linestrings(pts[good]))
        art_names.append("迎宾大道" if diag[0] == 0 else "滨江大道")
    frames.append(
        (
            np.array(art_lines, dtype=object),
            np.full(len(art_lines), "arterial", dtype=object),
            np.array(art_names, dtype=object),
        )
    )

    # grid bridges: per chosen column, the last dry node south to the first dry node north
    bridges, bnames = [], []
    step = max(1, int(round(bridge_every_m / spacing_m)))
    for c in range(step // 2, n, step):
        col_ok = node_ok[:, c]
        south = np.flatnonzero(col_ok & (side[:, c] < 0))
        north = np.flatnonzero(col_ok & (side[:, c] > 0))
        if len(south) and len(north):
            bridges.append(shapely.LineString([xy[south.max(), c], xy[north.min(), c]]))
            bnames.append(f"{len(bnames) + 1}号桥")
    if bridges:
        frames.append(
            (
                np.array(bridges, dtype=object),
                np.full(len(bridges), "secondary", dtype=object),
                np.array(bnames, dtype=object),
            )
        )
    # elevated expressway: no shared vertex, not walkable
    express = shapely.LineString([(0.13 * extent, -50.0), (0.87 * extent, extent + 50.0)])

    geoms = np.concatenate([f[0] for f in frames] + [np.array([express], dtype=object)])
    classes = np.concatenate([f[1] for f in frames] + [np.array(["arterial"], dtype=object)])
    names = np.concatenate([f[2] for f in frames] + [np.array(["高架快速路"], dtype=object)])
    walkable = np.ones(len(geoms), dtype=bool)
    walkable[-1] = False
    roads = gpd.GeoDataFrame(
        {"class": classes, "name": names, "walkable": walkable},
        geometry=shapely.transform(geoms, lambda c: c + (x0, y0)),
        crs=metric,
    )

    xs = np.linspace(-100, extent + 100, 400)
    centre_line = shapely.LineString(np.c_[xs, river_y(xs)])
    rivers = gpd.GeoDataFrame(
        {"name": ["示范河"]},
        geometry=[shapely.transform(centre_line.buffer(half_w, cap_style="flat"), lambda c: c + (x0, y0))],
        crs=metric,
    )

    # compounds inside dry blocks
    bi, bj = np.meshgrid(np.arange(n - 1), np.arange(n - 1), indexing="ij")
    bi, bj = bi.ravel(), bj.ravel()
    dry = node_ok[bi, bj] & node_ok[bi + 1, bj + 1] & node_ok[bi + 1, bj] & node_ok[bi, bj + 1]
    dry &= side[bi, bj] == side[bi + 1, bj + 1]
    blocks = np.flatnonzero(dry)
    pick = rng.choice(blocks, n_compounds, replace=n_compounds > len(blocks))
    lo = np.stack([bj[pick], bi[pick]], -1) * spacing_m
    inset = rng.uniform(15, 30, (n_compounds, 2))
    size = spacing_m - inset - rng.uniform(15, 30, (n_compounds, 2))
    boxes = shapely.box(
        lo[:, 0] + inset[:, 0] + x0,
        lo[:, 1] + inset[:, 1] + y0,
        lo[:, 0] + inset[:, 0] + size[:, 0] + x0,
        lo[:, 1] + inset[:, 1] + size[:, 1] + y0,
    )
    households = rng.integers(100, 3000, n_compounds)
    compounds = gpd.GeoDataFrame(
        {
            "name": np.char.add("小区", np.arange(n_compounds).astype(str)).astype(object),
            "households": households,
            "population": (households * 2.8).round().astype(np.int64),
        },
        geometry=boxes,
        crs=metric,
    )

    # centres: a little way into a block from a dry intersection
    dry_nodes = np.flatnonzero(ok)
    at = rng.choice(dry_nodes, n_centers, replace=n_centers > len(dry_nodes))
    off = rng.uniform(8, 25, (n_centers, 2)) * rng.choice([-1, 1], (n_centers, 2))
    cxy = flat[at] + off + (x0, y0)
    level = rng.choice(LEVELS, n_centers, p=_LEVEL_P)
    level[0] = "district"
    names_c = np.array([f"{_LEVEL_ZH[lv]}党群服务中心{i}" for i, lv in enumerate(level)], dtype=object)
    centers = gpd.GeoDataFrame(
        {"name": names_c, "level": level, "status": np.full(n_centers, "existing", dtype=object)},
        geometry=shapely.points(cxy),
        crs=metric,
    )
    boundary = gpd.GeoDataFrame(
        {"name": ["示范区"], "level": ["district"]},
        geometry=[shapely.box(x0 - 50, y0 - 50, x0 + extent + 50, y0 + extent + 50)],
        crs=metric,
    )
    layers = {"roads": roads, "rivers": rivers, "compounds": compounds, "centers": centers, "boundary": boundary}
    return {k: f.to_crs(WGS84) for k, f in layers.items()}


def write_city(path: str | Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Write the layers into one GeoPackage (pyogrio), replacing the file."""
    import pyogrio

    path = Path(path)
    if path.exists():
        path.unlink()
    for name, frame in layers.items():
        pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG")


def main(argv: list[str] | None = None) -> None:
    """Command line: write a synthetic city GeoPackage."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="GeoPackage to write")
    ap.add_argument("--edges", type=int, default=100_000)
    ap.add_argument("--centers", type=int, default=1_000)
    ap.add_argument("--compounds", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    layers = make_city(args.edges, args.centers, args.compounds, seed=args.seed)
    write_city(args.out, layers)
    print(
        f"wrote {args.out}: {len(layers['roads'])} roads, {len(layers['compounds'])} compounds, "
        f"{len(layers['centers'])} centres in {time.perf_counter() - t:.1f} s"
    )


if __name__ == "__main__":
    main()
