"""The dataset the service serves: :class:`DatasetState`, on ``app.state.dangjian``.

It loads (and, if needed, builds) the dataset named by the settings from its
store, notices when another process wrote a new revision or the file was
replaced (:mod:`api.state.watch`), and serves edits of this process from
memory at once.  What is derived from the dataset has its own owners, which
the state composes and clears when the dataset changes:

- :class:`~api.state.store.StoreHandle`: the store's life cycle;
- :class:`~api.state.variants.Variants`: coverage for other ``minutes``, ``method`` or a scenario;
- :class:`~api.state.scenarios.ServedScenarios`: the scenarios;
- :class:`~api.state.caches.DerivedCache` (feature tables, tile sources) and
  :class:`~api.state.caches.TileCache` (rendered tiles).

Every cache key carries :attr:`DatasetState.version`, a short hash that
changes whenever the dataset changes (file replaced, new revision, or
:meth:`DatasetState.replace`), so stale tiles and ETags cannot be served.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from api.settings import Settings
from api.state.caches import DerivedCache, TileCache
from api.state.edit_queue import EditQueue
from api.state.features import FeatureTable
from api.state.scenarios import ServedScenarios
from api.state.store import StoreHandle
from api.state.variants import VARIANT_LAYERS, Variants
from api.state.watch import RevisionWatch, Stamp
from geo.errors import NotFoundError
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset
from layers.rebuild import build_in_store
from layers.store import VERSIONED_LAYERS, Store
from layers.tiles.source import TileSource

log = logging.getLogger("dangjian.api")

#: Layers served as feature collections, in the order they are listed.
COLLECTION_LAYERS: tuple[str, ...] = (
    "compounds", "centers", "party_orgs", "circles", "service_areas", "units", "grids", "cells", "boundary", "roads", "rivers",
    "gates",
)


class DatasetState:
    """The served dataset and the in-memory things derived from it.

    Parameters
    ----------
    settings
        Deployment settings (dataset path, cache sizes, default minutes).
    dataset
        A dataset to serve instead of reading ``settings.dataset`` (built on
        first use if it is not built).  Without ``store`` it is served from
        memory; with one, it is imported into the store when that holds none.
    store
        The store to serve (default: ``settings.open_store()``, opened on first use).
    """

    def __init__(self, settings: Settings, dataset: Dataset | None = None, *, store: Store | None = None) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._dataset: Dataset | None = None
        self._version = ""
        self._generation = 0
        self._revision: int | None = None
        self._versions: dict[str, dict[str, int]] = {}
        self.stores = StoreHandle(settings, store, memory=dataset is not None and store is None)
        self.watch = RevisionWatch(settings)
        self._scenarios = ServedScenarios(
            settings, store=None if self.stores.memory else self.stores.get, dataset_path=lambda: self.dataset().path
        )
        self.variants = Variants(settings, served=self.dataset, version=lambda: self._version, scenarios=self.scenarios)
        self.derived = DerivedCache(max(64, 16 * settings.variant_cache_size), decimals=settings.coordinate_decimals)
        self.tiles = TileCache(settings.tile_cache_size, max_bytes=int(settings.tile_cache_mb * 1024 * 1024))
        #: Edits of this process run one at a time (the store serialises them anyway; waiting here is cheaper than
        #: many threads polling the database's write lock).
        self.edit_lock = threading.Lock()
        #: Edits waiting for that lock: whoever takes it commits them together.
        self.edit_queue = EditQueue()
        if dataset is not None:
            if store is not None:
                self.stores.seed(dataset)
            else:
                self.replace(dataset)

    # -- the store ---------------------------------------------------------------------------

    @property
    def has_store(self) -> bool:
        """Whether the served dataset lives in a store (``False``: a dataset handed over in memory)."""
        return not self.stores.memory

    @property
    def store(self) -> Store:
        """The store of the served dataset, opened on first use (:meth:`StoreHandle.get`)."""
        return self.stores.get()

    def close(self) -> None:
        """Close the store (app shutdown)."""
        self.stores.close()

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
        self._install(ds, stamp=self.watch.stamp_of(path), path=path, revision=revision, versions=versions)

    def _install(
        self,
        dataset: Dataset,
        *,
        stamp: Stamp | None,
        path: Path | None,
        revision: int | None = None,
        versions: dict[str, dict[str, int]] | None = None,
    ) -> None:
        with self._lock:
            self._versions = versions or {}
            self._generation += 1
            self._dataset = dataset
            self.watch.served(path=path, stamp=stamp)
            self._revision = revision
            token = f"{path}|{stamp}|{revision}|{dataset.meta.get('built_at', '')}|{self._generation}|{time.time_ns()}"
            self._version = hashlib.sha1(token.encode()).hexdigest()[:12]
            self.variants.clear()
            self.derived.clear()
            self.tiles.clear()

    def replace(self, dataset: Dataset) -> None:
        """Serve ``dataset`` from now on (built first if needed); every cache is dropped and the version changes."""
        if not dataset.built:
            dataset = build_dataset(dataset, self.settings.build_params())
        self._install(dataset, stamp=None, path=None, revision=self._revision, versions=self._versions)

    def invalidate(self) -> None:
        """Check the store's revision on the next request and reload if it moved (after a write through :attr:`store`)."""
        self.watch.invalidate()

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
            stamp = self.watch.current_stamp()
            old_version = self._version
            cached, derived = self.tiles.items(), self.derived.items()
            self._install(dataset, stamp=stamp, path=self.watch.path, revision=revision, versions=table)
            kept = self.tiles.keep_untouched(cached, boxes, old_version=old_version, new_version=self._version)
            # feature tables and tile sources of layers the edit left as they were (roads, boundaries, ...)
            self.derived.keep_unchanged(derived, boxes, old_version=old_version, new_version=self._version)
            log.debug("edit installed: %d of %d cached tiles kept", kept, len(cached))
            return True

    def install_stored(self, dataset: Dataset, *, revision: int, versions: dict[str, dict[str, int]]) -> None:
        """Serve ``dataset``, exactly what the store holds at ``revision``, as a reload would (every cache dropped)."""
        path = Path(self.settings.dataset)
        self._install(dataset, stamp=self.watch.stamp_of(path), path=path, revision=revision, versions=versions)

    def feature_version(self, layer: str, feature_id: str) -> int | None:
        """The stored version of a feature of ``centers``/``compounds`` as served (``None`` without a store)."""
        self.dataset()
        return self._versions.get(layer, {}).get(str(feature_id))

    @property
    def revision(self) -> int | None:
        """The store revision of the served dataset (``None`` for an in-memory dataset)."""
        return self._revision

    def _reload(self) -> None:
        try:
            self._load()
        except Exception:  # keep serving the old data rather than failing every request
            log.exception("could not reload %s; still serving the previous version", self.watch.path)

    def _maybe_reload(self) -> None:
        if self.stores.memory:
            return
        watch = self.watch
        if watch.stale:
            with self._lock:
                if watch.stale:
                    watch.stale = False
                    store = self.stores.opened
                    if store is not None and store.revision() != self._revision:
                        self._reload()
            return
        if watch.due() and watch.changed(self.stores.opened, self._revision):
            with self._lock:
                if watch.changed(self.stores.opened, self._revision):
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

    # -- variants and scenarios -----------------------------------------------------------------

    def params_for(self, dataset: Dataset) -> BuildParams:
        """The parameters ``dataset`` was built with (its ``meta``), the deployment's settings for what it does not say."""
        return self.variants.params_for(dataset)

    def variant_key(self, minutes: float | None, method: str | None, scenario: str | None = None) -> str:
        """``""`` when ``minutes``/``method`` match the build and no scenario is asked for, else a short key (:meth:`Variants.key`)."""
        return self.variants.key(minutes, method, scenario)

    def variant(
        self, minutes: float | None = None, method: str | None = None, scenario: str | None = None
    ) -> tuple[Dataset, str]:
        """The dataset with coverage for ``minutes``, ``method`` and a stored ``scenario``, and its key (:meth:`Variants.variant`)."""
        return self.variants.variant(minutes, method, scenario)

    def use_scenarios(self, scenarios: Any) -> None:
        """Keep scenarios in ``scenarios`` (a :class:`~layers.planning.scenario_store.ScenarioStore` or store-backed one)."""
        self._scenarios.use(scenarios)

    def scenarios(self) -> Any:
        """The served dataset's scenarios (see :mod:`api.state.scenarios`)."""
        return self._scenarios.get()

    # -- layers, feature tables, tile sources --------------------------------------------------

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

    def features(
        self, layer: str, *, minutes: float | None = None, method: str | None = None, coords: str = "wgs84",
        scenario: str | None = None,
    ) -> FeatureTable:
        """The :class:`FeatureTable` of ``layer`` for a variant and coordinate system."""
        frame, key = self.layer_frame(layer, minutes, method, scenario)
        return self.derived.features(frame, version=self._version, layer=layer, variant=key, coords=coords)

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
        """The :class:`~layers.tiles.source.TileSource` of ``layer`` for a variant and coordinate system.

        ``cells`` (``h3``/``square``) keeps only analysis cells of that kind, so hexagons and squares never overlap.
        """
        frame, key = self.layer_frame(layer, minutes, method, scenario)
        return self.derived.tile_source(frame, version=self._version, layer=layer, variant=key, coords=coords, cells=cells)
