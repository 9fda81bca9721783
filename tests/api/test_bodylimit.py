"""Writes: no token, no body read; bodies bounded per route while they stream (issue 19, finding 1)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.store import Role, open_store
from tests.api.helpers import served_in_thread
from tests.helpers import writes


@pytest.fixture
def served(blocks_gpkg: Path) -> Iterator[tuple[TestClient, str]]:
    with open_store(blocks_gpkg) as store:
        token = writes(store).create_token(Role.editor, actor="test").token
    app = create_app(Settings(dataset=blocks_gpkg, json_body_max_kb=64, upload_max_mb=1))
    with TestClient(app) as client:
        yield client, token


def _endless(read: list[int], chunk: bytes, count: int) -> Iterator[bytes]:
    for _ in range(count):
        read.append(len(chunk))
        yield chunk


def test_a_write_without_a_valid_token_is_refused_before_its_body_is_read(served: tuple[TestClient, str]):
    client, _ = served
    read: list[int] = []
    res = client.post(
        "/collections/centers/items", content=_endless(read, b"x" * 65536, 10_000), headers={"Content-Type": "application/json"}
    )
    assert res.status_code == 401 and res.json()["field"] == "Authorization"
    assert "WWW-Authenticate" in res.headers
    assert sum(read) <= 65536  # at most the first chunk the client had already sent, never the 655 MB
    res = client.post("/scenarios", json={"name": "x"}, headers={"Authorization": "Bearer dj_deadbeef_nope"})
    assert res.status_code == 401 and "已撤销" in res.json()["detail"]


def test_a_declared_body_over_the_limit_is_413_at_once(served: tuple[TestClient, str]):
    client, token = served
    res = client.post(
        "/collections/centers/items",
        content=b"{" + b" " * (70 * 1024) + b"}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert res.status_code == 413 and "65,536" in res.json()["detail"]


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(blocks_gpkg: Path):
    """A real server and a raw socket: 413 arrives after about the limit, while the client still has 80 MB to send."""
    with open_store(blocks_gpkg) as store:
        token = writes(store).create_token(Role.editor, actor="test").token
    app = create_app(Settings(dataset=blocks_gpkg, json_body_max_kb=64))
    with served_in_thread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = (
                "POST /collections/centers/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            sock.sendall(head.encode())
            chunk = b" " * 8192
            sent = 0
            sock.settimeout(0.05)
            answer = b""
            while sent < 80 * 1024 * 1024 and not answer:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                try:
                    answer = sock.recv(65536)
                except TimeoutError:
                    continue
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 2 * 1024 * 1024  # answered near the 64 KB limit, long before the client was done


def test_a_small_write_with_a_token_still_works(served: tuple[TestClient, str]):
    client, token = served
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [109.78, 39.60]},
               "properties": {"name": "新中心", "level": "community"}}
    res = client.post("/collections/centers/items", json=feature, headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 201, res.text


def test_wrong_tokens_are_limited_per_client_before_they_are_checked(blocks_gpkg: Path, monkeypatch: pytest.MonkeyPatch):
    """Finding 5: after a burst of wrong secrets for a known token id, the next ones get 429 without a scrypt."""
    with open_store(blocks_gpkg) as store:
        good = writes(store).create_token(Role.editor, actor="test")
    app = create_app(Settings(dataset=blocks_gpkg, auth_failures_per_minute=3))
    checks: list[str] = []
    with TestClient(app) as client:
        store = app.state.dangjian.store
        real = store.verify_token
        monkeypatch.setattr(store, "verify_token", lambda token: checks.append(token) or real(token))
        wrong = f"dj_{good.info.id}_" + "x" * 43
        answers = [
            client.post("/scenarios", json={}, headers={"Authorization": f"Bearer {wrong}{i}"}).status_code for i in range(6)
        ]
        assert answers == [401, 401, 401, 429, 429, 429]
        assert len(checks) == 3  # refused ones were never checked
        res = client.get("/audit", headers={"Authorization": f"Bearer {wrong}"})
        assert res.status_code == 429 and int(res.headers["Retry-After"]) >= 1  # reads with a token too
