"""Import the files planners hold into a dataset, and report every decision.

``import_sources`` reads one or more sources (GeoPackage, GeoJSON, Shapefile,
zip, KML, CSV/XLSX with coordinates, OpenStreetMap), decides which input layer
each table is (``--layer``, the file's own name, else its geometry and
columns), maps Chinese or English headers onto the design's columns, brings
coordinates to WGS84 (any EPSG code, CGCS2000, or GCJ-02/BD-09 web-map
coordinates), validates and repairs rows with
:func:`layers.dataset.prepare_layer`, and returns a :class:`~layers.dataset.Dataset`
plus an :class:`ImportReport`; nothing is written.

``write_import`` then writes the layers, the meta values and the report into
the dataset's store (:mod:`layers.store`: its GeoPackage, or its PostGIS
schema) in one transaction, with the importer as the audit log's actor, so a
failed or killed import leaves the previous state.  ``import_to_gpkg`` does
both for a GeoPackage store (a new file gets its name only once complete);
``import_to_file`` (``dangjian import``) also writes the report beside it as
``X.import.txt`` and ``X.import.json`` for people.  The service reads
reports from the store (``Snapshot.list_import_reports``).

Heuristics warn, they never silently change data: longitude and latitude
swapped, survey X/Y swapped, metres declared as degrees (an error with a hint),
points sitting off the roads by the GCJ-02 offset, data outside China.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.chinacoords import ChinaCRS, out_of_china, transform_geometries
from geo.crs import CGCS2000, WGS84, bulk_centre, distance_from_km, metric_crs
from geo.errors import CRSError, DangjianError, DatasetExistsError, InputError, InvalidValueError, MissingColumnError
from geo.files import write_atomic
from layers.dataset import Dataset, LayerReport, empty_layer, prepare_layer
from layers.i18n import text
from layers.importing.archives import remove_tree, safe_extract, zip_members
from layers.importing.options import OSMOptions
from layers.importing.osm import read_osm
from layers.importing.raw import RawLayer, header_key, source_format
from layers.importing.readers import read_geojson, read_gpkg, read_kml, read_shapefile
from layers.importing.tables import read_csv, read_xlsx
from layers.schema import INPUT_LAYERS, LAYER_SPECS
from layers.store import Store, open_store
from layers.store.gpkg import new_geopackage

Progress = Callable[[str], None]

#: Scratch files of a new dataset older than this (s) are left-overs of a killed import and removed.
_STALE_SCRATCH_S = 3600.0

#: Layers a source can be imported as.
TARGETS: tuple[str, ...] = INPUT_LAYERS

#: Header spellings per layer and design column (compared after :func:`layers.importing.raw.header_key`).
HEADER_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "compounds": {
        "id": ("id", "编号", "小区编号", "代码", "小区代码"),
        "name": ("name", "名称", "小区名称", "小区名", "小区", "名字", "居民小区", "小区名字"),
        "households": ("households", "hh", "户数", "总户数", "住户数", "居民户数", "户数合计", "入住户数"),
        "population": ("population", "pop", "人口", "人口数", "常住人口", "总人口", "居住人口", "人数"),
        "community": ("community", "所属社区", "社区", "社区名称", "所在社区"),
        "has_party_org": (
            "haspartyorg", "partyorg", "是否有小区党组织", "小区党组织", "是否建立小区党组织",
            "有无党组织", "是否有党组织", "党组织", "是否成立党组织",
            # DBF field names stop at 10 bytes: five Chinese characters in GBK.
            "是否有小区", "是否建立小", "是否成立党", "是否有党组",
        ),
    },
    "centers": {
        "id": ("id", "编号", "代码", "中心编号"),
        "name": ("name", "名称", "中心名称", "站点名称", "服务中心名称", "阵地名称", "名字", "党群服务中心"),
        "level": ("level", "级别", "等级", "层级", "中心级别"),
        "status": ("status", "状态", "建设状态", "现状"),
        "community": ("community", "所属社区", "社区", "所在社区", "社区名称"),
        "capacity": ("capacity", "容量", "服务能力", "服务人数"),
    },
    "roads": {
        "id": ("id", "编号"),
        "name": ("name", "名称", "道路名称", "路名"),
        "class": ("class", "道路等级", "等级", "道路类型", "类别", "道路级别"),
        "walkable": ("walkable", "可步行", "是否可步行"),
    },
    "rivers": {"id": ("id", "编号"), "name": ("name", "名称", "河流名称", "河名", "水系名称")},
    "boundary": {
        "id": ("id", "编号", "代码", "区划代码"),
        "name": ("name", "名称", "行政区名称", "区划名称", "社区名称", "街道名称"),
        "level": ("level", "级别", "层级", "行政级别"),
        "parent": ("parent", "上级", "所属街道", "上级区划", "上级名称"),
    },
    "gates": {"compound": ("compound", "所属小区", "小区", "小区编号"), "name": ("name", "名称", "门名称")},
}

#: Words in a file, layer or sheet name that say which layer it is (compared after header_key).
LAYER_HINTS: dict[str, tuple[str, ...]] = {
    "gates": ("gate", "gates", "出入口", "小区门", "大门"),
    "centers": ("center", "centre", "centers", "centres", "党群", "服务中心", "服务站", "阵地", "驿站"),
    "compounds": ("compound", "compounds", "residential", "小区", "居民区", "住宅", "楼盘"),
    "boundary": ("boundary", "boundaries", "admin", "district", "边界", "行政区", "区划", "辖区", "范围"),
    "rivers": ("river", "rivers", "water", "waterway", "河", "水系", "水域", "湖"),
    "roads": ("road", "roads", "street", "streets", "highway", "道路", "路网", "街巷"),
}


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class SourceCRS:
    """What ``--crs`` said: a pyproj CRS, or a Chinese web-map system in degrees."""

    label: str
    crs: CRS
    china: ChinaCRS | None = None


def parse_crs(value: str | None) -> SourceCRS | None:
    """Parse ``--crs``: ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or anything pyproj reads (``EPSG:4546``).

    Raises
    ------
    CRSError
        Naming the field ``crs`` and the accepted forms.
    """
    if value is None or not str(value).strip():
        return None
    key = str(value).strip().lower().replace("-", "").replace("_", "")
    if key in {"wgs84", "4326", "epsg4326", "epsg:4326"}:
        return SourceCRS("EPSG:4326 (WGS84)", WGS84)
    if key in {"cgcs2000", "4490", "epsg:4490"}:
        return SourceCRS("EPSG:4490 (CGCS2000)", CGCS2000)
    if key in {"gcj02", "amap", "gaode", "tencent", "火星"}:
        return SourceCRS("GCJ-02 (AMap/Tencent)", WGS84, ChinaCRS.gcj02)
    if key in {"bd09", "bd09ll", "baidu"}:
        return SourceCRS("BD-09 (Baidu)", WGS84, ChinaCRS.bd09)
    try:
        crs = CRS.from_user_input(str(value).strip())
    except Exception:
        msg = f"`crs` must be wgs84, cgcs2000, gcj02, bd09 or an EPSG code like EPSG:4546; got {value!r}"
        raise CRSError(msg, field="crs") from None
    code = crs.to_epsg()
    return SourceCRS(f"EPSG:{code} ({crs.name})" if code else crs.name, crs)


def parse_columns(value: str | dict[str, str] | None) -> dict[str, str]:
    """Parse ``--columns 名称=name,户数=households`` into ``{source header: design column}``."""
    if not value:
        return {}
    pairs = value.items() if isinstance(value, dict) else (p.partition("=")[::2] for p in re.split(r"[,，;；]", value) if p.strip())
    allowed = {c for spec in LAYER_SPECS.values() for c in ("id", *spec.required, *spec.optional)} | {"lon", "lat", "x", "y", "wkt"}
    out: dict[str, str] = {}
    for src, dst in pairs:
        src, dst = str(src).strip(), str(dst).strip()
        if not src or not dst:
            msg = f"`columns` takes HEADER=COLUMN pairs like 名称=name,户数=households; got {value!r}"
            raise InvalidValueError(msg, field="columns")
        if dst not in allowed:
            msg = f"`columns`: `{dst}` is not a column of any layer (columns: {', '.join(sorted(allowed))})"
            raise InvalidValueError(msg, field="columns")
        out[src] = dst
    return out


def parse_bbox(value: str | Sequence[float] | None) -> tuple[float, float, float, float] | None:
    """Parse ``--bbox minlon,minlat,maxlon,maxlat`` (degrees, EPSG:4326)."""
    if value is None or value == "":
        return None
    try:
        parts = [float(v) for v in (re.split(r"[,\s]+", value.strip()) if isinstance(value, str) else value)]
    except ValueError:
        parts = []
    if len(parts) != 4 or not (-180 <= parts[0] < parts[2] <= 180 and -90 <= parts[1] < parts[3] <= 90):
        msg = f"`bbox` must be minlon,minlat,maxlon,maxlat in degrees with min < max; got {value!r}"
        raise InvalidValueError(msg, field="bbox")
    return (parts[0], parts[1], parts[2], parts[3])


@dataclass
class ImportOptions:
    """How sources are read (see ``dangjian import --help``).

    Attributes
    ----------
    crs
        Coordinate system of sources that declare none, or that must be read
        as something else (GCJ-02/BD-09 web-map coordinates).
    layer
        Import every table as this layer instead of guessing.
    columns
        Source header -> design column (``{"名称": "name"}``), before the
        built-in Chinese and English spellings.
    encoding
        Text encoding of Shapefile attributes and CSV files (default:
        the ``.cpg`` file, else UTF-8 or GBK detected).
    bbox
        Keep only features inside ``(minlon, minlat, maxlon, maxlat)``.
    clip
        ``"boundary"`` to keep only what lies inside the imported boundary, or
        a polygon file.
    swap_xy
        Swap the two coordinates of every non-OSM source (after a warning said so).
    skip_bad_rows
        Leave out rows with bad values and list them, instead of failing.
    point_radius_m
        Compounds given as points become circles of this radius (m).
    osm
        Household estimation for OpenStreetMap compounds.
    """

    crs: str | None = None
    layer: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    clip: str | None = None
    swap_xy: bool = False
    skip_bad_rows: bool = False
    point_radius_m: float = 50.0
    osm: OSMOptions = field(default_factory=OSMOptions)

    def checked(self) -> ImportOptions:
        """Validate the values, raising errors that name the option."""
        if self.layer is not None and self.layer not in TARGETS:
            msg = f"`layer` must be one of {', '.join(TARGETS)}; got {self.layer!r}"
            raise InvalidValueError(msg, field="layer")
        parse_crs(self.crs)
        if self.encoding:
            try:
                "".encode(self.encoding)
            except LookupError:
                msg = f"`encoding` {self.encoding!r} is not a known text encoding (try gbk, gb18030, utf-8)"
                raise InvalidValueError(msg, field="encoding") from None
        if not self.point_radius_m > 0:
            msg = f"`point_radius_m` must be positive; got {self.point_radius_m!r}"
            raise InvalidValueError(msg, field="point_radius_m")
        return self


# --------------------------------------------------------------------------- report


@dataclass
class SourceReport:
    """What importing one table did."""

    source: str
    format: str
    layer: str
    layer_reason: str
    crs: str
    encoding: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    read: int = 0
    kept: int = 0
    repaired: int = 0
    clipped: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """The validation report of one import: sources, layers, warnings."""

    sources: list[SourceReport] = field(default_factory=list)
    layers: dict[str, int] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)
    metric_crs: str = ""
    output: str = ""

    def warn(self, code: str, message: str, source: str = "") -> None:
        """Add a warning (``code`` is stable, ``message`` is for people)."""
        self.warnings.append({"code": code, "source": source, "message": message})

    @property
    def rejected(self) -> int:
        """Rows left out, over all sources."""
        return sum(len(s.rejected) for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "output": self.output,
            "metric_crs": self.metric_crs,
            "layers": dict(self.layers),
            "rows": {
                "read": sum(s.read for s in self.sources),
                "kept": sum(s.kept for s in self.sources),
                "repaired": sum(s.repaired for s in self.sources),
                "rejected": self.rejected,
                "clipped": sum(s.clipped for s in self.sources),
            },
            "sources": [asdict(s) for s in self.sources],
            "warnings": list(self.warnings),
        }


def report_lines(report: ImportReport | dict[str, Any], lang: str = "zh") -> list[str]:
    """The report as a readable plain-text table (for the terminal, logs and the ``.txt`` file)."""
    d = report.as_dict() if isinstance(report, ImportReport) else report
    keys = ("title", "source", "layer", "crs", "read", "kept", "repaired", "rejected", "clipped", "encoding",
            "columns", "warnings", "rejected_rows", "row", "layers", "none", "metric")
    t = {k: text(f"import.{k}", lang) for k in keys}
    heads = [t["source"], t["layer"], t["crs"], t["read"], t["kept"], t["repaired"], t["rejected"], t["clipped"]]
    rows = [
        [s["source"], s["layer"], s["crs"], str(s["read"]), str(s["kept"]), str(s["repaired"]), str(len(s["rejected"])), str(s["clipped"])]
        for s in d["sources"]
    ]
    widths = [max(_width(r[i]) for r in [heads, *rows]) for i in range(len(heads))]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [t["title"] + (f": {d['output']}" if d.get("output") else ""), line(heads), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    for s in d["sources"]:
        mapped = ", ".join(f"{k}->{v}" for k, v in s["columns"].items() if k != v)
        extra = [f"{t['encoding']} {s['encoding']}"] if s.get("encoding") else []
        if mapped:
            extra.append(f"{t['columns']}: {mapped}")
        if extra:
            out.append(f"  {s['source']}: " + "; ".join(extra))
    out.append(f"{t['layers']}: " + ", ".join(f"{k} {v}" for k, v in d["layers"].items()) + (f"; {t['metric']} {d['metric_crs']}" if d.get("metric_crs") else ""))
    rejected = [(s["source"], r) for s in d["sources"] for r in s["rejected"]]
    if rejected:
        out.append(t["rejected_rows"] + ":")
        for src, r in rejected[:50]:
            out.append(f"  {src} {t['row'].format(row=r['row'])}: {r['reason']}")
        if len(rejected) > 50:
            out.append(f"  ... +{len(rejected) - 50}")
    if d["warnings"]:
        out.append(t["warnings"] + ":")
        out += [f"  [{w['code']}] {w['message']}" for w in d["warnings"]]
    return out


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


# --------------------------------------------------------------------------- reading sources


def _nothing(_: str) -> None:
    return None


def _read_one(path: Path, label: str, options: ImportOptions, scratch: Path, progress: Progress) -> list[RawLayer]:
    fmt = source_format(path)
    if fmt == "zip":
        dest = Path(tempfile.mkdtemp(prefix="zip-", dir=scratch))
        members = zip_members(safe_extract(path, dest))
        if not members:
            msg = f"`{label}` holds no file that can be imported (.shp, .gpkg, .geojson, .kml, .csv, .xlsx)"
            raise InputError(msg, field="source")
        out: list[RawLayer] = []
        for m in members:
            rel = m.relative_to(dest.resolve()).as_posix()
            for raw in _read_one(m, f"{label}/{rel}", options, scratch, progress):
                out.append(raw)
        return out
    progress(label)
    if fmt == "osm":
        wanted = [options.layer] if options.layer else None
        res = read_osm(path, bbox=options.bbox, layers=wanted, options=options.osm, progress=lambda step: progress(f"{label}: {step}"))
        raws = []
        for name, frame in res.layers.items():
            raw = RawLayer(source=f"{label}:{name}", frame=frame, fmt="osm", hint=name, target=name, crs_fixed=True)
            raw.extra["skipped"] = res.skipped.get(name, 0)
            raws.append(raw)
        if raws:
            raws[0].notes.extend(res.notes)
        return raws
    if fmt == "gpkg":
        raws = read_gpkg(path)
    elif fmt == "geojson":
        raws = read_geojson(path)
    elif fmt == "shapefile":
        raws = read_shapefile(path, encoding=options.encoding)
    elif fmt == "kml":
        raws = read_kml(path)
    elif fmt == "csv":
        raws = read_csv(path, encoding=options.encoding, columns=options.columns)
    else:
        raws = read_xlsx(path, columns=options.columns)
    prefix = label[: -len(path.name)] if label.endswith(path.name) else ""
    for raw in raws:
        raw.source = prefix + raw.source
        raw.extra["file_stem"] = path.stem
    return raws


# --------------------------------------------------------------------------- layer guessing and columns


def _hint_layer(text: str) -> str | None:
    key = header_key(text)
    for layer, words in LAYER_HINTS.items():
        if any(w in key for w in words):
            return layer
    return None


def _alias_targets(frame: pd.DataFrame) -> set[str]:
    """Design columns the headers of ``frame`` can be mapped to (any layer)."""
    keys = {header_key(c) for c in frame.columns}
    found = set()
    for columns in HEADER_ALIASES.values():
        for column, names in columns.items():
            if keys & set(names):
                found.add(column)
    return found


def guess_layer(raw: RawLayer, *, columns: dict[str, str] | None = None) -> tuple[str, str]:
    """Which input layer a table is, and why: its layer/sheet name, its file name, else geometry and columns.

    Raises
    ------
    InputError
        When nothing tells; the message asks for ``--layer``.
    """
    if raw.target:
        return raw.target, "given by the reader"
    for hint_text, why in ((raw.hint, "name"), (str(raw.extra.get("file_stem", "")), "file name")):
        layer = _hint_layer(hint_text) if hint_text else None
        if layer:
            return layer, f"{why} `{hint_text}`"
    geoms = raw.frame.geometry
    present = geoms[~geoms.isna()]
    kinds = set(present.geom_type) if len(present) else set()
    have = _alias_targets(raw.frame) | set((columns or {}).values())
    if kinds and kinds <= {"Point", "MultiPoint"}:
        if "households" in have:
            return "compounds", "points with households"
        if "level" in have or "status" in have:
            return "centers", "points with a level or status"
        if "compound" in have:
            return "gates", "points with a compound"
    if kinds and kinds <= {"Polygon", "MultiPolygon"}:
        if "households" in have:
            return "compounds", "polygons with households"
        if "parent" in have or "level" in have:
            return "boundary", "polygons with a level"
    if kinds and kinds <= {"LineString", "MultiLineString"}:
        return "roads", "lines"
    msg = (
        f"cannot tell which layer `{raw.source}` is ({', '.join(sorted(kinds)) or 'no geometry'}); "
        f"give --layer {'|'.join(TARGETS)}"
    )
    raise InputError(msg, field="layer")


def map_columns(frame: gpd.GeoDataFrame, layer: str, user: dict[str, str]) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Rename source headers to the design's columns of ``layer``.

    The user's ``--columns`` pairs come first, then a header already named as
    the design column, then the built-in spellings (``户数`` -> ``households``).

    Returns
    -------
    (GeoDataFrame, mapping)
        The renamed frame (columns colliding with GeoPackage's ``fid`` or with
        each other case-insensitively are renamed ``*_source``) and the
        ``{source header: design column}`` mapping used.
    """
    geom = frame.geometry.name
    renames: dict[str, str] = {}
    taken: set[str] = set()
    for src, dst in user.items():
        if src in frame.columns and src != geom and dst not in {"lon", "lat", "x", "y", "wkt"}:
            renames[src] = dst
            taken.add(dst)
    aliases = HEADER_ALIASES.get(layer, {})
    for column in aliases:
        if column in taken:
            continue
        if column in frame.columns and column not in renames:
            taken.add(column)
            continue
        for src in frame.columns:
            if src in renames or src == geom or src in taken:
                continue
            if header_key(src) in aliases[column]:
                renames[src] = column
                taken.add(column)
                break
    # A source column already named like a design column that another header now fills moves aside.
    displaced = {c: f"{c}_source" for c in frame.columns if c in taken and c not in renames and c in renames.values()}
    out = frame.rename(columns={**displaced, **renames})
    seen: set[str] = set()
    fixes: dict[str, str] = {}
    for c in out.columns:
        low = str(c).lower()
        if low == "fid" or (low in seen and c != geom):
            fixes[c] = f"{c}_source"
        seen.add(low)
    if fixes:
        out = out.rename(columns=fixes)
    cleaned: dict[Any, str] = {}
    names = {str(c).lower() for c in out.columns}
    for i, c in enumerate(out.columns):
        new = safe_column_name(str(c), i) if c != geom else c
        if new != c:
            new = new if new.lower() not in names else f"{new}_{i}"
            names.add(new.lower())
            cleaned[c] = new
    if cleaned:  # a header such as `=HYPERLINK(...)` never reaches a spreadsheet as a formula
        out = out.rename(columns=cleaned)
        renames.update({str(src): new for src, new in cleaned.items()})
    return out, renames


