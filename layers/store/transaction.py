"""Writing a store: :class:`Transaction`, one write transaction whose writes commit together or not at all.

``with store.transaction(actor=...) as tx:`` gives one.  Opening it moves the
dataset revision by one (which also takes the dataset's write lock); this
module keeps what every write shares, the audit log, layer revisions and
feature versions, and the writes of the dataset's documents: meta values,
scenario and import-report documents (stored as given, JSON), tokens.  Layer
writes come from :class:`~layers.store.layer_writes.LayerWrites`, one-feature
edits from :class:`~layers.store.feature_writes.FeatureWrites`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from geo.errors import InvalidValueError, NotFoundError
from geo.plain import jsonable
from layers.store.feature_writes import FeatureWrites
from layers.store.layer_writes import LayerWrites
from layers.store.records import AuditAction, Json, NewToken, TokenInfo, iso, now_utc, token_info
from layers.store.session import Session
from layers.store.snapshot import Snapshot
from layers.store.tokens import Role, hash_secret, new_token, parse_role

if TYPE_CHECKING:
    from layers.store.store import Store

_SCENARIO_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Transaction(FeatureWrites, LayerWrites, Snapshot):
    """One write transaction (see :meth:`Store.transaction`); reads inside it see its own writes.

    Attributes
    ----------
    actor
        Who writes (``token:<id>``, ``cli:<user>``, ``system``): goes into the audit log.
    revision
        The dataset revision this transaction creates.
    """

    def __init__(self, store: Store, session: Session, actor: str) -> None:
        super().__init__(store, session)
        self.set_actor(actor)
        self._savepoints = 0
        self._at = now_utc()
        session.exec("UPDATE dj_revision SET revision = revision + 1, changed_at = ? WHERE id = 1", (self._at,))
        self._revision = int(session.query("SELECT revision FROM dj_revision WHERE id = 1")[0][0])

    def set_actor(self, actor: str) -> None:
        """Who the following writes of this transaction are by (one transaction may carry several callers' edits)."""
        if not isinstance(actor, str) or not actor.strip():
            msg = "a write needs an `actor` (who writes), for the audit log"
            raise InvalidValueError(msg, field="actor")
        self.actor = actor.strip()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the transaction that an exception undoes alone (SQL ``SAVEPOINT``), leaving the rest to commit."""
        self._savepoints += 1
        name = f"dj_sp_{self._savepoints}"
        self._s.exec(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._s.exec(f"ROLLBACK TO SAVEPOINT {name}")
            self._s.exec(f"RELEASE SAVEPOINT {name}")
            raise
        self._s.exec(f"RELEASE SAVEPOINT {name}")

    # -- audit ---------------------------------------------------------------------------------

    def record(
        self,
        action: AuditAction | str,
        *,
        layer: str | None = None,
        feature_id: str | None = None,
        version: int | None = None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        """Append one entry to the audit log (the write methods do this themselves)."""
        self._s.exec(
            "INSERT INTO dj_audit (at, actor, action, layer, feature_id, version, revision, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                now_utc(),
                self.actor,
                str(action),
                layer,
                feature_id,
                version,
                self.revision,
                None if before is None else Json(jsonable(before)),
                None if after is None else Json(jsonable(after)),
            ),
        )

    def _touch_layer(self, name: str, kinds: Mapping[str, str] | None = None, geometry_type: str | None = None) -> None:
        if kinds is None:
            if not self._s.exec("UPDATE dj_layers SET revision = ?, updated_at = ? WHERE name = ?", (self.revision, self._at, name)):
                kinds = self._s.layer_kinds(name) or {}
                geometry_type = self._s.geometry_type(name)
            else:
                return
        self._s.exec(
            "INSERT INTO dj_layers (name, kinds, geometry_type, revision, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET kinds = excluded.kinds, geometry_type = excluded.geometry_type, "
            "revision = excluded.revision, updated_at = excluded.updated_at",
            (name, Json([[c, k] for c, k in kinds.items()]), geometry_type, self.revision, self._at),
        )

    def _set_versions(self, layer: str, rows: Iterable[tuple[str, int, str | None, bool]]) -> None:
        self._s.executemany(
            "INSERT INTO dj_versions (layer, feature_id, version, digest, deleted) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (layer, feature_id) DO UPDATE SET version = excluded.version, "
            "digest = excluded.digest, deleted = excluded.deleted",
            [(layer, fid, int(v), d, bool(x)) for fid, v, d, x in rows],
        )

    # -- meta, scenarios, reports --------------------------------------------------------------

    def set_meta(self, values: Mapping[str, Any], *, replace: bool = False) -> None:
        """Set meta values (JSON data); ``replace`` drops keys not given."""
        before = self.get_meta()
        if replace:
            self._s.exec("DELETE FROM dj_meta")
        self._s.executemany(
            "INSERT INTO dj_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(str(k), Json(jsonable(v))) for k, v in values.items()],
        )
        after = self.get_meta()
        self._s.meta_written(after)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        self.record(AuditAction.meta, before={k: before.get(k) for k in changed}, after={k: after.get(k) for k in changed})

    def put_scenario(self, scenario_id: str, doc: Mapping[str, Any]) -> None:
        """Store (or replace) a scenario document under ``scenario_id`` (letters, digits, ``-``, ``_``)."""
        if not _SCENARIO_ID_RE.match(str(scenario_id)):
            msg = f"no scenario `{scenario_id}` (ids are letters, digits, - and _)"
            raise NotFoundError(msg, field="scenario")
        if not isinstance(doc, Mapping):
            msg = "a scenario must be a JSON object"
            raise InvalidValueError(msg, field="scenario")
        old = self._s.query("SELECT doc, created_at FROM dj_scenarios WHERE id = ?", (scenario_id,))
        before = self._s.load_json(old[0][0]) if old else None
        if old:
            self._s.exec(
                "UPDATE dj_scenarios SET doc = ?, updated_at = ? WHERE id = ?", (Json(jsonable(doc)), self._at, scenario_id)
            )
        else:
            self._s.exec(
                "INSERT INTO dj_scenarios (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (scenario_id, Json(jsonable(doc)), self._at, self._at),
            )
        self.record(AuditAction.scenario_put, feature_id=scenario_id, before=before, after=doc)

    def delete_scenario(self, scenario_id: str) -> None:
        """Delete a scenario; :class:`NotFoundError` if there is none."""
        before = self.get_scenario(scenario_id)
        self._s.exec("DELETE FROM dj_scenarios WHERE id = ?", (str(scenario_id),))
        self.record(AuditAction.scenario_delete, feature_id=str(scenario_id), before=before)

    def add_import_report(self, report: Mapping[str, Any]) -> int:
        """Keep an import report (JSON data); its id."""
        rows = self._s.query(
            "INSERT INTO dj_import_reports (at, actor, report) VALUES (?, ?, ?) RETURNING id",
            (self._at, self.actor, Json(jsonable(report))),
        )
        report_id = int(rows[0][0])
        self.record(AuditAction.import_report, feature_id=str(report_id), after={"report": report_id})
        return report_id

    # -- tokens --------------------------------------------------------------------------------

    def create_token(self, role: Role | str, *, name: str = "") -> NewToken:
        """A new token of ``role``; the plaintext is in the answer only, the store keeps its scrypt hash."""
        role = parse_role(role)
        token_id, secret, plaintext = new_token()
        while self._s.query("SELECT 1 FROM dj_tokens WHERE id = ?", (token_id,)):
            token_id, secret, plaintext = new_token()
        self._s.exec(
            "INSERT INTO dj_tokens (id, name, role, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, str(name), role.value, hash_secret(secret), self._at, self.actor),
        )
        info = TokenInfo(id=token_id, role=role, name=str(name), created_at=iso(self._at) or "", created_by=self.actor)
        self.record(AuditAction.token_create, feature_id=token_id, after={"id": token_id, "role": role.value, "name": name})
        return NewToken(token=plaintext, info=info)

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token by its id; :class:`NotFoundError` if there is none."""
        rows = self._s.query("SELECT id, role, name, created_at, created_by, revoked_at FROM dj_tokens WHERE id = ?", (str(token_id),))
        if not rows:
            msg = f"no token `{token_id}`"
            raise NotFoundError(msg, field="token")
        if rows[0][5] is None:
            self._s.exec("UPDATE dj_tokens SET revoked_at = ? WHERE id = ?", (self._at, str(token_id)))
        self.record(AuditAction.token_revoke, feature_id=str(token_id), before=token_info(rows[0]).as_dict())
