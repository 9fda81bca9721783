"""Whole-layer writes of a transaction: replace a layer, replace some of its rows, delete it, import a dataset.

A mixin of :class:`~layers.store.transaction.Transaction` (it keeps no
state of its own): each method writes through the transaction's session and
keeps its bookkeeping, the feature versions of ``centers`` and ``compounds``
(a version moves only when a feature's editable columns or geometry changed),
the layer's revision and one audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import InvalidValueError
from layers.dataset import Dataset
from layers.schema import OPTIONAL_LAYERS
from layers.store.frames import (
    VERSIONED_LAYERS,
    check_layer_name,
    coerce_series,
    python_values,
    row_digests,
    storage_frame,
)
from layers.store.records import DERIVED_REVISION, AuditAction

if TYPE_CHECKING:
    from layers.store.transaction import Transaction

#: Ids listed per kind (added, changed, removed) in the audit entry of a whole-layer write.
AUDIT_ID_LIMIT = 100


class LayerWrites:
    """The whole-layer writes of a :class:`~layers.store.transaction.Transaction`."""

    def write_layer(self: Transaction, name: str, frame: pd.DataFrame) -> None:
        """Replace a whole layer (create it when new).

        The frame is stored as given (not validated against the layer spec:
        use :func:`layers.dataset.prepare_layer` first for input data), in
        EPSG:4326.  In ``centers`` and ``compounds`` every feature needs a
        unique ``id``; a feature's version goes up only when its editable
        columns or geometry changed, features left out are deleted.

        Raises
        ------
        InvalidValueError
            Bad column names; blank or repeated ids.
        """
        check_layer_name(name)
        table, kinds = storage_frame(name, frame)
        before_rows = self._s.count_rows(name) if self.has_layer(name) else None
        self._s.replace_layer(name, table, kinds)
        geometry_type = self._s.geometry_type(name)
        self._touch_layer(name, kinds, geometry_type)
        after: dict[str, Any] = {"rows": len(table), "columns": list(kinds)}
        if name in VERSIONED_LAYERS:
            after.update(self._version_layer(name, table))  # type: ignore[arg-type]
        self.record(
            AuditAction.replace_layer,
            layer=name,
            before=None if before_rows is None else {"rows": before_rows},
            after=after,
        )

    def _version_layer(self: Transaction, name: str, table: gpd.GeoDataFrame) -> dict[str, Any]:
        """Bump the versions of changed features of a rewritten layer; what changed, for the audit log."""
        new = pd.DataFrame({"feature_id": table["id"].astype(str).to_numpy(), "digest": row_digests(table, name)})
        old = self._versions(name)
        merged = new.merge(old, on="feature_id", how="left", suffixes=("", "_old"))
        known = merged["version"].notna().to_numpy()
        was_live = known & ~merged["deleted"].fillna(True).astype(bool).to_numpy()
        same = was_live & (merged["digest"].to_numpy() == merged["digest_old"].to_numpy())
        old_version = merged["version"].fillna(0).astype("int64").to_numpy()
        version = np.where(same, old_version, old_version + 1)
        changed = ~same
        rows = list(
            zip(
                merged["feature_id"].to_numpy()[changed],
                version[changed],
                merged["digest"].to_numpy()[changed],
                np.zeros(int(changed.sum()), dtype=bool),
                strict=True,
            )
        )
        gone = old[~old["deleted"] & ~old["feature_id"].isin(new["feature_id"])]
        rows += [(fid, int(v) + 1, None, True) for fid, v in zip(gone["feature_id"], gone["version"], strict=True)]
        self._set_versions(name, rows)
        added = merged["feature_id"].to_numpy()[~was_live]
        modified = merged["feature_id"].to_numpy()[was_live & ~same]
        return {
            "added": len(added),
            "changed": len(modified),
            "removed": len(gone),
            "added_ids": [str(i) for i in added[:AUDIT_ID_LIMIT]],
            "changed_ids": [str(i) for i in modified[:AUDIT_ID_LIMIT]],
            "removed_ids": [str(i) for i in gone["feature_id"].to_numpy()[:AUDIT_ID_LIMIT]],
        }

    def replace_rows(self: Transaction, name: str, frame: pd.DataFrame, *, key: str = "id", keys: Sequence[str] | None = None) -> None:
        """Replace the rows of some keys of a layer: what an incremental recomputation writes.

        Parameters
        ----------
        name
            An existing layer.
        frame
            The new rows (EPSG:4326), each with a ``key`` among ``keys``.
        key
            The column naming rows.  ``id``: each row is updated in place
            (inserted when new), and rows of ``keys`` missing from ``frame``
            are deleted; another column (``center_id`` of circles): all rows
            of ``keys`` are deleted, then ``frame`` is inserted.
        keys
            The keys replaced (default: those of ``frame``).

        In ``centers`` and ``compounds`` only derived values may change this
        way (coverage, community, unit, grid ...): versions stay as they are,
        so an ``If-Match`` a planner holds stays valid; their digests follow.

        Raises
        ------
        NotFoundError
            No such layer.
        InvalidValueError
            A row's ``key`` is not among ``keys``; bad column names.
        """
        check_layer_name(name)
        self._require_layer(name)
        wanted = [str(k) for k in (keys if keys is not None else frame[key].astype(str).unique())]
        table, given = storage_frame(name, frame) if len(frame) else (frame, {})
        if len(table) and key not in table.columns:
            msg = f"layer `{name}`: the rows need a `{key}` column"
            raise InvalidValueError(msg, field=f"{name}.{key}")
        row_keys = table[key].astype(str).to_numpy() if len(table) else np.array([], dtype=object)
        stray = sorted(set(row_keys) - set(wanted))
        if stray:
            msg = f"layer `{name}`: rows of `{key}` {', '.join(stray[:5])} are not among the keys replaced"
            raise InvalidValueError(msg, field=f"{name}.{key}")
        kinds = dict(self._s.layer_kinds(name) or {})
        added = [col for col in given if col not in kinds]
        for col in added:
            self._s.add_column(name, col, given[col])
            kinds[col] = given[col]
        values = {c: python_values(coerce_series(table[c], k), k) if c in table.columns else [None] * len(table) for c, k in kinds.items()}
        geoms = table.geometry.to_numpy() if isinstance(table, gpd.GeoDataFrame) and len(table) else [None] * len(table)
        rows = [({c: values[c][i] for c in kinds}, geoms[i]) for i in range(len(table))]
        before = self._s.count_rows(name)
        if key == "id":
            present = {str(r[0]) for r in self._s.query(f'SELECT "id" FROM "{name}" WHERE "id" IN ({", ".join("?" * len(wanted))})', wanted)} if wanted else set()
            for (vals, geom), fid in zip(rows, row_keys, strict=True):
                if fid in present:
                    self._s.update_row(name, fid, vals, geom)
                else:
                    self._s.insert_row(name, vals, geom)
            gone = sorted(present - set(row_keys))
            if gone:
                self._s.delete_rows(name, key, gone)
        else:
            self._s.delete_rows(name, key, wanted)
            for vals, geom in rows:
                self._s.insert_row(name, vals, geom)
        if added:
            self._touch_layer(name, kinds, self._s.geometry_type(name))
        else:
            self._touch_layer(name)
        if name in VERSIONED_LAYERS and len(table):
            digests = row_digests(table, name)
            self._s.executemany(
                "UPDATE dj_versions SET digest = ? WHERE layer = ? AND feature_id = ? AND deleted = ?",
                [(d, name, fid, False) for d, fid in zip(digests, row_keys, strict=True)],
            )
        self.record(
            AuditAction.replace_rows,
            layer=name,
            before={"rows": before},
            after={"rows": self._s.count_rows(name), "key": key, "keys": wanted[:AUDIT_ID_LIMIT], "replaced": len(wanted)},
        )

    def delete_layer(self: Transaction, name: str) -> None:
        """Remove a whole layer (its features' versions become deleted)."""
        self._require_layer(name)
        rows = self._s.count_rows(name)
        self._s.drop_layer(name)
        self._s.exec("DELETE FROM dj_layers WHERE name = ?", (name,))
        if name in VERSIONED_LAYERS:
            old = self._versions(name)
            live = old[~old["deleted"]]
            self._set_versions(name, [(f, int(v) + 1, None, True) for f, v in zip(live["feature_id"], live["version"], strict=True)])
        self.record(AuditAction.delete_layer, layer=name, before={"rows": rows})

    def import_dataset(self: Transaction, dataset: Dataset, *, replace: bool = True) -> None:
        """Write every layer and the meta values of a dataset.

        Parameters
        ----------
        dataset
            Layers in EPSG:4326 (an empty ``gates`` layer is skipped).
        replace
            Remove stored layers the dataset does not have, and meta keys it
            does not set.
        """
        names = [n for n, f in dataset.layers.items() if not (n in OPTIONAL_LAYERS and not len(f))]
        for name in names:
            self.write_layer(name, dataset.layers[name])
        if replace:
            for name in self._s.layer_names():
                if name not in names:
                    self.delete_layer(name)
        meta = {k: v for k, v in dataset.meta.items() if k != DERIVED_REVISION}
        if dataset.built:
            meta[DERIVED_REVISION] = self.revision
        self.set_meta(meta, replace=replace)
        self.record(
            AuditAction.import_dataset,
            after={"layers": {n: len(dataset.layers[n]) for n in names}, "source": str(dataset.path or "")},
        )