#: Characters a column name may not start with (a spreadsheet would read a formula) and may not hold at all.
_FORMULA_LEAD = "=+-@\t\r\n '\""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_COLUMN_NAME = 63


def safe_column_name(name: str, position: int) -> str:
    """A source column name safe in a GeoPackage, a CSV header and a spreadsheet.

    Control characters go, leading formula characters (``= + - @``, quotes,
    blanks) are stripped, the name is cut to 63 characters; an empty result
    becomes ``column_<position>``.  The import report keeps the original.
    """
    cleaned = _CONTROL.sub("", name).lstrip(_FORMULA_LEAD).strip()[:_MAX_COLUMN_NAME]
    return cleaned or f"column_{position}"


# --------------------------------------------------------------------------- coordinates


def _gk_hint(minx: float, miny: float, maxx: float, maxy: float) -> str:
    """Suggest a CRS for projected coordinates (Chinese Gauss-Kruger first)."""

    def zone_code(v: float) -> str | None:
        zone = int(v // 1_000_000)
        if 25 <= zone <= 45:
            return f"EPSG:{4513 + zone - 25} (CGCS2000 3-degree Gauss-Kruger zone {zone})"
        if 13 <= zone <= 23:
            return f"EPSG:{4491 + zone - 13} (CGCS2000 Gauss-Kruger zone {zone})"
        return None

    if 1e7 <= minx and maxx < 1e8 and (code := zone_code(minx)):
        return f"eastings like {minx:.0f} carry a zone number: try --crs {code}"
    if 1e7 <= miny and maxy < 1e8 and (code := zone_code(miny)) and 1e6 <= minx:
        return f"the second coordinate looks like a zoned easting and the first a northing (surveyors' X/Y): try --swap-xy --crs {code}"
    if 1e5 <= minx and maxx <= 9e5 and 1e6 <= miny and maxy <= 7e6:
        return (
            "they look like Gauss-Kruger metres without a zone number: give the CGCS2000 3-degree zone of "
            "your city's central meridian, e.g. --crs EPSG:4546 for 111E (EPSG:4534-4554 cover 75E-135E)"
        )
    if 1e5 <= miny and maxy <= 9e5 and 1e6 <= minx and maxx <= 7e6:
        return "the first coordinate looks like a northing (surveyors' X): try --swap-xy with the Gauss-Kruger --crs of your city"
    return "give the coordinate system with --crs (e.g. EPSG:4546)"


def _bounds(frame: gpd.GeoDataFrame) -> np.ndarray | None:
    geoms = frame.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return None
    return np.asarray(shapely.total_bounds(geoms[ok]))


def _swap(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = frame.copy()
    out[out.geometry.name] = gpd.GeoSeries(
        shapely.transform(frame.geometry.to_numpy(), lambda c: c[:, ::-1]), index=frame.index, crs=frame.crs
    )
    return out


def to_wgs84_checked(raw: RawLayer, frame: gpd.GeoDataFrame, given: SourceCRS | None, report: ImportReport) -> tuple[gpd.GeoDataFrame, str]:
    """Bring a table to EPSG:4326, checking the coordinates against the CRS they are said to be in.

    Returns
    -------
    (GeoDataFrame, label)
        The frame in EPSG:4326 and the CRS used, for the report.

    Raises
    ------
    CRSError
        Coordinates that cannot be in the declared CRS (metres as degrees,
        degrees as metres, latitudes over 90), with a hint.
    """
    declared = CRS.from_user_input(frame.crs) if frame.crs is not None else None
    if raw.crs_fixed:
        return frame.to_crs(WGS84) if declared and not declared.equals(WGS84) else frame.set_crs(WGS84, allow_override=True), "EPSG:4326 (OpenStreetMap)"
    crs, label = declared, (declared.to_string() if declared else "")
    if given is not None:
        if declared is not None and given.china is None and not given.crs.equals(declared):
            report.warn("crs_overridden", f"`{raw.source}` declares {declared.name}; read as {given.label} as --crs says", raw.source)
        if given.china is not None and declared is not None and not declared.is_geographic:
            msg = f"`{raw.source}` is in {declared.name} (metres); --crs {given.china.value} applies to longitude/latitude only"
            raise CRSError(msg, field="crs")
        crs, label = given.crs, given.label
    b = _bounds(frame)
    geographic = crs is None or crs.is_geographic
    if b is not None:
        minx, miny, maxx, maxy = (float(v) for v in b)
        if geographic and not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
            if -90 <= minx and maxx <= 90 and -180 <= miny and maxy <= 180:
                msg = f"`{raw.source}`: latitudes over 90 (extent {minx:.4f},{miny:.4f},{maxx:.4f},{maxy:.4f}); longitude and latitude look swapped: add --swap-xy"
                raise CRSError(msg, field="crs")
            what = f"declared as {crs.name}" if crs is not None else "given no CRS"
            msg = (
                f"`{raw.source}` has coordinates in metres (extent {minx:.0f},{miny:.0f},{maxx:.0f},{maxy:.0f}) "
                f"but is {what}, which is in degrees; {_gk_hint(minx, miny, maxx, maxy)}"
            )
            raise CRSError(msg, field="crs")
        if not geographic and max(abs(minx), abs(maxx)) <= 180 and max(abs(miny), abs(maxy)) <= 90:
            msg = f"`{raw.source}` has coordinates in degrees (extent {minx:.4f},{miny:.4f},{maxx:.4f},{maxy:.4f}) but {label} is in metres; use --crs wgs84 (or gcj02/bd09)"
            raise CRSError(msg, field="crs")
        if geographic and 0.8 <= minx and maxx <= 55.8 and 72 <= miny and maxy <= 137.8:
            report.warn(
                "lon_lat_swapped",
                f"`{raw.source}`: the first coordinate ranges {minx:.3f}-{maxx:.3f} and the second {miny:.3f}-{maxy:.3f}; "
                "longitude and latitude look swapped (China lies at 73-135E, 18-54N): if so, import again with --swap-xy",
                raw.source,
            )
    if given is not None and given.china is not None:
        moved = transform_geometries(frame.geometry.to_numpy(), source=given.china, target=ChinaCRS.wgs84)
        out = gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=gpd.GeoSeries(moved, index=frame.index, crs=WGS84))
        if b is not None and bool(out_of_china((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)):
            report.warn("not_shifted", f"`{raw.source}` lies outside China, where {given.label} equals WGS84: nothing was shifted", raw.source)
        return out, label
    if crs is None:
        return frame.set_crs(WGS84), "EPSG:4326 (assumed: degrees, no CRS declared)"
    framed = frame.set_crs(crs, allow_override=True)
    if crs.equals(WGS84) or crs.equals(CGCS2000):
        out = framed.set_crs(WGS84, allow_override=True)
    else:
        out = framed.to_crs(WGS84)
        _check_area_of_use(raw, framed, out, crs, report)
    return out, label or crs.to_string()


def _check_area_of_use(raw: RawLayer, framed: gpd.GeoDataFrame, out: gpd.GeoDataFrame, crs: CRS, report: ImportReport) -> None:
    area = crs.area_of_use
    b = _bounds(out)
    if area is None or b is None:
        return
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    margin = 3.0
    inside = area.west - margin <= cx <= area.east + margin and area.south - margin <= cy <= area.north + margin
    if inside:
        return
    swapped = _bounds(_swap(framed).to_crs(WGS84))
    hint = ""
    if swapped is not None:
        sx, sy = (swapped[0] + swapped[2]) / 2, (swapped[1] + swapped[3]) / 2
        if area.west - margin <= sx <= area.east + margin and area.south - margin <= sy <= area.north + margin:
            hint = "; with X and Y swapped it would fit (Chinese surveys write X as the northing): if so, import again with --swap-xy"
    report.warn(
        "xy_swapped" if hint else "outside_crs_area",
        f"`{raw.source}` lands at {cx:.3f}E {cy:.3f}N, outside the area of {crs.name}{hint}",
        raw.source,
    )


def _adapt_geometry(frame: gpd.GeoDataFrame, layer: str, source: str, radius_m: float, report: ImportReport) -> gpd.GeoDataFrame:
    """Compounds given as points become small circles; centres or gates given as areas become points."""
    geoms = frame.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return frame
    type_ids = shapely.get_type_id(geoms)
    out = frame
    if layer == "compounds":
        pts = present & np.isin(type_ids, [0, 4])
        if pts.any():
            crs = metric_crs(gpd.GeoSeries(geoms[pts], crs=WGS84))
            metric = gpd.GeoSeries(geoms[pts], crs=WGS84).to_crs(crs)
            circles = metric.buffer(radius_m, quad_segs=8).to_crs(WGS84).to_numpy()
            new = geoms.copy()
            new[pts] = circles
            out = frame.copy()
            out[frame.geometry.name] = gpd.GeoSeries(new, index=frame.index, crs=WGS84)
            report.warn(
                "compounds_from_points",
                f"`{source}`: {int(pts.sum())} compounds are points; drawn as {radius_m:g} m circles around them (coverage uses the point itself)",
                source,
            )
    elif layer in {"centers", "gates"}:
        areas = present & np.isin(type_ids, [1, 2, 3, 5, 6])
        if areas.any():
            new = geoms.copy()
            new[areas] = shapely.point_on_surface(geoms[areas])
            out = frame.copy()
            out[frame.geometry.name] = gpd.GeoSeries(new, index=frame.index, crs=WGS84)
            report.warn("points_from_areas", f"`{source}`: {int(areas.sum())} {layer} are lines or areas; a point inside each is used", source)
    return out


# --------------------------------------------------------------------------- heuristics


def _nearest_road_m(points_m: np.ndarray, roads_m: np.ndarray, tree: shapely.STRtree) -> float:
    _, dist = tree.query_nearest(points_m, return_distance=True, all_matches=False)
    return float(np.median(dist))


def _road_length_inside_m(polys_m: np.ndarray, roads_m: np.ndarray, tree: shapely.STRtree) -> float:
    p_idx, r_idx = tree.query(polys_m, predicate="intersects")
    if not len(p_idx):
        return 0.0
    return float(shapely.length(shapely.intersection(roads_m[r_idx], polys_m[p_idx])).sum())


def _web_offset_m(system: ChinaCRS, lon: float, lat: float, crs: CRS) -> np.ndarray:
    """The web-map offset (east, north) in metres of ``crs`` at a WGS84 point."""
    shifted = transform_geometries([shapely.Point(lon, lat)], source=ChinaCRS.wgs84, target=system)[0]
    pts = gpd.GeoSeries([shapely.Point(lon, lat), shifted], crs=WGS84).to_crs(crs)
    return np.array([pts.iloc[1].x - pts.iloc[0].x, pts.iloc[1].y - pts.iloc[0].y])


def shift_suspicion(features: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, crs: CRS) -> dict[str, Any] | None:
    """Whether features sit off the roads by the GCJ-02 (or BD-09) offset, in its direction.

    Points are scored by their median distance to the nearest road (m), areas
    by the length of arterial and secondary roads running through them (m).
    The features are moved back by the web-map offset (a few hundred metres,
    nearly constant across a city) and, as controls, by vectors of the same
    length in five other directions.  Only when the web-map direction halves
    the score as read *and* beats every control by half is it reported: a
    regular street grid fits some shifts by chance, but not one direction
    alone.

    Returns
    -------
    dict or None
        ``{"system": "gcj02"|"bd09", "as_read": m, "shifted": m, "control": m, "offset_m": m, "kind": ...}``
        when suspicious, else ``None``.
    """
    geoms = features.geometry.to_numpy()
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) < 3 or not len(roads):
        return None
    cx, cy = shapely.get_coordinates(shapely.centroid(geoms)).mean(axis=0)
    if bool(out_of_china(cx, cy)):
        return None
    kinds = set(shapely.get_type_id(geoms).tolist())
    if kinds <= {0, 4}:
        major = roads
        score_of: Callable[[np.ndarray, np.ndarray, shapely.STRtree], float] = _nearest_road_m
        kind, floor = "median distance to the nearest road", 15.0
    elif kinds <= {3, 6}:
        major = roads[roads["class"].isin(["arterial", "secondary"])] if "class" in roads.columns else roads
        score_of = _road_length_inside_m
        kind, floor = "length of main roads running through them", 100.0
    else:
        return None
    if not len(major):
        return None
    roads_m = major.geometry.to_crs(crs).to_numpy()
    tree = shapely.STRtree(roads_m)
    feats_m = gpd.GeoSeries(geoms, crs=WGS84).to_crs(crs).to_numpy()

    def score(vector: np.ndarray) -> float:
        return score_of(shapely.transform(feats_m, lambda c: c + vector), roads_m, tree)

    as_read = score(np.zeros(2))
    if as_read < floor:
        return None
    best: dict[str, Any] | None = None
    for system in (ChinaCRS.gcj02, ChinaCRS.bd09):
        back = -_web_offset_m(system, float(cx), float(cy), crs)
        shifted = score(back)
        if shifted > 0.5 * as_read:
            continue
        turns = [np.radians(a) for a in (60, 120, 180, 240, 300)]
        control = min(
            score(np.array([np.cos(t) * back[0] - np.sin(t) * back[1], np.sin(t) * back[0] + np.cos(t) * back[1]]))
            for t in turns
        )
        if shifted <= 0.5 * control and (best is None or shifted < best["shifted"]):
            best = {
                "system": system.value,
                "as_read": as_read,
                "shifted": shifted,
                "control": control,
                "offset_m": float(np.hypot(*back)),
                "kind": kind,
            }
    return best


#: A feature farther than this from the bulk of the data (km), and than FAR_FACTOR times the bulk's own spread,
#: is left out of the import and listed in the report (a typo'd coordinate, another city's row, a 0,0 point).
FAR_MIN_KM = 50.0
FAR_FACTOR = 5.0


def _drop_far_away(
    layers: dict[str, gpd.GeoDataFrame],
    per_layer: dict[str, list[tuple[gpd.GeoDataFrame, bool, RawLayer, SourceReport]]],
    report: ImportReport,
) -> None:
    """Leave out features far from the robust bulk of all layers; one report warning per layer with their ids/names."""
    frames = [f for f in layers.values() if len(f)]
    if not frames:
        return
    centre = bulk_centre(*frames)
    spreads = []
    centres = {}
    for layer, frame in layers.items():
        if not len(frame):
            continue
        b = shapely.bounds(frame.geometry.to_numpy())
        d = distance_from_km((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, centre)
        centres[layer] = d
        spreads.append(d[np.isfinite(d)])
    spread = float(np.quantile(np.concatenate(spreads), 0.9)) if spreads else 0.0
    limit = max(FAR_MIN_KM, FAR_FACTOR * spread)
    for layer, d in centres.items():
        far = ~(d <= limit)
        if not far.any():
            continue
        frame = layers[layer]
        label = frame["name"] if "name" in frame.columns else frame.get("id", pd.Series(frame.index, index=frame.index))
        named = [str(v) for v in label[far].head(10)]
        report.warn(
            "far_away",
            f"{int(far.sum())} {layer} lie more than {limit:.0f} km from the rest of the data (up to {float(np.nanmax(np.where(far, d, 0))):.0f} km) "
            f"and were left out: {', '.join(named)}{' ...' if far.sum() > 10 else ''}; check their coordinates",
            per_layer[layer][0][2].source if per_layer.get(layer) else "",
        )
        layers[layer] = frame[~far].reset_index(drop=True) if isinstance(frame.index, pd.RangeIndex) else frame[~far]
        if per_layer.get(layer):
            per_layer[layer][0][3].clipped += int(far.sum())


def _warn_outside_china(layers: dict[str, gpd.GeoDataFrame], report: ImportReport) -> None:
    """One warning naming the layers that lie mostly outside China."""
    outside = []
    for layer, frame in layers.items():
        geoms = frame.geometry.to_numpy()
        if not len(geoms):
            continue
        pts = shapely.get_coordinates(shapely.point_on_surface(geoms))
        share = float(out_of_china(pts[:, 0], pts[:, 1]).mean())
        if share > 0.5:
            outside.append(f"{layer} {share:.0%}")
    if outside:
        report.warn(
            "outside_china",
            f"the data lies outside China ({', '.join(outside)} of the features): fine for a test, "
            "but for a Chinese district check the coordinate system (--crs)",
        )


# --------------------------------------------------------------------------- clipping


def _clip_mask(options: ImportOptions, layers: dict[str, gpd.GeoDataFrame], scratch: Path) -> Any:
    masks = []
    if options.bbox is not None:
        masks.append(shapely.box(*options.bbox))
    if options.clip:
        if str(options.clip).lower() == "boundary":
            b = layers.get("boundary")
            if b is None or not len(b):
                msg = "`clip`: the import has no boundary layer to clip to"
                raise InputError(msg, field="clip")
            districts = b[b["level"] == "district"] if (b["level"] == "district").any() else b
            masks.append(shapely.union_all(districts.geometry.to_numpy()))
        else:
            path = Path(options.clip)
            if not path.exists():
                msg = f"`clip`: `{path}` does not exist"
                raise InputError(msg, field="clip")
            raws = _read_one(path, path.name, ImportOptions(encoding=options.encoding), scratch, _nothing)
            polys = []
            for raw in raws:
                frame, _ = to_wgs84_checked(raw, raw.frame, None, ImportReport())
                g = frame.geometry.to_numpy()
                polys.extend(g[np.isin(shapely.get_type_id(g), [3, 6])])
            if not polys:
                msg = f"`clip`: `{path.name}` holds no polygon"
                raise InputError(msg, field="clip")
            masks.append(shapely.make_valid(shapely.union_all(polys)))
    if not masks:
        return None
    mask = masks[0]
    for m in masks[1:]:
        mask = shapely.intersection(mask, m)
    return mask


def clip_layer(frame: gpd.GeoDataFrame, layer: str, mask: Any) -> tuple[gpd.GeoDataFrame, int]:
    """Keep what lies inside ``mask`` (EPSG:4326): lines are cut, compounds and points kept whole by their interior point.

    Returns the clipped frame and the number of rows dropped.
    """
    if mask is None or not len(frame):
        return frame, 0
    geoms = frame.geometry.to_numpy()
    shapely.prepare(mask)
    if layer in {"roads", "rivers"}:
        keep = shapely.intersects(mask, geoms)
        out = frame.loc[keep].copy()
        cut = shapely.intersection(out.geometry.to_numpy(), mask)
        family = [1, 5] if layer == "roads" else [1, 3, 5, 6]
        cut = np.asarray(
            [g if shapely.get_type_id(g) in family else _family_parts(g, family) for g in cut], dtype=object
        )
        out[out.geometry.name] = gpd.GeoSeries(cut, index=out.index, crs=frame.crs)
        ok = ~(shapely.is_missing(cut) | shapely.is_empty(cut))
        out = out.loc[ok]
    elif layer == "boundary":
        keep = shapely.intersects(mask, geoms)
        out = frame.loc[keep]
    else:
        keep = shapely.contains(mask, shapely.point_on_surface(geoms))
        out = frame.loc[keep]
    return out.reset_index(drop=True), len(frame) - len(out)


def _family_parts(geom: Any, family: list[int]) -> Any:
    parts = shapely.get_parts(geom)
    parts = parts[np.isin(shapely.get_type_id(parts), family)]
    if not len(parts):
        return None
    return shapely.line_merge(shapely.union_all(parts)) if set(shapely.get_type_id(parts).tolist()) <= {1, 5} else shapely.union_all(parts)


# --------------------------------------------------------------------------- assembly


def _prefixed(exc: DangjianError, source: str) -> DangjianError:
    """The same kind of error, its message starting with the source."""
    cls = MissingColumnError if isinstance(exc, MissingColumnError) else InvalidValueError if isinstance(exc, InvalidValueError) else type(exc)
    try:
        return cls(f"`{source}`: {exc.message}", field=exc.field)
    except TypeError:  # pragma: no cover - subclasses with other signatures
        return InputError(f"`{source}`: {exc.message}", field=exc.field)


def _unique_ids(frames: list[tuple[gpd.GeoDataFrame, bool]], prefix: str) -> gpd.GeoDataFrame:
    """Concatenate one layer's frames; ids assigned by row order are renumbered across sources when they collide."""
    if len(frames) == 1:
        return frames[0][0]
    given = {str(i) for f, has in frames if has for i in f["id"]}
    counter = 0
    parts = []
    for f, has in frames:
        f = f.copy()
        if not has:
            new = []
            for _ in range(len(f)):
                counter += 1
                while f"{prefix}{counter:04d}" in given:
                    counter += 1
                new.append(f"{prefix}{counter:04d}")
            f["id"] = new
        parts.append(f)
    out = pd.concat(parts, ignore_index=True)
    dup = out["id"].duplicated(keep=False)
    if dup.any():
        msg = f"ids repeat across sources: {', '.join(sorted(set(out.loc[dup, 'id'].astype(str)))[:5])}"
        raise InvalidValueError(msg, field="id")
    return gpd.GeoDataFrame(out, geometry=frames[0][0].geometry.name, crs=WGS84)


def import_sources(
    sources: Sequence[str | os.PathLike[str]],
    *,
    options: ImportOptions | None = None,
    progress: Progress = _nothing,
) -> tuple[Dataset, ImportReport]:
    """Read, check and assemble sources into a dataset (nothing is written).

    Parameters
    ----------
    sources
        Files to import: ``.gpkg``, ``.geojson``, ``.shp``, ``.zip``,
        ``.kml``/``.kmz``, ``.csv``, ``.xlsx``, ``.osm.pbf``/``.osm``.
    options
        See :class:`ImportOptions`.
    progress
        Called with a short description as each source or step starts.

    Returns
    -------
    (Dataset, ImportReport)
        Input layers in EPSG:4326 (absent ones empty), the metric CRS chosen
        from their extent, ``meta["import_report"]``; and the report.

    Raises
    ------
    InputError, CRSError, MissingColumnError, InvalidValueError
        A source that cannot be read or used, naming it (and the row and
        column when one is at fault).
    """
    options = (options or ImportOptions()).checked()
    if not sources:
        msg = "give at least one source file to import"
        raise InputError(msg, field="source")
    given = parse_crs(options.crs)
    report = ImportReport()
    scratch = Path(tempfile.mkdtemp(prefix="dangjian-import-"))
    try:
        raws: list[RawLayer] = []
        for src in sources:
            path = Path(src)
            if not path.exists():
                msg = f"source `{path}` does not exist"
                raise InputError(msg, field="source")
            if path.is_dir():
                msg = f"source `{path}` is a folder; give the files in it (or zip it)"
                raise InputError(msg, field="source")
            raws.extend(_read_one(path, path.name, options, scratch, progress))
        progress("checking")
        per_layer: dict[str, list[tuple[gpd.GeoDataFrame, bool, RawLayer, SourceReport]]] = {}
        osm_skipped: dict[str, int] = {}
        for raw in raws:
            for code, message in raw.notes:
                report.warn(code, message, raw.source)
            if raw.target and raw.fmt == "gpkg" and raw.target not in TARGETS:
                continue
            if raw.fmt == "gpkg" and raw.hint in {"units", "grids", "cells", "circles", "service_areas"} and options.layer is None:
                report.warn("derived_layer_skipped", f"`{raw.source}` is a derived layer; it is rebuilt by `dangjian build`", raw.source)
                continue
            layer, why = (options.layer, "--layer") if options.layer and raw.fmt != "osm" else guess_layer(raw, columns=options.columns)
            frame, mapped = map_columns(raw.frame, layer, options.columns)
            if options.swap_xy and not raw.crs_fixed:
                frame = _swap(frame)
            frame, crs_label = to_wgs84_checked(raw, frame, given, report)
            frame = _adapt_geometry(frame, layer, raw.source, options.point_radius_m, report)
            ids_given = "id" in frame.columns and frame["id"].notna().any()
            try:
                prepared, lr = prepare_layer(frame, layer, reject_invalid=options.skip_bad_rows)
            except (MissingColumnError, InvalidValueError, CRSError) as exc:
                raise _prefixed(exc, raw.source) from None
            for r in lr.rejected:
                problem = raw.row_problems.get(r["row"] - 1)
                if problem and r["reason"] == "missing_geometry":
                    r["reason"] = problem
            sr = SourceReport(
                source=raw.source,
                format=raw.fmt,
                layer=layer,
                layer_reason=why,
                crs=crs_label,
                encoding=raw.encoding,
                columns={**raw.columns, **mapped},
                read=lr.read,
                kept=lr.kept,
                repaired=lr.repaired,
                rejected=lr.rejected,
                defaults=lr.defaults,
            )
            if raw.extra.get("skipped"):
                osm_skipped[layer] = osm_skipped.get(layer, 0) + int(raw.extra["skipped"])
            report.sources.append(sr)
            per_layer.setdefault(layer, []).append((prepared, bool(ids_given), raw, sr))
        if osm_skipped:
            report.warn(
                "osm_skipped",
                "OpenStreetMap features left out as not walkable roads, small ditches, non-area or unrelated features: "
                + ", ".join(f"{k} {v}" for k, v in osm_skipped.items()),
            )
        if not report.sources:
            msg = "nothing to import: no source held an input layer"
            raise InputError(msg, field="source")
        layers: dict[str, gpd.GeoDataFrame] = {}
        for layer, items in per_layer.items():
            own = [it for it in items if it[2].fmt != "osm"]
            osm = [it for it in items if it[2].fmt == "osm"]
            if own and osm:
                for _, _, raw, sr in osm:
                    report.warn("osm_layer_replaced", f"layer `{layer}` comes from {', '.join(i[2].source for i in own)}; the OpenStreetMap `{layer}` was not used", raw.source)
                    sr.kept = 0
                items = own
            layers[layer] = _unique_ids([(f, has) for f, has, _, _ in items], LAYER_SPECS[layer].id_prefix)
        mask = _clip_mask(options, layers, scratch)
        if mask is not None:
            for layer, items in per_layer.items():
                layers[layer], dropped = clip_layer(layers[layer], layer, mask)
                if dropped:
                    items[0][3].clipped += dropped
        for layer in INPUT_LAYERS:
            if layer not in layers and layer != "gates":
                layers[layer] = empty_layer(layer)
        filled = [f for f in layers.values() if len(f)]
        if not filled:
            msg = "nothing left to import" + (" inside the clip area" if mask is not None else "")
            raise InputError(msg, field="bbox" if options.bbox else "source")
        _drop_far_away(layers, per_layer, report)
        filled = [f for f in layers.values() if len(f)]
        _warn_outside_china(layers, report)
        crs = metric_crs(*filled)
        _check_shifts(layers, per_layer, given, crs, report)
        if not len(layers["centers"]) or not layers["centers"]["status"].eq("existing").any():
            report.warn("no_centers", "the dataset has no existing service centre yet: it builds, and every compound is uncovered until centres are added")
        report.layers = {k: len(v) for k, v in layers.items()}
        report.metric_crs = crs.to_string()
        load = {}
        for layer, items in per_layer.items():
            load[layer] = LayerReport(
                read=sum(i[3].read for i in items),
                kept=len(layers[layer]),
                repaired=sum(i[3].repaired for i in items),
                rejected=[{**r, "source": i[3].source} for i in items for r in i[3].rejected],
                defaults=sorted({d for i in items for d in i[3].defaults}),
                source_crs=", ".join(sorted({i[3].crs for i in items})),
            )
        dataset = Dataset(layers=layers, metric_crs=crs, report=load, meta={"import_report": report.as_dict()})
        return dataset, report
    finally:
        remove_tree(scratch)


def _file_of(source: str) -> str:
    """The file part of a source label (``a.gpkg:roads`` -> ``a.gpkg``)."""
    return source.split(":", 1)[0]


def _check_shifts(
    layers: dict[str, gpd.GeoDataFrame],
    per_layer: dict[str, list[tuple[gpd.GeoDataFrame, bool, RawLayer, SourceReport]]],
    given: SourceCRS | None,
    crs: CRS,
    report: ImportReport,
) -> None:
    """Warn when points or compounds sit off the roads by the web-map offset."""
    roads = layers.get("roads")
    if roads is None or not len(roads) or (given is not None and given.china is not None):
        return
    road_files = {_file_of(it[2].source) for it in per_layer.get("roads", [])}
    for layer in ("centers", "compounds", "gates"):
        for frame, _, raw, _ in per_layer.get(layer, []):
            if _file_of(raw.source) in road_files or raw.fmt == "osm":
                continue
            found = shift_suspicion(frame, roads, crs=crs)
            if found:
                name = "GCJ-02 (AMap/Tencent)" if found["system"] == "gcj02" else "BD-09 (Baidu)"
                report.warn(
                    f"{found['system']}_suspected",
                    f"`{raw.source}`: {found['kind']} is {found['as_read']:.0f} m as read but {found['shifted']:.0f} m once moved back by "
                    f"the {name} offset (about {found['offset_m']:.0f} m here; {found['control']:.0f} m moved as far in other directions): "
                    f"the coordinates look like {name} read as WGS84; "
                    f"if they came from that map, import them again with --crs {found['system']}",
                    raw.source,
                )


def report_paths(output: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Where the report of an import into ``output`` is saved: ``X.import.json`` and ``X.import.txt``."""
    out = Path(output)
    base = out.with_suffix("") if out.suffix else out
    return base.parent / f"{base.name}.import.json", base.parent / f"{base.name}.import.txt"


@dataclass(frozen=True)
class StoredImport:
    """An import written to a dataset's store.

    Attributes
    ----------
    dataset, report
        What :func:`import_sources` answered (``dataset.path`` is the GeoPackage, if any).
    report_id
        The report's id in the store (:meth:`layers.store.Snapshot.get_import_report`).
    revision
        The store revision the import created.
    """

    dataset: Dataset
    report: ImportReport
    report_id: int
    revision: int


def write_import(
    store: Store,
    dataset: Dataset,
    report: ImportReport,
    *,
    actor: str,
    replace: bool = True,
    anew: bool = False,
    allow_empty: bool = False,
    label: str | None = None,
    progress: Progress = _nothing,
) -> StoredImport:
    """Write an imported dataset and its report into a store, in one transaction.

    Every layer, the meta values and the report commit together or not at
    all: a failed or killed write leaves the store as it was.  Into a store
    that already holds a dataset, only the layers the import was given (or
    detected) are replaced; the other layers, the build parameters, the audit
    log, scenarios, tokens and earlier import reports stay.  With ``anew`` the
    dataset starts over: every layer and meta value comes from the import
    (the service tables still stay).

    Parameters
    ----------
    store
        The dataset's store (:func:`layers.store.open_store`).
    dataset, report
        From :func:`import_sources`.
    actor
        Who imports, for the audit log (``token:<id>``, ``cli:<user>``).
    replace
        Whether a store that already holds layers may be written at all;
        checked inside the transaction, so two imports of one name cannot both win.
    anew
        Replace the whole dataset instead of only the imported layers.
    allow_empty
        Accept a dataset left without compounds or without centres.
    label
        What the report names as the import's output (default: the store's location).

    Raises
    ------
    DatasetExistsError
        The store holds layers and ``replace`` is false.
    InputError
        The dataset would be left without compounds or centres (and not ``allow_empty``).
    """
    report.output = label if label is not None else store.location
    dataset.meta["import_report"] = report.as_dict()
    progress("writing")
    named = [n for n in dataset.report if n in dataset.layers] or [n for n, f in dataset.layers.items() if len(f)]
    with store.transaction(actor=actor) as tx:
        existing = tx.list_layers()
        if not replace and existing:
            msg = f"the dataset `{report.output}` exists; choose another name or replace it"
            raise DatasetExistsError(msg, field="name")
        if anew or not any(info.name == "compounds" for info in existing):
            tx.import_dataset(dataset, replace=True)
        else:
            for name in named:
                tx.write_layer(name, dataset.layers[name])
            tx.set_meta({"import_report": dataset.meta["import_report"]})
            tx.record("import_dataset", after={"layers": {n: len(dataset.layers[n]) for n in named}, "kept_others": True})
        if not allow_empty:
            _check_not_empty(tx, report.output)
        report_id = tx.add_import_report(report.as_dict())
        revision = tx.revision
    dataset.path = store.path
    return StoredImport(dataset=dataset, report=report, report_id=report_id, revision=revision)


def _check_not_empty(tx: Any, output: str) -> None:
    """Refuse a dataset left without compounds or centres: coverage would be meaningless."""
    rows = {info.name: info.rows for info in tx.list_layers()}
    for layer in ("compounds", "centers"):
        if not rows.get(layer):
            msg = (
                f"the dataset `{output}` would have no {layer}: import a file of {layer} too "
                f"(layer {layer}), or allow an empty one (--allow-empty, or allow_empty=true in an upload)"
            )
            raise InputError(msg, field=layer)


def _gpkg_output(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    if out.suffix.lower() != ".gpkg":
        msg = f"the output must be a GeoPackage (.gpkg); got `{out.name}`"
        raise InputError(msg, field="output")
    return out


def remove_stale_scratch(folder: Path) -> None:
    """Left-overs of imports and uploads killed more than an hour ago in a datasets folder.

    Scratch datasets (``.<name>.import-*.gpkg`` and the store's own layer
    scratch files beside them, ``..<name>.import-*.dj-*.gpkg``, with their
    ``-wal``/``-shm``) and upload folders (``.upload-*``) of any name: a
    killed import never reaches its own clean-up, and the name may never be
    imported again.
    """
    cutoff = time.time() - _STALE_SCRATCH_S
    for f in [*folder.glob(".*.import-*.gpkg*"), *folder.glob(".upload-*")]:
        with suppress(OSError):
            if f.stat().st_mtime < cutoff:
                if f.is_dir() and not f.is_symlink():
                    shutil.rmtree(f, ignore_errors=True)
                else:
                    f.unlink()


def import_to_gpkg(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    actor: str,
    options: ImportOptions | None = None,
    replace: bool = True,
    anew: bool = False,
    allow_empty: bool = False,
    label: str | None = None,
    progress: Progress = _nothing,
) -> StoredImport:
    """Import sources into the GeoPackage store ``output``: layers, meta and the report in one transaction.

    Nothing is written until every source was read and checked.  An existing
    ``output`` is updated in one store transaction, so a failed or killed
    import leaves it as it was and keeps its audit log, scenarios and tokens.
    A new ``output`` is written as a hidden scratch file beside it and gets its
    name only once complete, so no half-written dataset is ever visible
    under that name.

    Parameters
    ----------
    sources
        See :func:`import_sources`.
    output
        The dataset's ``.gpkg``.
    actor
        Who imports, for the audit log.
    options
        See :class:`ImportOptions`.
    replace
        Whether an existing ``output`` may be written.
    anew, allow_empty
        See :func:`write_import`.
    label
        What the report names as the output (default: ``output``).
    progress
        Called as each step starts.

    Raises
    ------
    DatasetExistsError
        ``output`` exists (or appeared meanwhile) and ``replace`` is false.
    """
    out = _gpkg_output(output)
    label = str(out) if label is None else label
    if out.exists() and not replace:
        msg = f"the dataset `{label}` exists; choose another name or replace it"
        raise DatasetExistsError(msg, field="name")
    dataset, report = import_sources(sources, options=options, progress=progress)
    how = {"replace": replace, "anew": anew, "allow_empty": allow_empty}
    if out.exists():
        with open_store(out) as store:
            return write_import(store, dataset, report, actor=actor, label=label, progress=progress, **how)
    if out.parent.is_dir():
        remove_stale_scratch(out.parent)
    done, created = new_geopackage(
        out, lambda store: write_import(store, dataset, report, actor=actor, label=label, progress=progress, allow_empty=allow_empty)
    )
    if not created:  # another import created it meanwhile
        if not replace:
            msg = f"the dataset `{label}` exists; choose another name or replace it"
            raise DatasetExistsError(msg, field="name")
        with open_store(out) as store:
            return write_import(store, dataset, report, actor=actor, label=label, progress=progress, **how)
    dataset.path = out
    return done


def import_to_file(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    options: ImportOptions | None = None,
    actor: str = "system:import",
    lang: str = "zh",
    anew: bool = False,
    allow_empty: bool = False,
    progress: Progress = _nothing,
) -> tuple[Dataset, ImportReport]:
    """Import sources into the GeoPackage store ``output`` (:func:`import_to_gpkg`), the report also beside it.

    The store keeps the report (the copy the service reads); ``X.import.txt``
    (for people) and ``X.import.json`` are written beside the file after the
    import committed.  A failed import leaves an existing dataset as it was.
    """
    done = import_to_gpkg(sources, output, actor=actor, options=options, anew=anew, allow_empty=allow_empty, progress=progress)
    json_path, txt_path = report_paths(output)
    write_atomic(json_path, json.dumps(done.report.as_dict(), ensure_ascii=False, indent=2, default=str))
    write_atomic(txt_path, "\n".join(report_lines(done.report, lang)) + "\n")
    return done.dataset, done.report
