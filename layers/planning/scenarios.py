"""What-if scenarios: named sets of changes to service centres, and their JSON form.

A scenario adds, moves or removes centres, or changes a centre's level or
status, over a base dataset.  This module holds the model
(:class:`CenterChange`, :class:`Scenario`), reading it from JSON with errors
that name ``changes[i].field`` (:func:`parse_change`, :func:`parse_scenario`)
and scenario ids safe as file names and in URLs.  Applying the changes is
:mod:`layers.planning.changes`, what they do to coverage
:mod:`layers.planning.scenario_coverage`, keeping them
:mod:`layers.planning.scenario_store`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np

from geo.errors import InvalidValueError, NotFoundError
from layers.schema import LEVELS, STATUSES

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
    created_at: str = field(default_factory=lambda: now_iso())
    updated_at: str = field(default_factory=lambda: now_iso())

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


def now_iso() -> str:
    """The time now as an ISO timestamp (UTC, seconds), as scenarios record it."""
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
        if status not in STATUSES:
            msg = f"`{where}.status` must be one of {', '.join(STATUSES)}; got {data.get('status')!r}"
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
    now = now_iso()
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
