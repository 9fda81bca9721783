"""What a store hands out and keeps: the records of features, layers, audit entries and tokens, and their constants.

Plain frozen dataclasses with a JSON form where the service sends them
(:class:`AuditEntry`, :class:`TokenInfo`), :class:`Json` for a value bound
for a JSON column, and the timestamps every write stamps (:func:`now_utc`,
:func:`iso`).  Nothing here talks to a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import shapely

from layers.store.frames import feature_json
from layers.store.tokens import Role

#: Meta key: the revision at which the derived layers (coverage, circles, units ...) were last made to
#: agree with the centres and compounds: by importing a built dataset, or by an edit that recomputed them.
#: A feature written through the store alone moves the revision past it.
DERIVED_REVISION = "derived_revision"


class AuditAction(StrEnum):
    """What an audit entry records."""

    create = "create"
    update = "update"
    delete = "delete"
    replace_layer = "replace_layer"
    delete_layer = "delete_layer"
    import_dataset = "import_dataset"
    replace_rows = "replace_rows"
    meta = "meta"
    scenario_put = "scenario_put"
    scenario_delete = "scenario_delete"
    import_report = "import_report"
    token_create = "token_create"
    token_revoke = "token_revoke"
    note = "note"


@dataclass(frozen=True)
class FeatureRef:
    """Where a write left a feature: its id, its version and the dataset's revision."""

    layer: str
    id: str
    version: int
    revision: int


@dataclass(frozen=True)
class StoredFeature:
    """One feature as stored.

    Attributes
    ----------
    layer, id
        Where it lives.
    version
        Goes up by one with every change of its editable columns or geometry
        (0 for layers without versions).
    properties
        Column values as plain Python (``id`` left out).
    geometry
        Shapely geometry, EPSG:4326.
    """

    layer: str
    id: str
    version: int
    properties: dict[str, Any]
    geometry: shapely.Geometry | None

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Feature with ``id`` and ``version``."""
        return feature_json(self.id, self.properties, self.geometry, self.version)


@dataclass(frozen=True)
class LayerInfo:
    """A stored layer: name, rows, geometry type, whether it is versioned, the revision of its last change."""

    name: str
    rows: int
    geometry_type: str | None
    versioned: bool
    revision: int
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log (never changed once written)."""

    seq: int
    at: str
    actor: str
    action: str
    layer: str | None
    feature_id: str | None
    version: int | None
    revision: int
    before: Any
    after: Any

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: str
    role: Role
    name: str
    created_at: str
    created_by: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        """Whether the token still opens doors."""
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {**asdict(self), "role": self.role.value}


@dataclass(frozen=True)
class NewToken:
    """A token just created: the plaintext (shown once, never stored) and what is stored about it."""

    token: str
    info: TokenInfo = field(repr=False)


@dataclass(frozen=True)
class Json:
    """A value to store in a JSON column (each backend adapts it)."""

    value: Any


def now_utc() -> datetime:
    """The current time, UTC, to the microsecond."""
    return datetime.now(UTC)


def iso(value: Any) -> str | None:
    """A timestamp from either backend as ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def token_info(row: Sequence[Any]) -> TokenInfo:
    """A :class:`TokenInfo` from a ``dj_tokens`` row: id, role, name, created_at, created_by, revoked_at."""
    return TokenInfo(
        id=str(row[0]),
        role=Role(str(row[1])),
        name=str(row[2] or ""),
        created_at=iso(row[3]) or "",
        created_by=str(row[4] or ""),
        revoked_at=iso(row[5]),
    )
