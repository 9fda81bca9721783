"""Wrong secrets for a known token id are limited per id, whichever client sends them (issue 19, finding 5)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.store import Role, open_store
from tests.helpers import writes


def test_wrong_secrets_for_one_token_id_from_many_clients_get_429_with_retry_after(blocks_gpkg: Path):
    with open_store(blocks_gpkg) as store:
        good = writes(store).create_token(Role.editor, actor="test")
    app = create_app(Settings(dataset=blocks_gpkg, auth_failures_per_minute=3))
    wrong = {"Authorization": f"Bearer dj_{good.info.id}_" + "x" * 43}
    answers = []
    for i in range(5):  # five addresses, one wrong secret each: no address bucket runs out, the id's does
        with TestClient(app, client=(f"198.51.100.{i}", 5000)) as client:
            res = client.get("/audit", headers=wrong)
            answers.append(res.status_code)
    assert answers == [401, 401, 401, 429, 429]
    assert int(res.headers["Retry-After"]) >= 1
    assert res.json() == {"detail": res.json()["detail"], "field": "Authorization"} and "秒后再试" in res.json()["detail"]
    with TestClient(app, client=("198.51.100.9", 5000)) as client:  # another token id from a fresh address is unaffected
        other = client.get("/audit", headers={"Authorization": "Bearer dj_otherid_" + "x" * 43})
    assert other.status_code == 401 and other.json()["detail"] == "令牌无效、格式错误或已撤销"


def test_an_unknown_token_is_refused_in_english_when_the_service_speaks_english(blocks_gpkg: Path):
    app = create_app(Settings(dataset=blocks_gpkg, lang="en"))
    with TestClient(app) as client:
        res = client.get("/audit")
    assert res.status_code == 401 and res.json()["detail"].startswith("this needs a token with the role `editor`")
