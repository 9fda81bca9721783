"""The dataset the service serves, its version, and everything derived from it in memory.

One :class:`DatasetState` lives on ``app.state.dangjian``.  It loads (and, if
needed, builds) the dataset named by the settings, notices when the file on
disk is replaced, and keeps the things derived from it:

- coverage *variants*: the same dataset recomputed for other ``minutes`` or
  another ``method`` than it was built with (via
  :func:`layers.build.coverage_layers`), a few kept in an LRU;
- per-layer :class:`FeatureTable` s (GeoJSON pieces, spatial index) and
  :class:`~layers.render.TileSource` s, per variant and coordinate system;
- the LRU of rendered tiles.

Every cache key carries :attr:`DatasetState.version`, a short hash that
changes whenever the dataset changes (file replaced, or :meth:`replace`
called by another router), so stale tiles and ETags cannot be served.

Routers get the state with ``Depends(get_state)``, the built base dataset with
``Depends(get_dataset)``; query parameters shared by several routers are small
dataclass dependencies (:class:`CoverageQuery`, :class:`CoordsQuery`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import Depends, Query, Request

from api.settings import Settings
from geo.crs import WGS84
from geo.errors import DatasetNotFoundError, InvalidValueError, NotFoundError
from layers.build import BuildParams, build_dataset
from layers.coverage import parse_method
from layers.dataset import Dataset
from layers.planning.scenario_coverage import scenario_dataset
from layers.planning.scenario_store import ScenarioStore, StoredScenarios, scenario_dir_for
from layers.planning.scenarios import SCENARIO_ID_PATTERN
from layers.rebuild import build_in_store, build_state
from layers.render import TileSource, compound_state
from layers.store import VERSIONED_LAYERS, Store
from layers.update import coverage_variant

log = logging.getLogger("dangjian.api")

#: Layers served as feature collections, in the order they are listed.
COLLECTION_LAYERS: tuple[str, ...] = (
    "compounds", "centers", "circles", "service_areas", "units", "grids", "cells", "boundary", "roads", "rivers", "gates",
)
#: Layers whose content depends on the coverage minutes/method.
VARIANT_LAYERS: frozenset[str] = frozenset({"compounds", "circles", "service_areas", "units", "grids", "cells"})
#: Coordinate systems features and tiles can be shifted into (``gcj02`` for AMap basemaps).
COORDS: tuple[str, ...] = ("wgs84", "gcj02")



# --------------------------------------------------------------------------------------------
# small caches


class LRU:
    """A thread-safe least-recently-used mapping with a fixed number of entries.

    With ``max_bytes``, values are ``bytes`` and their total length is also
    kept under that budget (rendered tiles).
    """

    def __init__(self, maxsize: int, *, max_bytes: int | None = None) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        """The value for ``key`` (marked as recently used), else ``None``."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value``; the least recently used entry goes when full."""
        if self.maxsize <= 0:
            return
        size = len(value) if self.max_bytes is not None else 0
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None and self.max_bytes is not None:
                self.nbytes -= len(old)
            self._data[key] = value
            self.nbytes += size
            while self._data and (len(self._data) > self.maxsize or (self.max_bytes is not None and self.nbytes > self.max_bytes)):
                _, gone = self._data.popitem(last=False)
                if self.max_bytes is not None:
                    self.nbytes -= len(gone)

    def items(self) -> list[tuple[Hashable, Any]]:
        """A snapshot of the entries, least recently used first."""
        with self._lock:
            return list(self._data.items())

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._data)


# --------------------------------------------------------------------------------------------
# coverage variants


# --------------------------------------------------------------------------------------------
# feature tables


def feature_ids(frame: pd.DataFrame) -> np.ndarray:
    """Stable text ids of a layer's rows: ``id``; ``center_id-minutes`` for circles; else the row number."""
    if "id" in frame.columns:
        ids = frame["id"].astype(str)
        if not ids.duplicated().any():
            return ids.to_numpy(dtype=object)
    if "center_id" in frame.columns and "minutes" in frame.columns:
        mins = frame["minutes"].map(lambda m: f"{float(m):g}")
        ids = frame["center_id"].astype(str) + "-" + mins
        if not ids.duplicated().any():
            return ids.to_numpy(dtype=object)
    return np.array([str(i + 1) for i in range(len(frame))], dtype=object)


