"""Coverage variants: the served dataset recomputed for other ``minutes``, another ``method`` or a scenario.

Anonymous callers choose them with ``?minutes=``, ``?method=`` and
``?scenario=``, so they are bounded: only the allowed minutes
(:meth:`Variants.allowed_minutes`), at most one computation per variant at a
time (callers asking for the same one wait for it, outside the state's lock),
and a few kept in an LRU keyed by the dataset's version.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from api.settings import Settings
from api.state.lru import LRU
from geo.errors import InvalidValueError
from layers.build import BuildParams
from layers.coverage import parse_method
from layers.dataset import Dataset
from layers.planning.scenario_coverage import scenario_dataset
from layers.update import coverage_variant

log = logging.getLogger("dangjian.api")

#: Layers whose content depends on the coverage minutes/method.
VARIANT_LAYERS: frozenset[str] = frozenset({"compounds", "circles", "service_areas", "units", "grids", "cells"})


class Variants:
    """The coverage variants of the served dataset.

    Parameters
    ----------
    settings
        Deployment settings (``variant_cache_size``, ``variant_minutes``, served minutes and method).
    served
        The served base dataset (may load or reload it).
    version
        The served dataset's version, as it is now (loads nothing).
    scenarios
        The served dataset's scenarios (``get(id)``).
    """

    def __init__(
        self, settings: Settings, *, served: Callable[[], Dataset], version: Callable[[], str], scenarios: Callable[[], Any]
    ) -> None:
        self.settings = settings
        self._served = served
        self._version = version
        self._scenarios = scenarios
        self._base: tuple[Dataset, BuildParams] | None = None
        self._cache = LRU(settings.variant_cache_size)
        #: One lock per variant being computed (version, key): callers asking for the same one wait for it.
        self._flights: dict[tuple[str, str], threading.Lock] = {}
        self._flights_lock = threading.Lock()

    def clear(self) -> None:
        """Forget every variant (the served dataset changed)."""
        self._cache.clear()

    def base_params(self) -> BuildParams:
        """The parameters the served dataset was built with."""
        ds = self._served()
        cached = self._base
        if cached is None or cached[0] is not ds:
            cached = (ds, BuildParams.from_meta(ds.meta, self.settings.build_params()))
            self._base = cached
        return cached[1]

    def params_for(self, dataset: Dataset) -> BuildParams:
        """The parameters ``dataset`` was built with (its ``meta``), the deployment's settings for what it does not say."""
        cached = self._base
        if cached is not None and cached[0] is dataset:
            return cached[1]
        return BuildParams.from_meta(dataset.meta, self.settings.build_params())

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

    def key(self, minutes: float | None, method: str | None, scenario: str | None = None) -> str:
        """``""`` when ``minutes``/``method`` match the build and no scenario is asked for, else a short key.

        Keys look like ``m10-circle`` or ``|s:<id>@<updated_at>`` (a scenario's key changes when it is edited).
        """
        base = self.base_params()
        default_minutes, default_method = self.served_defaults()
        m = default_minutes if minutes is None else self._allowed(float(minutes))
        meth = default_method if method is None else parse_method(method).value
        key = "" if math.isclose(m, base.minutes) and meth == base.method else f"m{m:g}-{meth}"
        if scenario:
            found = self._scenarios().get(scenario)
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

    def variant(
        self, minutes: float | None = None, method: str | None = None, scenario: str | None = None
    ) -> tuple[Dataset, str]:
        """The dataset with coverage for ``minutes``, ``method`` and a stored ``scenario`` (defaults: as built), and its key.

        Variants are computed once (:func:`coverage_variant`, then
        :func:`layers.planning.scenario_coverage.scenario_dataset`) and kept in an LRU.
        """
        if scenario:
            key = self.key(minutes, method, scenario)
            version = self._version()
            found = self._cache.get((version, key))
            if found is None:
                plain, _ = self.variant(minutes, method)
                found = scenario_dataset(plain, self._scenarios().get(scenario))
                self._cache.put((version, key), found)
            return found, key
        ds = self._served()
        key = self.key(minutes, method)
        if not key:
            return ds, key
        version = self._version()
        found = self._cache.get((version, key))
        if found is not None:
            return found, key
        # computed outside the state's lock (edits and reloads need it); one computation per key at a time
        with self._flights_lock:
            flight = self._flights.setdefault((version, key), threading.Lock())
        with flight:
            found = self._cache.get((version, key))
            if found is None:
                found = self._compute(ds, minutes, method, key)
                self._cache.put((version, key), found)
        with self._flights_lock:
            self._flights.pop((version, key), None)
        return found, key

    def _compute(self, ds: Dataset, minutes: float | None, method: str | None, key: str) -> Dataset:
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
        return found
