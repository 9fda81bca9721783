"""Token checks of the store: one cache per store, dropped when the token revision moves.

A token revoked through another store on the same dataset, or by another
process, is refused on the very next :meth:`Store.verify_token`; a repeated
token, right or wrong, costs no second scrypt hash while no token changes,
nor afterwards while its stored hash is the same.  Both backends; stores made
before the token revision existed are migrated.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import layers.store.gpkg as gpkg_module
import layers.store.postgis as postgis_module
import layers.store.store as store_module
from layers.dataset import Dataset, write_dataset
from layers.store import Role, Store, open_store
from layers.store.tokens import TokenCheck, TokenChecks, split_token
from tests.helpers import writes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["gpkg", "postgis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def target(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The dataset's file, or a PostGIS URL with a fresh schema (dropped afterwards)."""
    if backend == "gpkg":
        yield str(tmp_path / "district.gpkg")
        return
    url = request.getfixturevalue("postgis_url")
    target = f"{url}?schema=t_{uuid.uuid4().hex[:12]}"
    yield target
    final = open_store(target)
    assert isinstance(final, postgis_module.PostGISStore)
    final.drop()


@pytest.fixture
def make_store(target: str) -> Iterator[Callable[[], Store]]:
    """Opens another store on the test's dataset (closed at the end)."""
    opened: list[Store] = []

    def make() -> Store:
        opened.append(open_store(target))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The secrets the stores hash (scrypt) from now on, in order."""
    seen: list[str] = []
    check = store_module.check_secret

    def counting(secret: str, stored: str) -> bool:
        seen.append(secret)
        return check(secret, stored)

    monkeypatch.setattr(store_module, "check_secret", counting)
    return seen


def _wrong(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def test_a_token_revoked_through_another_store_is_refused_on_the_next_check(make_store: Callable[[], Store]) -> None:
    first, second = make_store(), make_store()
    editor = writes(first).create_token(Role.editor, actor="cli:root")
    viewer = writes(first).create_token(Role.viewer, actor="cli:root")
    assert first.verify_token(editor.token).role is Role.editor  # type: ignore[union-attr]
    assert first.verify_token(editor.token) is not None  # from the cache
    writes(second).revoke_token(editor.info.id, actor="cli:root")
    assert first.verify_token(editor.token) is None
    assert first.verify_token(viewer.token).role is Role.viewer  # type: ignore[union-attr]
    # and a token made through the other store works at once
    admin = writes(second).create_token(Role.admin, actor="cli:root")
    assert first.verify_token(admin.token).role is Role.admin  # type: ignore[union-attr]


def test_a_token_revoked_by_another_process_is_refused_on_the_next_check(
    make_store: Callable[[], Store], target: str
) -> None:
    store = make_store()
    new = writes(store).create_token(Role.editor, actor="cli:root")
    assert store.verify_token(new.token) is not None and store.verify_token(new.token) is not None
    code = textwrap.dedent(
        f"""
        from layers.store import open_store
        with open_store({target!r}) as store, store.transaction(actor="cli:other") as tx:
            tx.revoke_token({new.info.id!r})
        """
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
    assert store.verify_token(new.token) is None


def test_repeated_tokens_cost_one_hash_until_their_stored_hash_changes(
    make_store: Callable[[], Store], hashes: list[str]
) -> None:
    store, other = make_store(), make_store()
    new = writes(store).create_token(Role.editor, actor="cli:root")
    wrong = _wrong(new.token)
    for _ in range(3):
        assert store.verify_token(new.token) is not None
        assert store.verify_token(wrong) is None
    assert len(hashes) == 2  # one right, one wrong secret
    assert store.verify_token(f"dj_ffffffff_{'x' * 43}") is None and len(hashes) == 2  # no such id: no hash
    writes(other).create_token(Role.viewer, actor="cli:root")  # the revision moves: rows are read again, not hashed
    assert store.verify_token(new.token) is not None and store.verify_token(wrong) is None
    assert len(hashes) == 2
    writes(other).revoke_token(new.info.id, actor="cli:root")
    assert store.verify_token(new.token) is None and store.verify_token(wrong) is None
    assert len(hashes) == 2  # a revoked token is refused without hashing


def test_only_token_changes_move_the_token_revision(make_store: Callable[[], Store]) -> None:
    store = make_store()
    with store.snapshot() as snap:
        nonce, start = snap.token_revision()
    new = writes(store).create_token(Role.editor, actor="a")
    writes(store).set_meta({"params": {"method": "circle"}}, actor="a")
    writes(store).revoke_token(new.info.id, actor="a")
    writes(store).revoke_token(new.info.id, actor="a")  # already revoked: nothing changes
    with make_store().snapshot() as snap:
        assert snap.token_revision() == (nonce, start + 2)


def test_a_token_revoked_by_plain_sql_moves_the_token_revision_too(
    make_store: Callable[[], Store], backend: str
) -> None:
    store = make_store()
    new = writes(store).create_token(Role.editor, actor="cli:root")
    assert store.verify_token(new.token) is not None
    with make_store()._session(write=True) as session:  # as a copy being adopted writes them: no Transaction
        now = "2026-01-01T00:00:00Z" if backend == "gpkg" else "2026-01-01 00:00:00+00"
        session.exec("UPDATE dj_tokens SET revoked_at = ? WHERE id = ?", (now, new.info.id))
    assert store.verify_token(new.token) is None


def test_a_store_made_before_the_token_revision_is_migrated(
    backend: str, make_store: Callable[[], Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = gpkg_module if backend == "gpkg" else postgis_module
    with monkeypatch.context() as m:
        m.setattr(module, "MIGRATIONS", module.MIGRATIONS[:1])
        old = make_store()
        new = writes(old).create_token(Role.editor, actor="cli:root")
        with old._session(write=False) as session:
            assert [r[0] for r in session.query("SELECT version FROM dj_schema ORDER BY version")] == [1]
        old.close()
    store = make_store()
    with store._session(write=False) as session:
        assert [r[0] for r in session.query("SELECT version FROM dj_schema ORDER BY version")] == [1, 2]
    assert store.verify_token(new.token).role is Role.editor  # type: ignore[union-attr]
    writes(make_store()).revoke_token(new.info.id, actor="cli:root")
    assert store.verify_token(new.token) is None


def test_a_replaced_file_never_answers_from_the_old_files_checks(blocks: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "d.gpkg"
    with open_store(path) as store:
        new = writes(store).create_token(Role.editor, actor="a")  # token revision 1 of this file
        assert store.verify_token(new.token) is not None
        write_dataset(blocks, path)  # someone replaces the file: a new store, its own tokens
        with open_store(path) as replaced:
            writes(replaced).create_token(Role.viewer, actor="b")  # token revision 1 again, of another file
        assert store.verify_token(new.token) is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT revision FROM dj_token_revision").fetchone() == (1,)


def test_token_checks_forget_the_least_recently_used() -> None:
    checks: TokenChecks[str] = TokenChecks(kept=2)
    for key in ("a", "b"):
        checks.put(key, TokenCheck(revision=("n", 1), stored="h", matches=True, info=key))
    assert checks.get("a") is not None  # "b" is now the least recently used
    checks.put("c", TokenCheck(revision=("n", 1), stored=None, matches=None, info=None))
    assert checks.get("b") is None and checks.get("a") is not None and len(checks) == 2
    assert TokenChecks.key(" dj_x ") == TokenChecks.key("dj_x") and split_token("dj_x") is None
