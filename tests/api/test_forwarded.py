"""Forwarded headers are believed only from the proxies the deployment names (issue 19, finding 7)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.commands.serve import proxy_options
from api.settings import Settings
from tests.api.helpers import served_in_thread


def _answers(blocks_gpkg: Path, **settings: object) -> list[int]:
    """Statuses of 5 report requests from loopback, each claiming another client in ``X-Forwarded-For``."""
    chosen = Settings(dataset=blocks_gpkg, rate_limit_per_minute=1, rate_limit_burst=2, **settings)  # type: ignore[arg-type]
    with served_in_thread(create_app(chosen), **proxy_options(chosen)) as base:
        return [
            httpx.get(f"{base}/reports/gaps", headers={"X-Forwarded-For": f"203.0.113.{i}"}, timeout=30).status_code
            for i in range(1, 6)
        ]


def test_rotating_x_forwarded_for_from_loopback_does_not_bypass_the_rate_limit(blocks_gpkg: Path):
    answers = _answers(blocks_gpkg)
    assert 429 not in answers[:2] and answers[2:] == [429, 429, 429]  # burst of 2, then the peer (127.0.0.1) is out


def test_a_named_proxy_is_believed(blocks_gpkg: Path):
    answers = _answers(blocks_gpkg, trusted_proxies="127.0.0.1")
    assert 429 not in answers  # each forwarded client has its own bucket


def test_trusted_proxies_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DANGJIAN_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16")
    settings = Settings()
    assert settings.trusted_proxies == ["10.0.0.5", "10.1.0.0/16"]
    assert proxy_options(settings) == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.5", "10.1.0.0/16"]}
    monkeypatch.delenv("DANGJIAN_TRUSTED_PROXIES")
    assert proxy_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": []}
