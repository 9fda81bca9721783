"""The security headers of the pages: script nonces, the Content-Security-Policy and the iframe parents allowed."""

from __future__ import annotations

import re

from api.maps.options import basemap_hosts

_SCRIPT_TAG = re.compile(r"<script(?=[\s>])")
_ANCESTOR = re.compile(r"^(?:'self'|'none'|\*|(?:https?://)?[\w.*-]+(?::\d+)?)$")


def add_nonce(page: str, nonce: str) -> str:
    """Give every ``<script>`` element of a page the CSP ``nonce`` (escaped data never contains ``<script``)."""
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', page)


def content_security_policy(nonce: str | None, *, basemap: str, frame_ancestors: list[str], workers: bool = False) -> str:
    """The CSP of the service: scripts only from the service (and with the page's ``nonce``), data only from the
    service, images also from the basemap, framing only by ``frame_ancestors`` (``'none'`` when empty).

    Pages pass their fresh ``nonce``; every other response gets the same policy without one.  ``workers``
    lets the page start web workers from ``blob:`` URLs (MapLibre GL JS decodes its tiles in one).
    """
    img = " ".join(["'self'", "data:", "blob:", *basemap_hosts(basemap)])
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    script = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    worker = "worker-src 'self' blob:; child-src 'self' blob:; " if workers else ""
    return (
        f"default-src 'self'; script-src {script}; style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; connect-src 'self'; font-src 'self' data:; {worker}object-src 'none'; base-uri 'none'; "
        f"form-action 'none'; frame-ancestors {ancestors}"
    )


def allowed_ancestors(values: list[str]) -> list[str]:
    """The ``frame_ancestors`` setting's entries that are valid CSP sources (others dropped)."""
    return [a for a in values if _ANCESTOR.match(a)]