def _jsonable(frame: pd.DataFrame) -> list[dict[str, Any]]:
    obj = frame.astype(object)
    obj = obj.where(frame.notna(), None)
    return obj.to_dict(orient="records")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        f = float(value)
        return None if math.isnan(f) else f
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return str(value)


def dumps(value: Any) -> str:
    """JSON text (UTF-8 characters kept, NaN refused)."""
    return json.dumps(value, ensure_ascii=False, default=_json_default, separators=(",", ":"))


def shift_geometries(geoms: np.ndarray, coords: str) -> np.ndarray:
    """WGS84 geometries moved into ``coords`` (``wgs84``: unchanged; ``gcj02``: AMap's offset)."""
    if coords == "wgs84":
        return geoms
    from geo.chinacoords import transform_geometries

    return transform_geometries(geoms, source="wgs84", target=coords)


#: Decimals of GeoJSON coordinates (about 0.1 m), as :class:`FeatureTable` writes them.
GEOJSON_DECIMALS = 6


def rfc7946_geometries(geoms: np.ndarray, *, decimals: int = GEOJSON_DECIMALS) -> np.ndarray:
    """Geometries as RFC 7946 writes them: rounded to ``decimals``, still valid, rings wound right.

    Exterior rings counter-clockwise, holes clockwise.  A geometry that was
    valid but became invalid by rounding (two vertices of a thin part merged)
    is snapped to the same grid with :func:`shapely.set_precision` instead,
    which keeps it valid; other rows are rounded plainly.
    """
    rounded = shapely.transform(geoms, lambda c: np.round(c, decimals))
    broken = shapely.is_valid(geoms) & ~shapely.is_valid(rounded)
    if broken.any():
        snapped = shapely.set_precision(geoms[broken], 10.0**-decimals)
        rounded[broken] = shapely.transform(snapped, lambda c: np.round(c, decimals))
    return shapely.orient_polygons(rounded, exterior_cw=False)


@dataclass
class FeatureTable:
    """One layer ready to be served as GeoJSON: ids, index and pre-serialised geometries.

    Attributes
    ----------
    layer
        Layer name.
    frame
        The rows (EPSG:4326), in stored order.
    ids
        Text id per row.
    geometry_json
        GeoJSON geometry text per row, shifted to ``coords``, by :func:`rfc7946_geometries`
        (6 decimals, about 0.1 m; valid; exterior rings counter-clockwise).
    """

    layer: str
    frame: gpd.GeoDataFrame
    ids: np.ndarray
    geometry_json: np.ndarray
    coords: str = "wgs84"
    tree: shapely.STRtree = field(init=False)
    _by_id: dict[str, int] = field(init=False, repr=False)
    _props: LRU = field(default_factory=lambda: LRU(8), init=False, repr=False)

    def __post_init__(self) -> None:
        self.tree = shapely.STRtree(self.frame.geometry.to_numpy())
        self._by_id = {str(v): i for i, v in enumerate(self.ids.tolist())}

    @classmethod
    def from_frame(cls, layer: str, frame: gpd.GeoDataFrame, *, coords: str = "wgs84") -> FeatureTable:
        """Prepare ``frame`` (EPSG:4326) for serving, its geometries shifted to ``coords`` and written as RFC 7946 says."""
        frame = frame.reset_index(drop=True)
        if layer == "compounds" and "state" not in frame.columns:
            frame = frame.assign(state=compound_state(frame).to_numpy())
        geoms = shift_geometries(frame.geometry.to_numpy(), coords)
        gj = shapely.to_geojson(rfc7946_geometries(geoms))
        gj = np.where(pd.isna(gj), "null", gj).astype(object)
        return cls(layer, frame, feature_ids(frame), gj, coords)

    @property
    def columns(self) -> list[str]:
        """Attribute columns (without geometry)."""
        return [c for c in self.frame.columns if c != self.frame.geometry.name]

    def __len__(self) -> int:
        return len(self.frame)

    def position(self, feature_id: str) -> int:
        """Row position of a feature id, :class:`NotFoundError` naming ``featureId`` if unknown."""
        try:
            return self._by_id[feature_id]
        except KeyError:
            msg = f"layer `{self.layer}` has no feature with id {feature_id!r}"
            raise NotFoundError(msg, field="featureId") from None

    def select(self, bbox: Sequence[float] | None) -> np.ndarray:
        """Row positions (stored order) intersecting a WGS84 ``bbox`` (all rows when ``None``)."""
        if bbox is None:
            return np.arange(len(self.frame))
        idx = self.tree.query(shapely.box(*bbox), predicate="intersects")
        idx.sort()
        return idx

    def check_properties(self, properties: Sequence[str] | None) -> tuple[str, ...]:
        """The property names to output; unknown names are an error naming ``properties``."""
        cols = self.columns
        if properties is None:
            return tuple(cols)
        unknown = [p for p in properties if p not in cols]
        if unknown:
            msg = f"`properties` names unknown columns of `{self.layer}`: {', '.join(unknown)} (columns: {', '.join(cols)})"
            raise InvalidValueError(msg, field="properties")
        return tuple(properties)

    def _properties_json(self, properties: tuple[str, ...]) -> list[str]:
        found = self._props.get(properties)
        if found is None:
            found = [dumps(r) for r in _jsonable(self.frame[list(properties)])]
            self._props.put(properties, found)
        return found

    def features(self, positions: np.ndarray, properties: tuple[str, ...]) -> list[str]:
        """GeoJSON Feature texts of the rows at ``positions``."""
        props = self._properties_json(properties)
        ids, geoms = self.ids, self.geometry_json
        return [
            f'{{"type":"Feature","id":{dumps(ids[i])},"geometry":{geoms[i]},"properties":{props[i]}}}'
            for i in positions.tolist()
        ]


