"""The importer's words: every warning, note and error it gives comes from the catalogue, in the import's language.

The texts live in :mod:`layers.i18n` (``zh.toml``, ``en.toml``) under
``import.warn.<code>`` (a warning of the report, ``code`` its stable key) and
``import.error.<key>`` (an error raised).  An import speaks one language,
set once by its entry point with :func:`speaking` (Chinese unless told
otherwise) and read by :func:`say` wherever a message is made, so the
readers deep down need no language argument.  Warnings also keep their
values, so a stored report can be shown again in another language
(:func:`~layers.importing.report.report_lines`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from layers.i18n import CATALOGUES, check_lang, text

_LANG: ContextVar[str] = ContextVar("import_lang", default="zh")

#: How a list of names is joined, by language.
_LIST_SEPARATORS = {"zh": "、", "en": ", "}


@contextmanager
def speaking(lang: str) -> Iterator[str]:
    """Make the importer's messages in ``lang`` until the block ends (``zh`` or ``en``)."""
    token = _LANG.set(check_lang(lang))
    try:
        yield lang
    finally:
        _LANG.reset(token)


def current_lang() -> str:
    """The language the importer's messages are made in now."""
    return _LANG.get()


def say(key: str, lang: str | None = None, **values: Any) -> str:
    """The catalogue's ``import.<key>`` in the import's language (or ``lang``), formatted with ``values``.

    A ``layer`` value that is a layer's code (``compounds``) is said as that layer's name in the language,
    so stored warnings keep the code and read right in either language.
    """
    lang = lang or _LANG.get()
    layer = values.get("layer")
    if isinstance(layer, str) and f"layer.{layer}" in CATALOGUES[check_lang(lang)]:
        values = {**values, "layer": text(f"layer.{layer}", lang)}
    return text(f"import.{key}", lang, **values)


def word(key: str) -> str:
    """Any word of the catalogue (``level.community``, ``layer.roads``) in the import's language."""
    return text(key, _LANG.get())


def listing(items: Iterable[object], *, limit: int | None = None) -> str:
    """Items joined the way the import's language lists them (``a、b、c``), the first ``limit`` and ``…``."""
    shown = [str(i) for i in items]
    more = limit is not None and len(shown) > limit
    joined = _LIST_SEPARATORS.get(_LANG.get(), ", ").join(shown[:limit] if more else shown)
    return joined + (" …" if more else "")
