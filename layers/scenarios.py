"""What-if scenarios: named sets of changes to service centres, and what they change.

A scenario adds, moves or removes centres, or changes a centre's level or
status, over a base dataset.  :func:`scenario_dataset` gives the base with the
changes applied and coverage recomputed (the base is never changed);
:func:`scenario_result` the coverage and the difference from the base,
compounds and households gained and lost, by community.

Rules:

- Changes apply in order; a later change may refer to a centre an earlier one
  added.  Centre ids must exist when a change refers to them.
- A centre counts for coverage when its status is one the build counted
  (default ``existing``).  Added centres are ``existing`` unless given
  another status: in the scenario's world they are open.  A ``status``
  change (say ``planned`` -> ``existing``) opens a planned centre.
- Every changed centre carries ``scenario_change`` (``added``, ``moved``,
  ``level``, ``status``, comma-joined when several); removed ones are gone.

:class:`ScenarioStore` keeps scenarios as one JSON file each in a folder
beside the dataset (``district.scenarios/``), written atomically, so they
survive a restart of the service.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.crs import WGS84
from geo.errors import InvalidValueError, NotFoundError
from geo.files import write_atomic
from layers.build import BuildParams, centre_circles, centre_service_areas, coverage_kwargs, summarize
from layers.cells import cell_totals
from layers.coverage import Method, compound_coverage, parse_method
from layers.dataset import Dataset
from layers.i18n import text
from layers.schema import LEVELS, CenterStatus
from layers.shares import covered_shares

#: Farthest an added or moved centre may lie outside the dataset's extent (metres).
MAX_OUTSIDE_M = 10_000.0
#: What a scenario id may look like (safe as a file name and in a URL).
SCENARIO_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID_RE = re.compile(SCENARIO_ID_PATTERN)


class ChangeOp(StrEnum):
    """What a scenario change does to a centre."""

    add = "add"
    move = "move"
    remove = "remove"
    level = "level"
    status = "status"


_STATUSES: tuple[str, ...] = tuple(s.value for s in CenterStatus)


@dataclass(frozen=True)
class CenterChange:
    """One change to the centres.

    Attributes
    ----------
    op
        ``add``, ``move``, ``remove``, ``level`` or ``status``.
    center_id
        The centre changed (``add``: the new centre's id, assigned when blank).
    name
        ``add``: the new centre's name (default from the catalogue).
    level
        ``add`` and ``level``: ``district``, ``subdistrict``, ``community`` or ``compound``.
    status
        ``add`` (default ``existing``) and ``status``.
    lon, lat
        ``add`` and ``move``: WGS84 degrees.
    community
        ``add``: the community it serves (optional).
    """

    op: ChangeOp
    center_id: str = ""
    name: str = ""
    level: str = ""
    status: str = ""
    lon: float | None = None
    lat: float | None = None
    community: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form (unset fields left out)."""
        out: dict[str, Any] = {"op": self.op.value}
        for key, value in asdict(self).items():
            if key != "op" and value not in ("", None):
                out[key] = value
        return out


@dataclass
class Scenario:
    """A named set of changes to the centres of one dataset.

    Attributes
    ----------
    id
        Short id, letters, digits, ``-`` and ``_``.
    name, description
        What the planner calls it.
    changes
        Applied in order.
    created_at, updated_at
        ISO timestamps (UTC).
    """

    id: str
    name: str
    changes: list[CenterChange]
    description: str = ""
    created_at: str = field(default_factory=lambda: _now())
    updated_at: str = field(default_factory=lambda: _now())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "changes": [c.as_dict() for c in self.changes],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _number(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        msg = f"`{where}` must be a number; got {value!r}"
        raise InvalidValueError(msg, field=where) from None
    if not np.isfinite(out):
        msg = f"`{where}` must be a finite number; got {value!r}"
        raise InvalidValueError(msg, field=where)
    return out


def parse_change(data: Mapping[str, Any], *, index: int = 0) -> CenterChange:
    """One change from its JSON form, with errors naming ``changes[i].field``.

    Raises
    ------
    InvalidValueError
        Unknown ``op``, level or status; missing id, level or coordinates;
        coordinates outside longitude/latitude.
    """
    where = f"changes[{index}]"
    if not isinstance(data, Mapping):
        msg = f"`{where}` must be an object with `op`; got {data!r}"
        raise InvalidValueError(msg, field=where)
    try:
        op = ChangeOp(str(data.get("op", "")))
    except ValueError:
        msg = f"`{where}.op` must be one of {', '.join(o.value for o in ChangeOp)}; got {data.get('op')!r}"
        raise InvalidValueError(msg, field=f"{where}.op") from None
    center_id = str(data.get("center_id") or "").strip()
    level = str(data.get("level") or "").strip()
    status = str(data.get("status") or "").strip()
    lon = _number(data.get("lon"), f"{where}.lon")
    lat = _number(data.get("lat"), f"{where}.lat")
    if op is not ChangeOp.add and not center_id:
        msg = f"`{where}.center_id` is required for `{op.value}`"
        raise InvalidValueError(msg, field=f"{where}.center_id")
    if op in (ChangeOp.add, ChangeOp.level):
        if level not in LEVELS:
            msg = f"`{where}.level` must be one of {', '.join(LEVELS)}; got {data.get('level')!r}"
            raise InvalidValueError(msg, field=f"{where}.level")
    if op is ChangeOp.status or (op is ChangeOp.add and status):
        if status not in _STATUSES:
            msg = f"`{where}.status` must be one of {', '.join(_STATUSES)}; got {data.get('status')!r}"
            raise InvalidValueError(msg, field=f"{where}.status")
    if op in (ChangeOp.add, ChangeOp.move):
        for key, value, lo, hi in (("lon", lon, -180, 180), ("lat", lat, -90, 90)):
            if value is None or not lo <= value <= hi:
                msg = f"`{where}.{key}` must be degrees in [{lo}, {hi}] (WGS84); got {data.get(key)!r}"
                raise InvalidValueError(msg, field=f"{where}.{key}")
    return CenterChange(
        op=op,
        center_id=center_id,
        name=str(data.get("name") or "").strip(),
        level=level,
        status=status,
        lon=lon,
        lat=lat,
        community=str(data.get("community") or "").strip(),
    )


def parse_scenario(data: Mapping[str, Any], *, scenario_id: str | None = None) -> Scenario:
    """A :class:`Scenario` from its JSON form (``name``, ``description``, ``changes``)."""
    if not isinstance(data, Mapping):
        msg = "a scenario must be an object with `name` and `changes`"
        raise InvalidValueError(msg, field="scenario")
    name = str(data.get("name") or "").strip()
    if not name:
        msg = "`name` of the scenario must not be empty"
        raise InvalidValueError(msg, field="name")
    raw = data.get("changes") or []
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        msg = "`changes` must be a list of changes"
        raise InvalidValueError(msg, field="changes")
    sid = scenario_id or str(data.get("id") or "") or new_scenario_id()
    check_scenario_id(sid)
    now = _now()
    return Scenario(
        id=sid,
        name=name,
        changes=[parse_change(c, index=i) for i, c in enumerate(raw)],
        description=str(data.get("description") or ""),
        created_at=str(data.get("created_at") or now),
        updated_at=str(data.get("updated_at") or now),
    )


def new_scenario_id() -> str:
    """A fresh random scenario id (10 hex digits)."""
    return secrets.token_hex(5)


def check_scenario_id(scenario_id: str) -> str:
    """Return the id if it is safe as a file name, else raise :class:`NotFoundError`."""
    if not _ID_RE.match(str(scenario_id)):
        msg = f"no scenario `{scenario_id}` (ids are letters, digits, - and _)"
        raise NotFoundError(msg, field="scenario")
    return scenario_id


# ---------------------------------------------------------------------------
# applying changes
# ---------------------------------------------------------------------------


def apply_changes(
    centers: gpd.GeoDataFrame, changes: Iterable[CenterChange], *, dataset: Dataset | None = None
) -> gpd.GeoDataFrame:
    """The centres with the changes applied, in order (a new frame; ``centers`` is not changed).

    Parameters
    ----------
    centers
        Centres in EPSG:4326 with ``id``, ``name``, ``level``, ``status``.
    changes
        The scenario's changes.
    dataset
        When given, added and moved centres must lie within
        :data:`MAX_OUTSIDE_M` of its extent (catches swapped lon/lat).

    Returns
    -------
    GeoDataFrame
        EPSG:4326, removed centres dropped, ``scenario_change`` on each row.

    Raises
    ------
    InvalidValueError
        A change names a centre that does not exist (or no longer does), an
        added id already exists, or a point lies far outside the district.
    """
    frame = centers.copy()
    frame["scenario_change"] = ""
    ids = frame["id"].astype(str).tolist()
    rows: dict[str, dict[str, Any]] = {
        i: r for i, r in zip(ids, frame.drop(columns=frame.geometry.name).to_dict("records"), strict=True)
    }
    geoms: dict[str, Any] = dict(zip(ids, frame.geometry.to_numpy(), strict=True))
    order = list(ids)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    box, to_metric = _extent(dataset)
    added = 0
    for i, ch in enumerate(changes):
        where = f"changes[{i}]"
        if ch.op is ChangeOp.add:
            added += 1
            cid = ch.center_id or _fresh_id(rows, added)
            if cid in rows:
                msg = f"`{where}.center_id`: a centre `{cid}` already exists"
                raise InvalidValueError(msg, field=f"{where}.center_id")
            _check_inside(ch, where, box, to_metric)
            row: dict[str, Any] = {c: None for c in columns}
            row.update(
                id=cid,
                name=ch.name or text("scenario.new_center", "zh", n=added),
                level=ch.level,
                status=ch.status or CenterStatus.existing.value,
                community=ch.community,
                scenario_change="added",
            )
            if "capacity" in row:
                row["capacity"] = np.nan
            if "subdistrict" in row:
                row["subdistrict"] = ""
            rows[cid] = row
            geoms[cid] = shapely.Point(ch.lon, ch.lat)
            order.append(cid)
            continue
        if ch.center_id not in rows:
            msg = f"`{where}.center_id`: no centre `{ch.center_id}` in the dataset (or it was removed before)"
            raise InvalidValueError(msg, field=f"{where}.center_id")
        row = rows[ch.center_id]
        if ch.op is ChangeOp.remove:
            del rows[ch.center_id]
            order.remove(ch.center_id)
            continue
        tag = {ChangeOp.move: "moved", ChangeOp.level: "level", ChangeOp.status: "status"}[ch.op]
        if ch.op is ChangeOp.move:
            _check_inside(ch, where, box, to_metric)
            geoms[ch.center_id] = shapely.Point(ch.lon, ch.lat)
        elif ch.op is ChangeOp.level:
            row["level"] = ch.level
        else:
            row["status"] = ch.status
        tags = [t for t in str(row.get("scenario_change") or "").split(",") if t]
        if tag not in tags:
            tags.append(tag)
        row["scenario_change"] = ",".join(tags)
    out = gpd.GeoDataFrame(
        pd.DataFrame([rows[i] for i in order], columns=columns), geometry=[geoms[i] for i in order], crs=WGS84
    )
    return _fill_admin(out, dataset)


def _fill_admin(centers: gpd.GeoDataFrame, dataset: Dataset | None) -> gpd.GeoDataFrame:
    """Blank ``community`` / ``subdistrict`` of added or moved centres from the boundary polygons."""
    if dataset is None or not dataset.has("boundary"):
        return centers
    touched = centers["scenario_change"].astype(str).str.contains("added|moved", regex=True).to_numpy()
    if not touched.any():
        return centers
    boundary = dataset["boundary"]
    out = centers.copy()
    pts = out.geometry.to_numpy()[touched]
    for level in ("community", "subdistrict"):
        polys = boundary[boundary["level"] == level]
        if not len(polys):
            continue
        if level not in out.columns:
            out[level] = ""
        p_idx, poly_idx = shapely.STRtree(polys.geometry.to_numpy()).query(pts, predicate="within")
        names = np.full(int(touched.sum()), "", dtype=object)
        names[p_idx] = polys["name"].astype(str).to_numpy()[poly_idx]
        current = out.loc[touched, level].fillna("").astype(str).to_numpy()
        moved = out.loc[touched, "scenario_change"].astype(str).str.contains("moved").to_numpy()
        out.loc[touched, level] = np.where((current == "") | moved, names, current)
    return out


def _fresh_id(rows: Mapping[str, Any], n: int) -> str:
    cid = f"SCN{n:02d}"
    while cid in rows:
        n += 1
        cid = f"SCN{n:02d}"
    return cid


def _extent(dataset: Dataset | None) -> tuple[shapely.Geometry | None, Transformer | None]:
    if dataset is None:
        return None, None
    frames = [dataset.layers[n] for n in ("boundary", "roads", "compounds", "centers") if dataset.has(n)]
    if not frames:
        return None, None
    b = np.vstack([f.total_bounds for f in frames])
    to_metric = Transformer.from_crs(WGS84, dataset.metric_crs, always_xy=True)
    x0, y0 = to_metric.transform(b[:, 0].min(), b[:, 1].min())
    x1, y1 = to_metric.transform(b[:, 2].max(), b[:, 3].max())
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), to_metric


def _check_inside(ch: CenterChange, where: str, box: shapely.Geometry | None, to_metric: Transformer | None) -> None:
    if box is None or to_metric is None:
        return
    x, y = to_metric.transform(ch.lon, ch.lat)
    d = shapely.distance(box, shapely.Point(x, y))
    if not np.isfinite(d) or d > MAX_OUTSIDE_M:
        msg = (
            f"`{where}`: ({ch.lon}, {ch.lat}) lies {d / 1000:.0f} km outside the district; "
            "give longitude, latitude in WGS84"
        )
        raise InvalidValueError(msg, field=f"{where}.lon")


# ---------------------------------------------------------------------------
# recomputing coverage
# ---------------------------------------------------------------------------

def _walk_network(dataset: Dataset) -> Any:
    """The walking network of the dataset's roads, built once per roads frame."""
    from layers.service_areas import cached_walking_network

    return cached_walking_network(dataset["roads"], metric_crs=dataset.metric_crs)


def _coverage(base: Dataset, centers: gpd.GeoDataFrame, params: BuildParams) -> gpd.GeoDataFrame:
    """Compounds with coverage columns from ``centers`` (network builds: the straight-line ones beside them)."""
    network = _walk_network(base) if parse_method(params.method) is Method.network else None
    return compound_coverage(base["compounds"], centers, network=network, **coverage_kwargs(base, params))


def scenario_dataset(base: Dataset, scenario: Scenario) -> Dataset:
    """The base dataset with the scenario's changes and coverage recomputed.

    Parameters
    ----------
    base
        A dataset (EPSG:4326), built or not; its build parameters
        (``meta["params"]``: method, minutes, speed, per-level minutes,
        counted statuses) are used.  It is not changed.
    scenario
        The changes.

    Returns
    -------
    Dataset
        New ``centers`` (with ``scenario_change``), ``compounds`` with the
        coverage columns recomputed, ``circles`` for the new centres and,
        when the base has them, ``units``, ``grids`` and ``cells`` with
        their covered counts refreshed; network builds also get
        ``service_areas``.  ``meta["scenario"]`` names the scenario and
        ``meta["summary"]`` holds the new headline figures.
    """
    params = BuildParams.from_meta(base.meta)
    centers = apply_changes(base["centers"], scenario.changes, dataset=base)
    compounds = _coverage(base, centers, params)
    layers: dict[str, gpd.GeoDataFrame] = {"centers": centers, "compounds": compounds}
    layers["circles"] = centre_circles(centers, base, params)
    if base.has("units"):
        layers["units"] = covered_shares(base["units"], compounds, "unit")
    if base.has("grids"):
        layers["grids"] = covered_shares(base["grids"], compounds, "grid")
    if base.has("cells") and "covered_households" in base["cells"].columns:
        layers["cells"] = cell_totals(base["cells"], compounds, metric_crs=base.metric_crs, households=False)
    if parse_method(params.method) is Method.network:
        layers["service_areas"] = centre_service_areas(_walk_network(base), centers, base, params)
    out = base.replace(**layers)
    out.meta["scenario"] = {"id": scenario.id, "name": scenario.name}
    out.meta["summary"] = summarize(out)
    return out


def _base_coverage(base: Dataset) -> gpd.GeoDataFrame:
    c = base["compounds"]
    if "covered" in c.columns:
        return c
    return _coverage(base, base["centers"], BuildParams.from_meta(base.meta))


@dataclass
class ScenarioResult:
    """A scenario's coverage and its difference from the base.

    Attributes
    ----------
    scenario
        The scenario.
    base, coverage
        Headline figures without and with the changes: ``compounds``,
        ``covered_compounds``, ``households``, ``covered_households``,
        ``share`` (of households), ``compound_share``.
    difference
        ``gained_compounds``, ``gained_households``, ``lost_compounds``,
        ``lost_households``, ``net_households``.
    by_community
        One row per community: ``community``, ``compounds``, ``households``,
        ``base_covered_households``, ``scenario_covered_households``,
        ``gained_*``, ``lost_*``, ``base_household_share``,
        ``scenario_household_share``; largest change first.
    changed
        Compounds whose coverage changed: ``id``, ``name``, ``community``,
        ``households``, ``change`` (``gained``/``lost``), ``walk_min_base``,
        ``walk_min``, ``nearest_center``.
    centers
        The scenario's centres (EPSG:4326) with ``scenario_change``.
    seconds
        Time to recompute (s).
    removed_centers
        Ids of base centres the scenario removes.
    """

    scenario: Scenario
    base: dict[str, Any]
    coverage: dict[str, Any]
    difference: dict[str, int]
    by_community: pd.DataFrame
    changed: pd.DataFrame
    centers: gpd.GeoDataFrame
    seconds: float
    removed_centers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            out = frame.astype(object).where(frame.notna(), None)
            return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in out.to_dict("records")]

        changed_centers = self.centers[self.centers["scenario_change"] != ""]
        return {
            "scenario": self.scenario.as_dict(),
            "base": self.base,
            "coverage": self.coverage,
            "difference": self.difference,
            "by_community": records(self.by_community),
            "changed_compounds": records(self.changed),
            "changed_centers": records(pd.DataFrame(changed_centers.drop(columns="geometry")).assign(
                lon=changed_centers.geometry.x.round(6).to_numpy(), lat=changed_centers.geometry.y.round(6).to_numpy()
            )),
            "removed_centers": self.removed_centers,
            "seconds": round(self.seconds, 3),
        }