# --------------------------------------------------------------------------------------------
# the state


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _tile_lonlat(z: int, x: int, y: int, margin: float) -> tuple[float, float, float, float]:
    """WGS84 bounds of tile ``z/x/y``, widened by ``margin`` tile widths on every side (symbols drawn over the edge)."""
    n = 1 << z

    def lon(v: float) -> float:
        return v / n * 360.0 - 180.0

    def lat(v: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * v / n))))

    return lon(x - margin), lat(y + 1 + margin), lon(x + 1 + margin), lat(y - margin)


def _untouched_tiles(
    cached: list[tuple[Hashable, Any]], changed_boxes: dict[str, np.ndarray], old_version: str
) -> list[tuple[tuple[Any, ...], Any]]:
    """Cached base-variant tiles of ``old_version`` whose area no changed feature of their layer touches.

    ``changed_boxes`` gives, per changed layer, WGS84 boxes of its changed
    rows (old and new); other layers did not change.  Keys are the tile
    router's ``(version, layer, variant, coords, kind, fmt, scale, z, x, y)``.
    Tiles are widened by a quarter tile (markers and outlines drawn across the
    tile edge), and for tiles shifted to GCJ-02 the changed boxes by 0.01
    degrees (about 1 km, more than the shift).
    """
    kept = []
    for key, body in cached:
        if not (isinstance(key, tuple) and len(key) == 10 and key[0] == old_version and key[2] == ""):
            continue
        changed = changed_boxes.get(key[1])
        if changed is not None and len(changed):
            minx, miny, maxx, maxy = _tile_lonlat(int(key[7]), int(key[8]), int(key[9]), 0.25)
            pad = 0.0 if key[3] == "wgs84" else 0.01
            hit = (changed[:, 0] - pad <= maxx) & (changed[:, 2] + pad >= minx) & (changed[:, 1] - pad <= maxy) & (changed[:, 3] + pad >= miny)
            if hit.any():
                continue
        kept.append((key, body))
    return kept


