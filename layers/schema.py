"""The input layers, their columns, defaults and value domains.

One table says what every input layer must and may carry; the loader
(:mod:`layers.dataset`) and the importer check data against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import InvalidValueError, MissingColumnError

#: The four levels of party-mass service centres (党群服务中心), the largest area served first.
LEVELS: tuple[str, ...] = ("district", "subdistrict", "community", "compound")
#: Administrative levels of the boundary layer: the centre levels but ``compound``.
BOUNDARY_LEVELS: tuple[str, ...] = LEVELS[:-1]
#: Road classes used for neighbourhood units and the walking network.
ROAD_CLASSES: tuple[str, ...] = ("arterial", "secondary", "local", "path")


class CenterStatus(StrEnum):
    """Whether a centre is open, planned or only proposed."""

    existing = "existing"
    planned = "planned"
    proposed = "proposed"


#: Centre statuses, as text.
STATUSES: tuple[str, ...] = tuple(m.value for m in CenterStatus)


class OrgType(StrEnum):
    """The kinds of party organisation (党组织) a community's alliance is made of."""

    community = "community"  # 社区党组织
    compound = "compound"  # 小区党组织
    grid = "grid"  # 网格党支部
    government = "government"  # 机关
    institution = "institution"  # 事业单位
    state_enterprise = "state_enterprise"  # 国有企业
    private_enterprise = "private_enterprise"  # 非公企业
    social_org = "social_org"  # 社会组织
    joint = "joint"  # 联合党支部


#: Party organisation types, as text, in the order reports list them.
ORG_TYPES: tuple[str, ...] = tuple(m.value for m in OrgType)

#: Spellings accepted for enumerated values (Chinese survey sheets, English variants).
ALIASES: dict[str, dict[str, str]] = {
    "level": {
        "区级": "district", "区": "district", "县级": "district",
        "街道级": "subdistrict", "街道": "subdistrict", "镇级": "subdistrict", "乡镇级": "subdistrict",
        "社区级": "community", "社区": "community",
        "小区级": "compound", "小区": "compound", "网格级": "compound",
        "street": "subdistrict", "sub-district": "subdistrict",
    },
    "status": {
        "现有": "existing", "已建": "existing", "在用": "existing", "建成": "existing",
        "规划": "planned", "在建": "planned", "planned": "planned",
        "拟建": "proposed", "建议": "proposed", "proposal": "proposed",
    },
    "class": {
        "主干路": "arterial", "快速路": "arterial", "主干道": "arterial",
        "次干路": "secondary", "次干道": "secondary",
        "支路": "local", "街巷": "local",
        "步行道": "path", "人行道": "path", "绿道": "path", "footway": "path",
    },
    "org_type": {
        "社区党组织": "community", "社区党委": "community", "社区党总支": "community", "社区党支部": "community",
        "社区": "community",
        "小区党组织": "compound", "小区党支部": "compound", "小区党小组": "compound", "小区": "compound",
        "网格党支部": "grid", "网格党小组": "grid", "网格": "grid",
        "机关": "government", "机关党组织": "government", "机关党支部": "government", "党政机关": "government",
        "事业单位": "institution", "事业单位党组织": "institution",
        "国有企业": "state_enterprise", "国企": "state_enterprise", "state enterprise": "state_enterprise",
        "state-owned enterprise": "state_enterprise", "soe": "state_enterprise",
        "非公企业": "private_enterprise", "非公有制企业": "private_enterprise", "民营企业": "private_enterprise",
        "私营企业": "private_enterprise", "private enterprise": "private_enterprise",
        "社会组织": "social_org", "社会组织党组织": "social_org", "social organisation": "social_org",
        "social organization": "social_org", "ngo": "social_org",
        "联合党支部": "joint", "联合支部": "joint", "joint branch": "joint",
    },
    "boundary_level": {
        "区": "district", "区级": "district", "县": "district",
        "街道": "subdistrict", "街道级": "subdistrict", "镇": "subdistrict",
        "社区": "community", "社区级": "community",
    },
}

