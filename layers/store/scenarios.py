"""Scenarios kept in a :class:`~layers.store.Store`, with the methods of :class:`layers.scenarios.ScenarioStore`.

The service can swap its folder-of-JSON scenario store for this one: the
same ``list``, ``get``, ``save``, ``create``, ``replace`` and ``delete``,
the same checks (:func:`~layers.scenarios.parse_scenario`, and
:func:`~layers.scenarios.apply_changes` against a base dataset when given),
but every write is a store transaction with an audit entry naming its actor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geo.errors import NotFoundError
from layers.dataset import Dataset
from layers.scenarios import Scenario, apply_changes, check_scenario_id, new_scenario_id, parse_scenario
from layers.store.base import Snapshot, Store

_FIXED = ("id", "created_at", "updated_at")


def _exists(snap: Snapshot, scenario_id: str) -> bool:
    try:
        snap.get_scenario(scenario_id)
    except NotFoundError:
        return False
    return True


class StoredScenarios:
    """The scenarios of one store, written as ``actor``.

    Parameters
    ----------
    store
        The dataset's store.
    actor
        Who writes, for the audit log (use :meth:`as_actor` per request).
    """

    def __init__(self, store: Store, *, actor: str = "system") -> None:
        self.store = store
        self.actor = actor

    def as_actor(self, actor: str) -> StoredScenarios:
        """The same scenarios, written as ``actor``."""
        return StoredScenarios(self.store, actor=actor)

    def list(self) -> list[Scenario]:
        """Every stored scenario, oldest first (documents that no longer parse are skipped)."""
        out = []
        for doc in self.store.list_scenarios():
            try:
                out.append(parse_scenario(doc, scenario_id=str(doc.get("id") or "") or None))
            except ValueError:
                continue
        return sorted(out, key=lambda s: (s.created_at, s.id))

    def get(self, scenario_id: str) -> Scenario:
        """The scenario ``scenario_id``; :class:`NotFoundError` if there is none."""
        check_scenario_id(scenario_id)
        return parse_scenario(self.store.get_scenario(scenario_id), scenario_id=scenario_id)

    def save(self, scenario: Scenario) -> Scenario:
        """Write the scenario (replacing one with the same id)."""
        check_scenario_id(scenario.id)
        self.store.put_scenario(scenario.id, scenario.as_dict(), actor=self.actor)
        return scenario

    def create(self, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario:
        """Parse, check against ``base`` (when given) and store a new scenario with a fresh id."""
        scenario = parse_scenario({k: v for k, v in data.items() if k not in _FIXED})
        if base is not None:
            apply_changes(base["centers"], scenario.changes, dataset=base)
        with self.store.transaction(actor=self.actor) as tx:
            while _exists(tx, scenario.id):
                scenario.id = new_scenario_id()
            tx.put_scenario(scenario.id, scenario.as_dict())
        return scenario

    def replace(self, scenario_id: str, data: Mapping[str, Any], *, base: Dataset | None = None) -> Scenario:
        """Replace the name, description and changes of a stored scenario (its creation time stays)."""
        check_scenario_id(scenario_id)
        new = parse_scenario({k: v for k, v in data.items() if k not in _FIXED}, scenario_id=scenario_id)
        if base is not None:
            apply_changes(base["centers"], new.changes, dataset=base)
        with self.store.transaction(actor=self.actor) as tx:
            old = parse_scenario(tx.get_scenario(scenario_id), scenario_id=scenario_id)
            new.created_at = old.created_at
            tx.put_scenario(scenario_id, new.as_dict())
        return new

    def delete(self, scenario_id: str) -> None:
        """Delete a stored scenario; :class:`NotFoundError` if there is none."""
        check_scenario_id(scenario_id)
        self.store.delete_scenario(scenario_id, actor=self.actor)