def _headline(c: pd.DataFrame) -> dict[str, Any]:
    cov = c["covered"].astype(bool).to_numpy()
    hh = c["households"].astype("int64").to_numpy()
    total = int(hh.sum())
    return {
        "compounds": len(c),
        "covered_compounds": int(cov.sum()),
        "households": total,
        "covered_households": int(hh[cov].sum()),
        "share": round(float(hh[cov].sum()) / total, 4) if total else 0.0,
        "compound_share": round(float(cov.sum()) / len(c), 4) if len(c) else 0.0,
    }


def scenario_result(base: Dataset, scenario: Scenario) -> ScenarioResult:
    """The scenario's coverage and its difference from the base, by community.

    Parameters
    ----------
    base
        The base dataset (not changed).  Its stored coverage columns are the
        base when present, else the base coverage is computed the same way.
    scenario
        The changes.

    Returns
    -------
    ScenarioResult
    """
    t0 = time.perf_counter()
    before = _base_coverage(base)
    after_ds = scenario_dataset(base, scenario)
    after = after_ds["compounds"]
    b = before["covered"].astype(bool).to_numpy()
    a = after["covered"].astype(bool).to_numpy()
    hh = before["households"].astype("int64").to_numpy()
    gained, lost = a & ~b, b & ~a
    community = before["community"].fillna("").astype(str).to_numpy() if "community" in before else np.full(len(b), "")
    frame = pd.DataFrame(
        {
            "community": community,
            "compounds": 1,
            "households": hh,
            "base_covered_households": np.where(b, hh, 0),
            "scenario_covered_households": np.where(a, hh, 0),
            "gained_compounds": gained.astype(int),
            "gained_households": np.where(gained, hh, 0),
            "lost_compounds": lost.astype(int),
            "lost_households": np.where(lost, hh, 0),
        }
    )
    by = frame.groupby("community", sort=True).sum().reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        by["base_household_share"] = np.round(by["base_covered_households"] / by["households"].where(by["households"] > 0), 4)
        by["scenario_household_share"] = np.round(
            by["scenario_covered_households"] / by["households"].where(by["households"] > 0), 4
        )
    by["_change"] = by["gained_households"] + by["lost_households"]
    by = by.sort_values(["_change", "households"], ascending=[False, False]).drop(columns="_change").reset_index(drop=True)
    moved = gained | lost
    changed = pd.DataFrame(
        {
            "id": before["id"].astype(str).to_numpy()[moved],
            "name": before["name"].astype(str).to_numpy()[moved],
            "community": community[moved],
            "households": hh[moved],
            "change": np.where(gained[moved], "gained", "lost"),
            "walk_min_base": pd.to_numeric(before["walk_min"], errors="coerce").to_numpy()[moved],
            "walk_min": pd.to_numeric(after["walk_min"], errors="coerce").to_numpy()[moved],
            "nearest_center": after["nearest_center"].astype(str).to_numpy()[moved],
        }
    ).sort_values(["households", "id"], ascending=[False, True]).reset_index(drop=True)
    difference = {
        "gained_compounds": int(gained.sum()),
        "gained_households": int(hh[gained].sum()),
        "lost_compounds": int(lost.sum()),
        "lost_households": int(hh[lost].sum()),
        "net_households": int(hh[gained].sum() - hh[lost].sum()),
    }
    return ScenarioResult(
        scenario=scenario,
        base=_headline(before),
        coverage=_headline(after),
        difference=difference,
        by_community=by,
        changed=changed,
        centers=after_ds["centers"],
        seconds=time.perf_counter() - t0,
        removed_centers=sorted(set(base["centers"]["id"].astype(str)) - set(after_ds["centers"]["id"].astype(str))),
    )


