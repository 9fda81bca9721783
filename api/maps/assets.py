"""Files the map pages load from ``api/static`` (content-hashed URLs) and JSON placed inside ``<script>``."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"


@cache
def _asset_version(relative: str) -> str:
    return hashlib.sha1((STATIC_DIR / relative).read_bytes()).hexdigest()[:10]


def static_url(prefix: str, relative: str) -> str:
    """Same-origin URL of a shipped asset, with a content hash so browsers never keep a stale copy."""
    return f"{prefix}/static/{relative}?v={_asset_version(relative)}"


def json_for_script(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (``<``, ``>``, ``&`` and line separators escaped)."""
    s = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(a, b)
    return s
