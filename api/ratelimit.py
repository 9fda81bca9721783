"""Rate limits of the expensive endpoints (imports, site suggestions, reports), per token and per client address.

``Depends(rate_limited("reports"))`` charges one request of the endpoint group
to the caller's client address and, when it sends one, to its token (counted
separately); when either bucket is empty the answer is 429 with
``Retry-After`` (whole seconds) and a JSON body.  A bucket holds
``rate_limit_burst`` requests and refills at ``rate_limit_per_minute``
(``0`` turns the limits off).

Buckets live in the process (:class:`TokenBucket`) unless the deployment
names a ``rate_limit_file`` (``dangjian serve --workers N`` sets one): then
every worker process keeps them in that small SQLite file
(:class:`SharedTokenBucket`), so N workers do not allow N times the rate.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from fastapi import Request

from api.auth import AuthError, app_settings, bearer_token, client_address, say
from api.settings import Settings

#: Buckets kept in memory before the full ones are forgotten.
_MAX_KEYS = 50_000


class Bucket(Protocol):
    """Token buckets of one endpoint group."""

    def take(self, key: str) -> float:
        """Take one request for ``key``: 0 when allowed, else the seconds until one is available."""
        ...

    def peek(self, key: str) -> float:
        """Seconds until ``key`` may take a request (0: now), taking nothing."""
        ...


def _refill(level: float, at: float, now: float, rate: float, burst: float) -> float:
    return min(burst, level + max(0.0, now - at) * rate)


def _wait(level: float, rate: float) -> float:
    return (1.0 - level) / rate if rate > 0 else 3600.0


class TokenBucket:
    """Per-key token buckets in this process: ``burst`` requests at once, refilled at ``per_minute`` a minute.

    Thread-safe; buckets full again are forgotten so the table stays small.
    """

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """See :meth:`Bucket.take`."""
        now = time.monotonic()
        with self._lock:
            level, at = self._buckets.get(key, (self.burst, now))
            level = _refill(level, at, now, self.rate, self.burst)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                if len(self._buckets) > _MAX_KEYS:
                    self._prune(now)
                return 0.0
            self._buckets[key] = (level, now)
            return _wait(level, self.rate)

    def peek(self, key: str) -> float:
        """Seconds until ``key`` may take a request (0: now), taking nothing."""
        now = time.monotonic()
        with self._lock:
            level, at = self._buckets.get(key, (self.burst, now))
        level = _refill(level, at, now, self.rate, self.burst)
        return 0.0 if level >= 1.0 else _wait(level, self.rate)

    def _prune(self, now: float) -> None:
        full = [k for k, (level, at) in self._buckets.items() if _refill(level, at, now, self.rate, self.burst) >= self.burst]
        for k in full:
            del self._buckets[k]


class SharedTokenBucket:
    """The same buckets in a SQLite file that every worker process of a service shares.

    One short write transaction per request (about a millisecond): the
    expensive endpoints it guards take far longer.  Times are wall-clock
    seconds, the same in every process.

    Parameters
    ----------
    path
        The SQLite file (created when missing).
    group
        The endpoint group (``reports`` ...): one file holds every group.
    per_minute, burst
        As :class:`TokenBucket`.
    """

    def __init__(self, path: str | Path, group: str, per_minute: float, burst: int) -> None:
        self.path = Path(path)
        self.group = group
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS buckets (grp TEXT NOT NULL, key TEXT NOT NULL, level REAL NOT NULL, "
            "at REAL NOT NULL, PRIMARY KEY (grp, key))"
        )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # losing a bucket in a crash only forgives a few requests
            self._local.conn = conn
        return conn

    def peek(self, key: str) -> float:
        """Seconds until ``key`` may take a request (0: now), taking nothing."""
        row = self._conn().execute("SELECT level, at FROM buckets WHERE grp = ? AND key = ?", (self.group, key)).fetchone()
        level = _refill(row[0], row[1], time.time(), self.rate, self.burst) if row else self.burst
        return 0.0 if level >= 1.0 else _wait(level, self.rate)

    def take(self, key: str) -> float:
        """See :meth:`Bucket.take`."""
        conn = self._conn()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT level, at FROM buckets WHERE grp = ? AND key = ?", (self.group, key)).fetchone()
            level = _refill(row[0], row[1], now, self.rate, self.burst) if row else self.burst
            allowed = level >= 1.0
            conn.execute(
                "INSERT INTO buckets (grp, key, level, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (grp, key) DO UPDATE SET level = excluded.level, at = excluded.at",
                (self.group, key, level - 1.0 if allowed else level, now),
            )
            if allowed and self.rate > 0 and int(now) % 60 == 0:  # now and then: forget buckets full again
                conn.execute("DELETE FROM buckets WHERE at < ?", (now - self.burst / self.rate,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return 0.0 if allowed else _wait(level, self.rate)


def _bucket(request: Request, name: str, settings: Settings) -> Bucket:
    table: dict[str, Bucket] | None = getattr(request.app.state, "rate_buckets", None)
    if table is None:
        table = {}
        request.app.state.rate_buckets = table
    bucket = table.get(name)
    if bucket is None:
        if settings.rate_limit_file is not None:
            made: Bucket = SharedTokenBucket(settings.rate_limit_file, name, settings.rate_limit_per_minute, settings.rate_limit_burst)
        else:
            made = TokenBucket(settings.rate_limit_per_minute, settings.rate_limit_burst)
        bucket = table.setdefault(name, made)
    return bucket


def rate_limited(name: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency charging one request of endpoint group ``name`` to the caller's token and address.

    Answers 429 with ``Retry-After`` (whole seconds) and a JSON body when
    either is used up.  ``rate_limit_per_minute = 0`` turns the limits off.
    """

    async def dependency(request: Request) -> None:
        settings = app_settings(request)
        if settings.rate_limit_per_minute <= 0:
            return
        bucket = _bucket(request, name, settings)
        keys = [f"addr:{client_address(request)}"]
        token = bearer_token(request)
        if token is not None:
            keys.append("token:" + hashlib.sha256(token.encode()).hexdigest()[:16])
        wait = max(bucket.take(k) for k in keys)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise AuthError(429, say(request, "http.rate_limited", group=name, seconds=seconds), field=None, headers={"Retry-After": str(seconds)})

    dependency.__name__ = f"rate_limited_{name}"
    return dependency