class EditQueue:
    """Edits waiting for a dataset's edit lock, oldest first (see :mod:`api.editing`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []

    def put(self, item: Any) -> None:
        """Queue an edit."""
        with self._lock:
            self._items.append(item)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def take(self, limit: int) -> list[Any]:
        """The oldest ``limit`` queued edits, removed from the queue."""
        with self._lock:
            batch, self._items = self._items[:limit], self._items[limit:]
        return batch


class DatasetState:
    """The served dataset and the in-memory things derived from it.

    Parameters
    ----------
    settings
        Deployment settings (dataset path, cache sizes, default minutes).
    dataset
        A dataset to serve instead of reading ``settings.dataset`` (built on
        first use if it is not built).
    """

    def __init__(self, settings: Settings, dataset: Dataset | None = None, *, store: Store | None = None) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._dataset: Dataset | None = None
        self._version = ""
        self._generation = 0
        self._stamp: tuple[int, int] | None = None
        self._path: Path | None = None
        self._checked = 0.0
        self._revision: int | None = None
        self._versions: dict[str, dict[str, int]] = {}
        self._stale = False
        self._store: Store | None = store
        self._scenarios: Any = None
        self._store_lock = threading.Lock()
        #: Edits of this process run one at a time (the store serialises them anyway; waiting here is cheaper than
        #: many threads polling the database's write lock).
        self.edit_lock = threading.Lock()
        #: Edits waiting for that lock: whoever takes it commits them together.
        self.edit_queue = EditQueue()
        self._base_params: tuple[Dataset, BuildParams] | None = None
        self._variants = LRU(settings.variant_cache_size)
        #: One lock per variant being computed (version, key): callers asking for the same one wait for it.
        self._flights: dict[tuple[str, str], threading.Lock] = {}
        self._flights_lock = threading.Lock()
        self._derived = LRU(max(64, 16 * settings.variant_cache_size))
        self.tiles = LRU(settings.tile_cache_size, max_bytes=int(settings.tile_cache_mb * 1024 * 1024))
        self._memory = dataset is not None and store is None
        if dataset is not None:
            if store is not None:
                with self._store_lock:
                    if not store.has_layer("compounds"):
                        store.import_dataset(dataset, actor="system:serve")
                    with store.snapshot() as snap:
                        state = build_state(snap)
                    if state != "current":
                        build_in_store(store, actor="system:serve", fallback=settings.build_params())
            else:
                self.replace(dataset)

    # -- the store ---------------------------------------------------------------------------

    @property
    def has_store(self) -> bool:
        """Whether the served dataset lives in a store (``False``: a dataset handed over in memory)."""
        return not self._memory

    @property
    def store(self) -> Store:
        """The store of the served dataset, opened on first use (:meth:`Settings.open_store`).

        Raises
        ------
        DatasetNotFoundError
            The service serves an in-memory dataset, or the dataset file is missing.
        """
        if self._store is None:
            if self._memory:
                msg = "this service serves a dataset held in memory, without a store; nothing can be written"
                raise DatasetNotFoundError(msg, field="dataset")
            with self._store_lock:
                if self._store is None:
                    path = Path(self.settings.dataset)
                    if not self.settings.database_url and not path.is_file():
                        msg = f"dataset not found: {path}"
                        raise DatasetNotFoundError(msg, field="dataset")
                    self._store = self.settings.open_store()
        return self._store

    def close(self) -> None:
        """Close the store (app shutdown)."""
        if self._store is not None:
            self._store.close()

    # -- loading -----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether a dataset is in memory."""
        return self._dataset is not None

    def _load(self) -> None:
        path = Path(self.settings.dataset)
        t0 = time.perf_counter()
        store = self.store
        with store.snapshot() as snap:
            revision = snap.revision
            ds = snap.export_dataset()
            versions = {
                name: dict(zip(f["id"].astype(str), f["version"].astype(int), strict=True))
                for name in VERSIONED_LAYERS
                if snap.has_layer(name)
                for f in [snap.read_layer(name, versions=True)]
            }
        if not ds.built:
            log.info("dataset %s is not built; building it in place", store.location)
            build_in_store(store, actor="system:serve", fallback=self.settings.build_params())
            self._load()
            return
        log.info("loaded %s (revision %s) in %.2f s", store.location, revision, time.perf_counter() - t0)
        stamp = None if self.settings.database_url else _file_stamp(path)
        self._install(ds, stamp=stamp, path=path, revision=revision, versions=versions)

    def _install(
        self,
        dataset: Dataset,
        *,
        stamp: tuple[int, int] | None,
        path: Path | None,
        revision: int | None = None,
        versions: dict[str, dict[str, int]] | None = None,
    ) -> None:
        with self._lock:
            self._versions = versions or {}
            self._generation += 1
            self._dataset = dataset
            self._stamp = stamp
            self._path = path
            self._revision = revision
            self._checked = time.monotonic()
            token = f"{path}|{stamp}|{revision}|{dataset.meta.get('built_at', '')}|{self._generation}|{time.time_ns()}"
            self._version = hashlib.sha1(token.encode()).hexdigest()[:12]
            self._variants.clear()
            self._derived.clear()
            self.tiles.clear()

    def replace(self, dataset: Dataset) -> None:
        """Serve ``dataset`` from now on (built first if needed); every cache is dropped and the version changes."""
        if not dataset.built:
            dataset = build_dataset(dataset, self.settings.build_params())
        self._install(dataset, stamp=None, path=None, revision=self._revision, versions=self._versions)

    def invalidate(self) -> None:
        """Check the store's revision on the next request and reload if it moved (after a write through :attr:`store`)."""
        self._stale = True

    def install_edit(
        self,
        dataset: Dataset,
        *,
        revision: int,
        versions: dict[str, dict[str, int | None]],
        boxes: dict[str, np.ndarray],
    ) -> bool:
        """Serve ``dataset``, the result of the write transaction that created ``revision``, without reading it back.

        Only when the served dataset is the revision just before (nothing else
        was written in between); ``versions`` gives the new version of each
        edited feature (``None``: deleted); ``boxes`` per layer the WGS84 boxes
        of the rows that changed (layers absent did not change).  Cached tiles
        and feature tables the change does not touch are kept.  Returns whether it was installed (else the next
        request reloads from the store).
        """
        with self._lock:
            if self._dataset is None or self._revision is None or self._revision != revision - 1:
                return False
            table = {layer: dict(ids) for layer, ids in self._versions.items()}
            for layer, changes in versions.items():
                ids = table.setdefault(layer, {})
                for fid, version in changes.items():
                    if version is None:
                        ids.pop(fid, None)
                    else:
                        ids[fid] = version
            # the commit moved the file (write-ahead log folded in): that is this edit, not someone else's
            stamp = _file_stamp(self._path) if self._path is not None and not self.settings.database_url else self._stamp
            old_version = self._version
            cached, derived = self.tiles.items(), self._derived.items()
            self._install(dataset, stamp=stamp, path=self._path, revision=revision, versions=table)
            kept = _untouched_tiles(cached, boxes, old_version)
            for key, body in kept:
                self.tiles.put((self._version, *key[1:]), body)
            # feature tables and tile sources of layers the edit left as they were (roads, boundaries, ...)
            for dkey, value in derived:
                if isinstance(dkey, tuple) and len(dkey) == 5 and dkey[0] == old_version and str(dkey[3]).split("|")[0] == "":
                    if str(dkey[2]) not in boxes:
                        self._derived.put((self._version, *dkey[1:]), value)
            log.debug("edit installed: %d of %d cached tiles kept", len(kept), len(cached))
            return True

    def install_stored(self, dataset: Dataset, *, revision: int, versions: dict[str, dict[str, int]]) -> None:
        """Serve ``dataset``, exactly what the store holds at ``revision``, as a reload would (every cache dropped)."""
        path = Path(self.settings.dataset)
        stamp = None if self.settings.database_url else _file_stamp(path)
        self._install(dataset, stamp=stamp, path=path, revision=revision, versions=versions)

    def feature_version(self, layer: str, feature_id: str) -> int | None:
        """The stored version of a feature of ``centers``/``compounds`` as served (``None`` without a store)."""
        self.dataset()
        return self._versions.get(layer, {}).get(str(feature_id))

    @property
    def revision(self) -> int | None:
        """The store revision of the served dataset (``None`` for an in-memory dataset)."""
        return self._revision

    def _changed(self) -> bool:
        if self._path is not None and not self.settings.database_url:
            stamp = _file_stamp(self._path)
            if stamp is not None and stamp != self._stamp:
                return True
        if self._revision is not None and self._store is not None:
            return self._store.revision() != self._revision
        return False

    def _reload(self) -> None:
        try:
            self._load()
        except Exception:  # keep serving the old data rather than failing every request
            log.exception("could not reload %s; still serving the previous version", self._path)

    def _maybe_reload(self) -> None:
        if self._memory:
            return
        if self._stale:
            with self._lock:
                if self._stale:
                    self._stale = False
                    if self._store is not None and self._store.revision() != self._revision:
                        self._reload()
            return
        if self.settings.reload_check_s <= 0:
            return
        now = time.monotonic()
        if now - self._checked < self.settings.reload_check_s:
            return
        self._checked = now
        if self._changed():
            with self._lock:
                if self._changed():
                    self._reload()

    def dataset(self) -> Dataset:
        """The built base dataset (loaded on first use, reloaded when the store's revision or file changed)."""
        if self._dataset is None:
            with self._lock:
                if self._dataset is None:
                    self._load()
        else:
            self._maybe_reload()
        assert self._dataset is not None
        return self._dataset

    @property
    def version(self) -> str:
        """A short hash that changes whenever the served dataset changes."""
        self.dataset()
        return self._version

    # -- variants ----------------------------------------------------------------------------

    def base_params(self) -> BuildParams:
        """The parameters the served dataset was built with."""
        ds = self.dataset()
        cached = self._base_params
        if cached is None or cached[0] is not ds:
            cached = (ds, BuildParams.from_meta(ds.meta, self.settings.build_params()))
            self._base_params = cached
        return cached[1]

    def served_defaults(self) -> tuple[float, str]:
        """Minutes and method shown when a request names none.

        The dataset's stored ones, unless this server's settings name others on
        purpose (``DANGJIAN_MINUTES``, ``DANGJIAN_METHOD``): those are then
        served as a variant, and the store (what other servers show) is not changed.
        """
        base = self.base_params()
        given = self.settings.model_fields_set
        minutes = float(self.settings.minutes) if "minutes" in given else base.minutes
        method = parse_method(self.settings.method).value if "method" in given else base.method
        return minutes, method

    def params_for(self, dataset: Dataset) -> BuildParams:
        """The parameters ``dataset`` was built with (its ``meta``), the deployment's settings for what it does not say."""
        if dataset is self._dataset:
            return self.base_params()
        return BuildParams.from_meta(dataset.meta, self.settings.build_params())

    def variant_key(self, minutes: float | None, method: str | None, scenario: str | None = None) -> str:
        """``""`` when ``minutes``/``method`` match the build and no scenario is asked for, else a short key.

        Keys look like ``m10-circle`` or ``|s:<id>@<updated_at>`` (a scenario's key changes when it is edited).
        """
        base = self.base_params()
        default_minutes, default_method = self.served_defaults()
        m = default_minutes if minutes is None else self._allowed(float(minutes))
        meth = default_method if method is None else parse_method(method).value
        key = "" if math.isclose(m, base.minutes) and meth == base.method else f"m{m:g}-{meth}"
        if scenario:
            found = self.scenarios().get(scenario)
            key += f"|s:{found.id}@{found.updated_at}"
        return key

    def allowed_minutes(self) -> tuple[float, ...]:
        """The walking minutes a request may ask for: the dataset's own (built, per level, served) and ``variant_minutes``.

        Bounding them bounds what anonymous callers can make the service compute:
        at most one coverage variant per allowed value and method per revision.
        """
        base = self.base_params()
        values = {float(v) for v in self.settings.variant_minutes}
        values |= {float(base.minutes), self.served_defaults()[0], *(float(v) for v in base.level_minutes.values())}
        return tuple(sorted(values))

    def _allowed(self, minutes: float) -> float:
        allowed = self.allowed_minutes()
        for value in allowed:
            if math.isclose(minutes, value):
                return value
        msg = f"`minutes` must be one of {', '.join(f'{v:g}' for v in allowed)} for this dataset; got {minutes:g}"
        raise InvalidValueError(msg, field="minutes")

    def use_scenarios(self, scenarios: Any) -> None:
        """Keep scenarios in ``scenarios`` (a :class:`~layers.scenarios.ScenarioStore` or store-backed one)."""
        self._scenarios = scenarios

    def scenarios(self) -> Any:
        """The served dataset's scenarios: kept in its store when it has one, else JSON files beside it.

        The folder is ``settings.scenario_dir`` when set, else ``<dataset>.scenarios/``.
        Both kinds have the same methods (``list``, ``get``, ``create``, ``replace``, ``delete``, ``as_actor``).
        """
        if self._scenarios is None:
            with self._lock:
                if self._scenarios is None:
                    if self.has_store:
                        self._scenarios = StoredScenarios(self.store)
                    else:
                        folder = getattr(self.settings, "scenario_dir", None)
                        if not folder:
                            folder = scenario_dir_for(self.dataset().path or Path(self.settings.dataset))
                        self._scenarios = ScenarioStore(folder)
        return self._scenarios

    def variant(
        self, minutes: float | None = None, method: str | None = None, scenario: str | None = None
    ) -> tuple[Dataset, str]:
        """The dataset with coverage for ``minutes``, ``method`` and a stored ``scenario`` (defaults: as built).

        Variants are computed once (:func:`coverage_variant`, then
        :func:`layers.scenarios.scenario_dataset`) and kept in an LRU.
        """
        if scenario:
            key = self.variant_key(minutes, method, scenario)
            version = self._version
            found = self._variants.get((version, key))
            if found is None:
                plain, _ = self.variant(minutes, method)
                found = scenario_dataset(plain, self.scenarios().get(scenario))
                self._variants.put((version, key), found)
            return found, key
        ds = self.dataset()
        key = self.variant_key(minutes, method)
        if not key:
            return ds, key
        version = self._version
        found = self._variants.get((version, key))
        if found is not None:
            return found, key
        # computed outside the state's lock (edits and reloads need it); one computation per key at a time
        with self._flights_lock:
            flight = self._flights.setdefault((version, key), threading.Lock())
        with flight:
            found = self._variants.get((version, key))
            if found is None:
                base = self.base_params()
                default_minutes, default_method = self.served_defaults()
                params = BuildParams(
                    **{
                        **{f.name: getattr(base, f.name) for f in fields(BuildParams)},
                        "minutes": default_minutes if minutes is None else float(minutes),
                        "method": default_method if method is None else parse_method(method).value,
                    }
                ).validate()
                t0 = time.perf_counter()
                found = coverage_variant(ds, params)
                log.info("coverage variant %s computed in %.2f s", key, time.perf_counter() - t0)
                self._variants.put((version, key), found)
        with self._flights_lock:
            self._flights.pop((version, key), None)
        return found, key

    def layer_frame(
        self, layer: str, minutes: float | None = None, method: str | None = None, scenario: str | None = None
    ) -> tuple[gpd.GeoDataFrame, str]:
        """A layer of the right variant (``NotFoundError`` naming ``layer`` if the dataset has none)."""
        if layer in VARIANT_LAYERS or (scenario and layer == "centers"):
            ds, key = self.variant(minutes, method, scenario)
        else:
            ds, key = self.dataset(), ""
        if layer not in ds.layers:
            msg = f"unknown layer {layer!r}; layers: {', '.join(self.layer_names())}"
            raise NotFoundError(msg, field="layer")
        return ds.layers[layer], key

    def layer_names(self) -> list[str]:
        """The collection layers present in the served dataset."""
        ds = self.dataset()
        return [n for n in COLLECTION_LAYERS if n in ds.layers]

    def _derived_get(self, kind: str, layer: str, key: str, coords: str, make: Callable[[gpd.GeoDataFrame], Any], frame: gpd.GeoDataFrame) -> Any:
        k = (self._version, kind, layer, key, coords)
        found = self._derived.get(k)
        if found is None:
            with self._lock:
                found = self._derived.get(k)
                if found is None:
                    found = make(frame)
                    self._derived.put(k, found)
        return found

    def features(
        self, layer: str, *, minutes: float | None = None, method: str | None = None, coords: str = "wgs84",
        scenario: str | None = None,
    ) -> FeatureTable:
        """The :class:`FeatureTable` of ``layer`` for a variant and coordinate system."""
        frame, key = self.layer_frame(layer, minutes, method, scenario)
        return self._derived_get("features", layer, key, coords, lambda f: FeatureTable.from_frame(layer, f, coords=coords), frame)

    def cell_kind(self, layer: str, cells: str | None) -> str:
        """Which analysis cells a ``cells`` tile shows: ``cells`` if given, else ``h3`` when there are hexagons.

        ``""`` for other layers (and for cells without a ``kind`` column): draw every feature.
        """
        if layer != "cells":
            return ""
        frame = self.dataset().layers.get("cells")
        if frame is None or "kind" not in frame.columns:
            return ""
        if cells:
            return cells
        return "h3" if (frame["kind"] == "h3").any() else ""

    def tile_source(
        self, layer: str, *, minutes: float | None = None, method: str | None = None, coords: str = "wgs84", cells: str = "",
        scenario: str | None = None,
    ) -> TileSource:
        """The :class:`~layers.render.TileSource` of ``layer`` for a variant and coordinate system.

        ``cells`` (``h3``/``square``) keeps only analysis cells of that kind, so hexagons and squares never overlap.
        """
        frame, key = self.layer_frame(layer, minutes, method, scenario)

        def make(f: gpd.GeoDataFrame) -> TileSource:
            if cells and "kind" in f.columns:
                f = f[f["kind"] == cells]
            if coords != "wgs84":
                f = f.set_geometry(gpd.GeoSeries(shift_geometries(f.geometry.to_numpy(), coords), index=f.index, crs=WGS84))
            return TileSource.from_frame(layer, f)

        return self._derived_get("tiles", layer, f"{key}|{cells}", coords, make, frame)


