"""Anonymous ``?minutes=`` requests are bounded: only allowed values, one computation per variant, outside the edit lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api.state.variants
from api.app import create_app
from api.settings import Settings


@pytest.fixture
def client(blocks_gpkg: Path):
    with TestClient(create_app(Settings(dataset=blocks_gpkg, method="circle"))) as c:
        yield c


def test_minutes_outside_the_allowed_values_are_422_naming_them(client: TestClient):
    res = client.get("/coverage/summary?minutes=7.3")
    assert res.status_code == 422 and res.json()["field"] == "minutes"
    assert "5, 10, 15, 20, 30" in res.json()["detail"]
    assert client.get("/coverage/summary?minutes=10").status_code == 200
    assert client.get("/tiles/compounds/15/26355/12378.png?minutes=12.5").status_code == 422


def test_a_variant_is_computed_once_and_not_under_the_state_lock(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    state = client.app.state.dangjian
    state.dataset()
    calls: list[bool] = []
    real = api.state.variants.coverage_variant

    def slow(ds, params):  # type: ignore[no-untyped-def]
        # the state's lock is free while a variant is computed: another thread (an edit, a reload) can take it
        got: list[bool] = []

        def other() -> None:
            ok = state._lock.acquire(timeout=0.2)
            got.append(ok)
            if ok:
                state._lock.release()

        probe = threading.Thread(target=other)
        probe.start()
        probe.join()
        calls.append(got[0])
        time.sleep(0.3)
        return real(ds, params)

    monkeypatch.setattr(api.state.variants, "coverage_variant", slow)
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(client.get("/coverage/summary?minutes=5").status_code)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [200] * 4
    assert calls == [True]  # four callers, one computation, with the lock free