_TRUE = {"true", "1", "yes", "y", "t", "是", "有", "√", "已建立", "已成立"}
_FALSE = {"false", "0", "no", "n", "f", "否", "无", "没有", "未建立", "", "nan", "none"}
#: Values of a road's ``bridge`` / ``tunnel`` column that mean yes besides :data:`_TRUE` (Chinese words, OSM values).
_LEVEL_TRUE = {
    "桥", "桥梁", "高架", "高架桥", "立交桥", "天桥", "人行天桥", "隧道", "地道", "地下通道", "下穿",
    "viaduct", "aqueduct", "boardwalk", "cantilever", "covered", "movable", "suspension", "building_passage", "culvert",
}


@dataclass(frozen=True)
class LayerSpec:
    """What one input layer must and may carry.

    Attributes
    ----------
    name
        Layer name in the dataset (``compounds``...).
    family
        Accepted geometry family (see :data:`geo.geometry.GEOMETRY_FAMILIES`).
    required
        Columns that must be present.
    optional
        Optional columns and their default values.
    id_prefix
        Prefix of ids assigned to rows without one.
    """

    name: str
    family: str
    required: tuple[str, ...] = ()
    optional: dict[str, Any] = field(default_factory=dict)
    id_prefix: str = ""


LAYER_SPECS: dict[str, LayerSpec] = {
    "roads": LayerSpec(
        "roads", "line", (), {"name": "", "class": "local", "walkable": True, "bridge": False, "tunnel": False, "layer": 0}, "R"
    ),
    "rivers": LayerSpec("rivers", "line_or_polygon", (), {"name": ""}, "W"),
    "compounds": LayerSpec(
        "compounds",
        "polygon",
        ("name", "households"),
        {"population": None, "community": "", "has_party_org": False, "needs": ""},
        "C",
    ),
    "centers": LayerSpec(
        "centers",
        "point",
        ("name", "level"),
        {"status": "existing", "community": "", "capacity": np.nan, "services": ""},
        "S",
    ),
    "party_orgs": LayerSpec(
        "party_orgs",
        "point",
        ("name", "type"),
        {"members": 0, "parent": "", "compound": "", "alliance": "", "role": "", "community": ""},
        "P",
    ),
    "boundary": LayerSpec(
        "boundary", "polygon", (), {"name": "", "level": "district", "parent": ""}, "B"
    ),
    "gates": LayerSpec("gates", "point", ("compound",), {"name": ""}, "G"),
}

#: Input layers a dataset may hold, in the order they are written.
INPUT_LAYERS: tuple[str, ...] = ("boundary", "rivers", "roads", "compounds", "centers", "gates", "party_orgs")
#: Input layers a dataset may lack altogether (no empty layer is written for them).
OPTIONAL_LAYERS: frozenset[str] = frozenset({"gates"})
#: Layers derived by ``dangjian build``.
DERIVED_LAYERS: tuple[str, ...] = ("units", "grids", "cells", "circles", "service_areas")

#: Average household size used when a compound has no population figure
#: (China, 7th census 2020: 2.62 persons per household).
PERSONS_PER_HOUSEHOLD = 2.62


def _row_label(frame: pd.DataFrame, pos: int) -> str:
    """Human label of a row: its 1-based number and name when it has one."""
    label = f"row {pos + 1}"
    if "name" in frame.columns:
        name = frame["name"].iloc[pos]
        if isinstance(name, str) and name:
            label += f" ({name})"
    return label


class RowValueError(InvalidValueError):
    """An :class:`InvalidValueError` that knows every bad row of one column.

    Attributes
    ----------
    column
        The column at fault.
    rows
        0-based positions of every bad row in the frame that was checked.
    rule
        What the values must be (``"must be a non-negative whole number"``).
    """

    def __init__(self, message: str, *, field: str, column: str, rows: tuple[int, ...], rule: str) -> None:
        super().__init__(message, field=field)
        self.column = column
        self.rows = rows
        self.rule = rule