# --------------------------------------------------------------------------------------------
# dependencies


async def get_state(request: Request) -> DatasetState:
    """The app's :class:`DatasetState` (FastAPI dependency; ``async`` so it costs no thread hop)."""
    return request.app.state.dangjian


def get_dataset(request: Request) -> Dataset:
    """The built base dataset (FastAPI dependency; may load it, so it runs in the thread pool)."""
    state: DatasetState = request.app.state.dangjian
    return state.dataset()


async def get_settings(request: Request) -> Settings:
    """The app's settings (FastAPI dependency)."""
    return request.app.state.settings


def example(value: Any, summary: str | None = None) -> dict[str, dict[str, Any]]:
    """An ``openapi_examples`` entry for a parameter (shown and pre-filled in ``/docs``)."""
    return {"example": {"summary": summary or str(value), "value": value}}


@dataclass
class CoverageQuery:
    """``minutes`` and ``method`` of the coverage to show (defaults: as the dataset was built)."""

    minutes: Annotated[
        float | None,
        Query(gt=0, le=120, description="Walking minutes of the service circle (default: as built)", openapi_examples=example(10)),
    ] = None
    method: Annotated[
        Literal["circle", "network"] | None,
        Query(description="Coverage method: `circle` (straight line) or `network` (walking network)", openapi_examples=example("circle")),
    ] = None
    scenario: Annotated[
        str | None,
        Query(pattern=SCENARIO_ID_PATTERN, description="Show a stored what-if scenario (its id)", openapi_examples=example("s-1a2b3c4d5e")),
    ] = None

    def query_string(self) -> str:
        """``minutes=...&method=...&scenario=...`` for the parameters given (``""`` when none)."""
        parts = []
        if self.minutes is not None:
            parts.append(f"minutes={self.minutes:g}")
        if self.method is not None:
            parts.append(f"method={self.method}")
        if self.scenario:
            parts.append(f"scenario={self.scenario}")
        return "&".join(parts)


