"""How an import reads its sources: the options of ``dangjian import`` and of an upload, checked up front.

:class:`ImportOptions` holds them (``--crs``, ``--layer``, ``--columns``,
``--bbox`` ...); ``parse_crs``, ``parse_columns`` and ``parse_bbox`` read the
command line's text forms, raising errors that name the option.
:class:`OSMOptions` says how OpenStreetMap features become layers (m² per
household); :data:`Progress` is the callback every step reports to.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pyproj import CRS

from geo.chinacoords import ChinaCRS
from geo.crs import CGCS2000, WGS84
from geo.errors import CRSError, InvalidValueError
from layers.importing.archives import SHEET_MAX_ROWS, ZIP_MAX_BYTES, ZIP_MAX_MEMBERS, UnpackBudget
from layers.importing.messages import say
from layers.importing.tables import COORDINATE_COLUMNS
from layers.schema import INPUT_LAYERS, LAYER_SPECS, LEVELS

#: Layers a source can be imported as.
TARGETS: tuple[str, ...] = INPUT_LAYERS

#: Called with a short description as each source or step starts.
Progress = Callable[[str], None]


def nothing(_: str) -> None:
    """A :data:`Progress` that reports nowhere."""
    return None


#: OSM centres' level by their tags, the first rule that matches: ``key~regex`` (a regular expression
#: searched in the tag's value) or ``key=value``.  The most specific place comes first: a
#: ``XX街道XX社区党群服务中心`` is the community's; a bare ``区``/``县`` not in 社区, 小区, 街区, 园区, 景区.
CENTRE_LEVELS: tuple[tuple[str, str], ...] = (
    ("name~小区|楼栋|网格|院落", "compound"),
    ("name~社区|居委|村委|嘎查", "community"),
    ("name~街道|镇|乡|苏木", "subdistrict"),
    ("name~(?<![社小街园景])[区县]|旗", "district"),
)


def parse_centre_levels(value: str | Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Centre level rules from TOML text or a mapping: ``"name~街道" = "subdistrict"`` a line, first match wins.

    Raises
    ------
    InvalidValueError
        A rule that is neither ``key~regex`` nor ``key=value``, a bad regular
        expression or a level that is not one of the centre levels.
    """
    try:
        pairs = tomllib.loads(value) if isinstance(value, str) else dict(value)
    except tomllib.TOMLDecodeError as exc:
        msg = say("error.centre_levels_toml", problem=str(exc))
        raise InvalidValueError(msg, field="centre_levels") from None
    rules = []
    for rule, level in pairs.items():
        key, op, pattern = split_rule(rule)
        if not key or not op or str(level) not in LEVELS:
            msg = say("error.centre_levels_rule", rule=rule, level=level, levels=", ".join(LEVELS))
            raise InvalidValueError(msg, field="centre_levels")
        if op == "~":
            try:
                re.compile(pattern)
            except re.error as exc:
                msg = say("error.centre_levels_regex", rule=rule, problem=str(exc))
                raise InvalidValueError(msg, field="centre_levels") from None
        rules.append((str(rule), str(level)))
    return tuple(rules)


def split_rule(rule: str) -> tuple[str, str, str]:
    """``"name~街道"`` -> ``("name", "~", "街道")``; ``("", "", "")`` when it is neither form."""
    match = re.match(r"^\s*([\w:]+)\s*([~=])(.*)$", str(rule))
    return (match.group(1), match.group(2), match.group(3)) if match else ("", "", "")


@dataclass(frozen=True)
class OSMOptions:
    """How OSM features become layers (m², storeys, centre levels).

    Attributes
    ----------
    floor_area_per_household_m2
        Gross residential floor area per household (m²); China's urban
        average is roughly 90-110 m².
    floor_area_ratio
        Floor area per site area (容积率) assumed for compounds with no
        mapped buildings.
    min_households
        Smallest estimate given to a compound (households).
    centre_levels
        The level of a mapped centre by its tags (:data:`CENTRE_LEVELS`,
        :func:`parse_centre_levels`); the first rule that matches wins.
    centre_default_level
        The level of a centre no rule matches.
    centre_merge_m
        A centre node inside or within this distance (m) of a centre
        building with compatible tags is the same facility.
    """

    floor_area_per_household_m2: float = 100.0
    floor_area_ratio: float = 1.5
    min_households: int = 1
    centre_levels: tuple[tuple[str, str], ...] = CENTRE_LEVELS
    centre_default_level: str = "community"
    centre_merge_m: float = 30.0


#: The household estimation used unless an import says otherwise.
DEFAULT_OSM = OSMOptions()


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
    allowed = {c for spec in LAYER_SPECS.values() for c in ("id", *spec.required, *spec.optional)} | COORDINATE_COLUMNS
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
    max_unpacked_bytes, max_members
        What all the import's zips and workbooks together may unpack (bytes, archive members).
    max_rows
        Rows a workbook sheet may hold (counted before it is parsed).
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
    max_unpacked_bytes: int = ZIP_MAX_BYTES
    max_members: int = ZIP_MAX_MEMBERS
    max_rows: int = SHEET_MAX_ROWS

    def unpack_budget(self) -> UnpackBudget:
        """A fresh :class:`~layers.importing.archives.UnpackBudget` of these limits, for one import."""
        return UnpackBudget(max_bytes=self.max_unpacked_bytes, max_members=self.max_members, max_rows=self.max_rows)

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