def _fail(layer: str, column: str, frame: pd.DataFrame, bad: np.ndarray, what: str) -> None:
    """Raise a :class:`RowValueError` naming the first bad rows (and carrying all of them)."""
    rows = np.flatnonzero(bad)
    shown = ", ".join(_row_label(frame, int(r)) for r in rows[:3])
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    value = frame[column].iloc[int(rows[0])]
    msg = f"layer `{layer}`, column `{column}`: {what}; got {value!r} at {shown}{more}"
    raise RowValueError(
        msg, field=f"{layer}.{column}", column=column, rows=tuple(int(r) for r in rows), rule=what
    )


def normalise_enum(
    frame: pd.DataFrame, layer: str, column: str, allowed: tuple[str, ...], aliases: dict[str, str]
) -> pd.Series:
    """Map a text column onto an enumeration, accepting aliases (Chinese spellings).

    Raises
    ------
    InvalidValueError
        Naming the rows whose value is none of ``allowed`` nor an alias.
    """
    # Work on the distinct values only: a million roads have a handful of classes.
    codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
    lookup: list[str | None] = []
    for value in uniques:
        text = str(value).strip()
        low = text.lower()
        lookup.append(low if low in allowed else aliases.get(text, aliases.get(low)))
    table = np.array([*lookup, None], dtype=object)  # code -1 (missing) maps to None
    mapped = pd.Series(table[codes], index=frame.index, dtype=object)
    bad = mapped.isna().to_numpy()
    if bad.any():
        _fail(layer, column, frame, bad, f"must be one of {', '.join(allowed)}")
    return mapped.astype(object)


def parse_bool(frame: pd.DataFrame, layer: str, column: str) -> pd.Series:
    """Parse yes/no columns (true/false, 1/0, 是/否, 有/无)."""
    col = frame[column]
    if col.dtype == bool:
        return col.astype(bool)
    text = col.astype("string").fillna("").str.strip().str.lower()
    is_true = text.isin(_TRUE)
    is_false = text.isin(_FALSE)
    bad = ~(is_true | is_false).to_numpy()
    if bad.any():
        _fail(layer, column, frame, bad, "must be yes/no (true/false, 1/0, 是/否)")
    return is_true.astype(bool)


def parse_count(frame: pd.DataFrame, layer: str, column: str, *, allow_missing: bool = False) -> pd.Series:
    """Parse a non-negative integer column (households, population)."""
    num = pd.to_numeric(frame[column], errors="coerce")
    missing = num.isna().to_numpy()
    text_given = missing & frame[column].notna().to_numpy()
    bad = text_given | (~missing & ((num < 0) | (num != np.round(num))).to_numpy())
    if not allow_missing:
        bad |= missing
    if bad.any():
        _fail(layer, column, frame, bad, "must be a non-negative whole number")
    return num


def _level_flag(col: pd.Series) -> pd.Series:
    """A ``bridge`` / ``tunnel`` column with its Chinese and OSM words for yes turned into ``yes``."""
    if col.dtype == bool:
        return col
    text = col.astype("string").fillna("").str.strip()
    return text.where(~text.str.lower().isin(_LEVEL_TRUE), "yes")


def _parse_layer(frame: pd.DataFrame, layer: str) -> pd.Series:
    """A road's ``layer``: a whole number (negative below ground), blank meaning 0 (the ground)."""
    col = frame["layer"]
    num = pd.to_numeric(col, errors="coerce")
    given = col.notna().to_numpy() & (col.astype("string").fillna("").str.strip() != "").to_numpy()
    bad = given & (num.isna() | (num != np.round(num))).to_numpy()
    if bad.any():
        _fail(layer, "layer", frame, bad, "must be a whole number (0 on the ground, 1 above, -1 below)")
    return num.fillna(0).astype("int64")


