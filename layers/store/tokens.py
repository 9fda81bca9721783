"""Access tokens: roles, the token format, and the salted scrypt hash a store keeps instead of the token.

A token reads ``dj_<id>_<secret>``: ``id`` (8 hex digits) names the stored
row, so checking a token costs one hash, not one per stored token; ``secret``
is 32 random bytes (URL-safe base64).  Only
``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`` of the secret is stored.

A store also keeps a *token revision* that every change of its tokens moves
(a trigger, in the writing transaction); :class:`TokenChecks` remembers each check's answer for
the revision it was made at, so a store answers a repeated token with one
read of that revision and no hash until some token changes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from geo.errors import InvalidValueError

#: scrypt cost: 2**14 x 8 x 1 (about 16 MB and a few tens of milliseconds per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_TOKEN_RE = re.compile(r"^dj_([0-9a-f]{8})_([A-Za-z0-9_-]{20,128})$")


class Role(StrEnum):
    """What a token may do; each role may do everything the ones before it may.

    ``viewer`` reads maps, tiles and features where reading needs a token;
    ``planner`` also keeps scenarios and asks for suggestions; ``editor`` also
    edits layers; ``admin`` also imports datasets and manages tokens.
    """

    viewer = "viewer"
    planner = "planner"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        """0 for ``viewer`` up to 3 for ``admin``."""
        return list(Role).index(self)

    def allows(self, needed: Role | str) -> bool:
        """Whether a token of this role may do what needs ``needed``."""
        return self.rank >= parse_role(needed).rank


def parse_role(value: Role | str) -> Role:
    """A :class:`Role` from its name; :class:`InvalidValueError` listing the roles otherwise."""
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        msg = f"`role` must be one of {', '.join(r.value for r in Role)}; got {value!r}"
        raise InvalidValueError(msg, field="role") from None


def new_token() -> tuple[str, str, str]:
    """A fresh token: ``(token_id, secret, plaintext)``."""
    token_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"dj_{token_id}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token, else ``None``."""
    match = _TOKEN_RE.match(token.strip()) if isinstance(token, str) else None
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    """The stored form of a secret: salted scrypt with its parameters."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


Info = TypeVar("Info")

#: Token checks a store remembers (the least recently used go first beyond this).
TOKEN_CHECKS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class TokenCheck(Generic[Info]):
    """What one check of a token found.

    Attributes
    ----------
    revision
        The store's token revision the check read (``(nonce, counter)``).
    stored
        The stored hash the secret was compared with, ``None`` when no row has the token's id.
    matches
        Whether the secret hashes to ``stored`` (``None``: not hashed, the token was revoked).
        It holds for as long as the stored hash is the same, whatever the revision.
    info
        The answer: the active token, or ``None`` (unknown, revoked or a wrong secret).
    """

    revision: tuple[str, int]
    stored: str | None
    matches: bool | None
    info: Info | None


class TokenChecks(Generic[Info]):
    """A store's remembered token checks, by the SHA-256 of the whole token (thread-safe, bounded).

    A check is answered again only while the token revision is the one it was
    made at; after that the stored row is read again, and the scrypt outcome
    is reused while the stored hash is unchanged.  Wrong secrets are
    remembered like right ones, so repeating one costs no second hash.
    """

    def __init__(self, kept: int = TOKEN_CHECKS_KEPT) -> None:
        self._kept = int(kept)
        self._checks: OrderedDict[str, TokenCheck[Info]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(token: str) -> str:
        """The cache key of a token: the SHA-256 of its whole text."""
        return hashlib.sha256(token.strip().encode()).hexdigest()

    def get(self, key: str) -> TokenCheck[Info] | None:
        """The last check of ``key``, if remembered."""
        with self._lock:
            found = self._checks.get(key)
            if found is not None:
                self._checks.move_to_end(key)
            return found

    def put(self, key: str, check: TokenCheck[Info]) -> None:
        """Remember ``check`` for ``key`` (forgetting the least recently used beyond the bound)."""
        with self._lock:
            self._checks[key] = check
            self._checks.move_to_end(key)
            while len(self._checks) > self._kept:
                self._checks.popitem(last=False)

    def clear(self) -> None:
        """Forget every check."""
        with self._lock:
            self._checks.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._checks)