# ---------------------------------------------------------------------------
# storage
# ---------------------------------------------------------------------------


def scenario_dir_for(dataset_path: str | os.PathLike[str]) -> Path:
    """The folder of a dataset's scenarios: ``district.gpkg`` -> ``district.scenarios/`` beside it."""
    p = Path(dataset_path)
    return p.parent / f"{p.stem if p.suffix else p.name}.scenarios"


class ScenarioStore:
    """Scenarios of one dataset, one JSON file each in a folder, written atomically.

    Parameters
    ----------
    root
        The folder (created on the first write).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    @classmethod
    def beside(cls, dataset_path: str | os.PathLike[str]) -> ScenarioStore:
        """The store in :func:`scenario_dir_for` the dataset."""
        return cls(scenario_dir_for(dataset_path))

    def _file(self, scenario_id: str) -> Path:
        return self.root / f"{check_scenario_id(scenario_id)}.json"

    def as_actor(self, actor: str) -> ScenarioStore:
        """The same store (JSON files keep no audit log, so the actor is not recorded)."""
        return self

    def list(self) -> list[Scenario]:
        """Every stored scenario, oldest first (unreadable files are skipped)."""
        if not self.root.is_dir():
            return []
        out = []
        for f in sorted(self.root.glob("*.json")):
            try:
                out.append(parse_scenario(json.loads(f.read_text("utf-8")), scenario_id=f.stem))
            except (ValueError, OSError):
                continue
        return sorted(out, key=lambda s: (s.created_at, s.id))

    def get(self, scenario_id: str) -> Scenario:
        """The scenario ``scenario_id``; :class:`NotFoundError` if there is none."""
        f = self._file(scenario_id)
        if not f.is_file():
            msg = f"no scenario `{scenario_id}`"
            raise NotFoundError(msg, field="scenario")
        return parse_scenario(json.loads(f.read_text("utf-8")), scenario_id=scenario_id)

    def save(self, scenario: Scenario) -> Scenario:
        """Write the scenario (replacing one with the same id), atomically."""
        f = self._file(scenario.id)
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)  # the store's own folder, made on the first write
            write_atomic(f, json.dumps(scenario.as_dict(), ensure_ascii=False, indent=1), field="scenario")
        return scenario

    def create(self, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario:
        """Parse, check against ``base`` (when given) and store a new scenario with a fresh id."""
        scenario = parse_scenario({k: v for k, v in data.items() if k not in ("id", "created_at", "updated_at")})
        while self._file(scenario.id).exists():
            scenario.id = new_scenario_id()
        if base is not None:
            apply_changes(base["centers"], scenario.changes, dataset=base)
        return self.save(scenario)

    def replace(self, scenario_id: str, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario:
        """Replace the name, description and changes of a stored scenario."""
        old = self.get(scenario_id)
        new = parse_scenario({k: v for k, v in data.items() if k not in ("id", "created_at", "updated_at")},
                             scenario_id=scenario_id)
        new.created_at = old.created_at
        new.updated_at = _now()
        if base is not None:
            apply_changes(base["centers"], new.changes, dataset=base)
        return self.save(new)

    def delete(self, scenario_id: str) -> None:
        """Delete a stored scenario; :class:`NotFoundError` if there is none."""
        f = self._file(scenario_id)
        with self._lock:
            if not f.is_file():
                msg = f"no scenario `{scenario_id}`"
                raise NotFoundError(msg, field="scenario")
            f.unlink()
