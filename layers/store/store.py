"""The store interface: :class:`Store`, one dataset's storage over a backend, handing out snapshots and transactions.

A store holds one dataset: its layers (GeoDataFrames in EPSG:4326), a version
per feature of ``centers`` and ``compounds``, the dataset's meta values,
scenario and import-report documents, access tokens (hashed) and an
append-only audit log.  A *revision* counter goes up by one with every write
transaction; the service uses it for ETags and to drop cached tiles.  A
separate *token revision* moves with every change of the tokens only: a store
checks it on every :meth:`Store.verify_token` and answers a token from its
cache only while it has not moved, so a revocation by any process counts on
the next request.

Reads go through a :class:`~layers.store.snapshot.Snapshot` (one consistent
view), writes through a :class:`~layers.store.transaction.Transaction`::

    with store.transaction(actor="token:3fa9c2d1") as tx:
        ref = tx.update_feature("centers", "S0003", properties={"status": "existing"}, expected_version=2)
        tx.write_layer("compounds", recomputed)      # same transaction: all or nothing

Everything inside one ``with`` block commits together or not at all (an
exception, a crash or a kill leaves the previous state).  Writers are
serialised per dataset, so a version check inside a transaction cannot race.

This module keeps the connections (a small pool), the sessions' begin, commit
and rollback, and the token check; a backend
(:mod:`~layers.store.gpkg`, :mod:`~layers.store.postgis`) adds how to connect
and its :class:`~layers.store.session.Session`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from layers.store.records import TokenInfo, token_info
from layers.store.session import Session
from layers.store.snapshot import Snapshot
from layers.store.tokens import TokenCheck, TokenChecks, check_secret, split_token
from layers.store.transaction import Transaction

#: Called with the open transaction just before it commits (tests use it to fail or kill mid-write).
_before_commit: Callable[[Transaction], None] | None = None


#: Idle connections a store keeps for the next session.
POOL_SIZE = 8


class Store(ABC):
    """One dataset's storage: layers, feature versions, meta, scenarios, import reports, audit log, tokens.

    Use :func:`layers.store.open_store` to get one.  Safe to share between
    threads; every method opens its own snapshot or transaction.
    """

    #: ``"gpkg"`` or ``"postgis"``.
    backend: ClassVar[str]

    def __init__(self) -> None:
        self._local = threading.local()
        self._token_checks: TokenChecks[TokenInfo] = TokenChecks()
        self._pool: list[Any] = []
        self._pool_lock = threading.Lock()
        self._closed = False

    # -- what backends provide -----------------------------------------------------------------

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the store is (a path, or a URL without password and the schema)."""

    @property
    def path(self) -> Path | None:
        """The GeoPackage file, for the file backend."""
        return None

    @abstractmethod
    def _connect(self) -> Any:
        """A new database connection (autocommit: sessions issue ``BEGIN`` and ``COMMIT`` themselves)."""

    @abstractmethod
    def _begin_sql(self, write: bool) -> str:
        """The statement opening a read or write transaction (a write one takes the dataset's write lock)."""

    @abstractmethod
    def _in_transaction(self, conn: Any) -> bool:
        """Whether ``conn`` is inside a transaction (``False`` also when it is closed)."""

    @abstractmethod
    def _new_session(self, conn: Any, write: bool) -> Session:
        """The backend's :class:`Session` on ``conn``."""

    def _after_commit(self, conn: Any, write: bool) -> None:  # noqa: B027 - optional hook
        """Called after a transaction committed (the GeoPackage folds its write-ahead log in)."""

    # -- connections ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            msg = f"the store {self.location} is closed"
            raise RuntimeError(msg)

    def _pooled(self) -> Any | None:
        """A connection from the pool, if one is there."""
        with self._pool_lock:
            return self._pool.pop() if self._pool else None

    def _acquire(self) -> Any:
        """A connection: from the pool, else a new one."""
        self._check_open()
        return self._pooled() or self._connect()

    def _release(self, conn: Any, *, ok: bool) -> None:
        """Back into the pool when the session ended well and the connection is idle; else closed."""
        idle = not self._in_transaction(conn)
        with self._pool_lock:
            if ok and idle and not self._closed and len(self._pool) < POOL_SIZE:
                self._pool.append(conn)
                return
        conn.close()

    def _query_once(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One read statement on a pooled connection, outside any explicit transaction (it sees one state)."""
        conn = self._acquire()
        ok = False
        try:
            rows = self._new_session(conn, False).query(sql, params)
            ok = True
            return rows
        finally:
            self._release(conn, ok=ok)

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        """A session in its own database transaction; commits on a normal exit, rolls back otherwise.

        A write session holds the dataset's write lock from its start.
        """
        conn = self._acquire()
        ok = False
        try:
            conn.execute(self._begin_sql(write))
            try:
                yield self._new_session(conn, write)
            except BaseException:
                if self._in_transaction(conn):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            ok = True
            self._after_commit(conn, write)
        finally:
            self._release(conn, ok=ok)

    def close(self) -> None:
        """Close every pooled connection; the store refuses new sessions."""
        with self._pool_lock:
            self._closed = True
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"

    # -- sessions ------------------------------------------------------------------------------

    def _check_not_nested(self) -> None:
        if getattr(self._local, "depth", 0):
            msg = "a transaction of this store is already open in this thread: use its `tx` object"
            raise RuntimeError(msg)

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A consistent read-only view for several reads (one database snapshot)."""
        with self._session(write=False) as session:
            yield Snapshot(self, session)

    @contextmanager
    def transaction(self, *, actor: str) -> Iterator[Transaction]:
        """One write transaction: everything done through the yielded object commits together, or nothing does.

        Parameters
        ----------
        actor
            Who writes, for the audit log (``token:<id>``, ``cli:<user>`` ...).
        """
        self._check_not_nested()
        self._local.depth = 1
        try:
            with self._session(write=True) as session:
                tx = Transaction(self, session, actor)
                yield tx
                if _before_commit is not None:
                    _before_commit(tx)
        finally:
            self._local.depth = 0

    # -- reads ---------------------------------------------------------------------------------

    def revision(self) -> int:
        """The dataset revision: goes up by one with every write transaction."""
        with self.snapshot() as snap:
            return snap.revision

    def verify_token(self, token: str) -> TokenInfo | None:
        """The stored token a plaintext token is, if it is active; else ``None``.

        Every call reads the token revision and the token's row (one
        statement of two primary-key lookups, no transaction).  While the
        revision is the one this store last checked the same token at, the
        answer is the remembered one, right or wrong secret alike; once it has
        moved, the answer is made again from the row, and the scrypt hash (tens
        of milliseconds) runs only when the stored hash is not the one already
        compared with.  Any change of the tokens, by any process or store,
        moves the revision in its transaction, so it counts on the next call.
        """
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        key = TokenChecks.key(token)
        # One statement, so the revision and the row are of one state; both are primary-key lookups.
        [(nonce, counter, *row)] = self._query_once(
            "SELECT r.nonce, r.revision, t.id, t.role, t.name, t.created_at, t.created_by, t.revoked_at, t.hash "
            "FROM dj_token_revision r LEFT JOIN dj_tokens t ON t.id = ? WHERE r.id = 1",
            (token_id,),
        )
        revision = (str(nonce), int(counter))
        known = self._token_checks.get(key)
        if known is not None and known.revision == revision:
            return known.info
        stored: str | None = None
        matches: bool | None = None
        info: TokenInfo | None = None
        if row[0] is not None:
            stored = str(row[6])
            revoked = row[5] is not None
            if known is not None and known.stored == stored and known.matches is not None:
                matches = known.matches
            elif not revoked:
                matches = check_secret(secret, stored)
            if matches and not revoked:
                info = token_info(row[:6])
        self._token_checks.put(key, TokenCheck(revision=revision, stored=stored, matches=matches, info=info))
        return info