class FailedTokenChecks:
    """Failed token checks, limited per client address and per token id (``app.state.auth_failures``).

    A caller past ``auth_failures_per_minute`` wrong tokens (burst as many)
    gets 429 before its next token is even checked, so guessing secrets of a
    known token id costs the service nothing more.  Shared between workers
    like the other limits when ``rate_limit_file`` is set.
    """

    def __init__(self, settings: Settings) -> None:
        per_minute = settings.auth_failures_per_minute
        burst = max(1, int(per_minute)) if per_minute > 0 else 1
        self.enabled = per_minute > 0
        self.bucket: Bucket = (
            SharedTokenBucket(settings.rate_limit_file, "auth_failures", per_minute, burst)
            if settings.rate_limit_file is not None
            else TokenBucket(per_minute, burst)
        )

    @staticmethod
    def keys(address: str, token_id: str | None) -> list[str]:
        """The buckets a check counts against."""
        return [f"addr:{address}", *([f"id:{token_id}"] if token_id else [])]

    def wait(self, keys: list[str]) -> float:
        """Seconds before these callers may try a token again (0: now)."""
        return max((self.bucket.peek(k) for k in keys), default=0.0) if self.enabled else 0.0

    def failed(self, keys: list[str]) -> None:
        """Count one failed check."""
        if self.enabled:
            for k in keys:
                self.bucket.take(k)