@dataclass
class CoordsQuery:
    """Coordinate system of the output geometry."""

    coords: Annotated[
        Literal["wgs84", "gcj02"],
        Query(description="Output coordinates: `wgs84` (default) or `gcj02` to overlay AMap (高德) basemaps", openapi_examples=example("wgs84")),
    ] = "wgs84"


async def coverage_query(
    minutes: Annotated[
        float | None,
        Query(gt=0, le=120, description="Walking minutes of the service circle (default: as built)", openapi_examples=example(10)),
    ] = None,
    method: Annotated[
        Literal["circle", "network"] | None,
        Query(description="Coverage method: `circle` (straight line) or `network` (walking network)", openapi_examples=example("circle")),
    ] = None,
    scenario: Annotated[
        str | None,
        Query(pattern=SCENARIO_ID_PATTERN, description="Show a stored what-if scenario (its id)", openapi_examples=example("s-1a2b3c4d5e")),
    ] = None,
) -> CoverageQuery:
    """The :class:`CoverageQuery` of a request (an ``async`` dependency: no thread hop on the tile hot path)."""
    return CoverageQuery(minutes, method, scenario or None)


async def coords_query(
    coords: Annotated[
        Literal["wgs84", "gcj02"],
        Query(description="Output coordinates: `wgs84` (default) or `gcj02` to overlay AMap (高德) basemaps", openapi_examples=example("wgs84")),
    ] = "wgs84",
) -> CoordsQuery:
    """The :class:`CoordsQuery` of a request."""
    return CoordsQuery(coords)


StateDep = Annotated[DatasetState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CoverageDep = Annotated[CoverageQuery, Depends(coverage_query)]
CoordsDep = Annotated[CoordsQuery, Depends(coords_query)]


def public_base(request: Request, settings: Settings) -> str:
    """The service's absolute base URL (``settings.public_url`` behind a proxy, else the request's), no trailing slash."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def path_prefix(request: Request, settings: Settings) -> str:
    """The path the service is mounted at (``""`` at the root), for same-origin links in pages."""
    from urllib.parse import urlsplit

    if settings.public_url:
        return urlsplit(settings.public_url).path.rstrip("/")
    return str(request.scope.get("root_path", "")).rstrip("/")