def check_required(frame: pd.DataFrame, spec: LayerSpec) -> None:
    """Raise :class:`MissingColumnError` naming the layer and the first missing column."""
    for column in spec.required:
        if column not in frame.columns:
            have = ", ".join(c for c in frame.columns if c != "geometry") or "none"
            msg = f"layer `{spec.name}` lacks the required column `{column}` (columns present: {have})"
            raise MissingColumnError(msg, field=f"{spec.name}.{column}")


def normalise_columns(frame: pd.DataFrame, spec: LayerSpec) -> pd.DataFrame:
    """Check required columns, fill optional defaults and validate values.

    Parameters
    ----------
    frame
        A layer's rows (geometry untouched).
    spec
        The layer's :class:`LayerSpec`.

    Returns
    -------
    pandas.DataFrame
        A new frame with every column of the spec present and typed.
    """
    check_required(frame, spec)
    out = frame.copy()
    for column, default in spec.optional.items():
        if column not in out.columns:
            out[column] = default
    name = spec.name
    if "name" in out.columns:
        out["name"] = out["name"].astype("string").fillna("").str.strip().astype(object)
    if name == "compounds":
        out["households"] = parse_count(out, name, "households").astype("int64")
        pop = parse_count(out, name, "population", allow_missing=True)
        estimated = pop.isna()
        out["population"] = pop.fillna(np.round(out["households"] * PERSONS_PER_HOUSEHOLD)).astype("int64")
        out["population_estimated"] = estimated.to_numpy()
        out["has_party_org"] = parse_bool(out, name, "has_party_org")
        out["community"] = out["community"].astype("string").fillna("").astype(object)
        blank = out["name"] == ""
        if blank.any():
            _fail(name, "name", out, blank.to_numpy(), "must not be empty")
    elif name == "centers":
        out["level"] = normalise_enum(out, name, "level", LEVELS, ALIASES["level"])
        out["status"] = normalise_enum(
            out.assign(status=out["status"].fillna("existing")),
            name,
            "status",
            STATUSES,
            ALIASES["status"],
        )
        out["community"] = out["community"].astype("string").fillna("").astype(object)
        cap = pd.to_numeric(out["capacity"], errors="coerce")
        bad = (cap.isna() & out["capacity"].notna() & (out["capacity"].astype(str) != "")).to_numpy()
        if bad.any():
            _fail(name, "capacity", out, bad, "must be a number")
        out["capacity"] = cap.astype(float)
    elif name == "roads":
        out["class"] = normalise_enum(
            out.assign(**{"class": out["class"].fillna("local")}),
            name,
            "class",
            ROAD_CLASSES,
            ALIASES["class"],
        )
        out["walkable"] = parse_bool(out.assign(walkable=out["walkable"].fillna(True)), name, "walkable")
        for column in ("bridge", "tunnel"):
            out[column] = parse_bool(out.assign(**{column: _level_flag(out[column])}), name, column)
        out["layer"] = _parse_layer(out, name)
    elif name == "boundary":
        out["level"] = normalise_enum(
            out.assign(level=out["level"].fillna("district")),
            name,
            "level",
            BOUNDARY_LEVELS,
            ALIASES["boundary_level"],
        )
        out["parent"] = out["parent"].astype("string").fillna("").astype(object)
    elif name == "gates":
        out["compound"] = out["compound"].astype("string").fillna("").astype(object)
    elif name == "party_orgs":
        out["type"] = normalise_enum(out, name, "type", ORG_TYPES, ALIASES["org_type"])
        out["members"] = parse_count(out.assign(members=out["members"].fillna(0)), name, "members").astype("int64")
        for column in ("parent", "compound", "alliance", "role", "community"):
            out[column] = out[column].astype("string").fillna("").str.strip().astype(object)
        blank = out["name"] == ""
        if blank.any():
            _fail(name, "name", out, blank.to_numpy(), "must not be empty")
    if name in {"compounds", "centers"}:
        column = "needs" if name == "compounds" else "services"
        out[column] = out[column].astype("string").fillna("").str.strip().astype(object)
    return out
