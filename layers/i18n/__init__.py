"""The text catalogue: every word a planner reads, in Chinese (default) and English.

Map legends, popups, report headings and CLI summaries take their words from
here and nowhere else.  ``text(key, lang)`` looks one up; a key missing in
English falls back to Chinese.  The words themselves are data beside this
module, one TOML file per language (``zh.toml``, ``en.toml``: ``"key" =
"text"``, the text a :meth:`str.format` template), shipped in the wheel as
package data and read once at import.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Any

from geo.errors import InvalidValueError

LANGS: tuple[str, ...] = ("zh", "en")


def _catalogue(lang: str) -> dict[str, str]:
    """The words of one language, from ``<lang>.toml`` of this package."""
    return tomllib.loads(files(__name__).joinpath(f"{lang}.toml").read_text(encoding="utf-8"))


#: Language -> key -> text, for every language of :data:`LANGS`.
CATALOGUES: dict[str, dict[str, str]] = {lang: _catalogue(lang) for lang in LANGS}
ZH: dict[str, str] = CATALOGUES["zh"]


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise an error listing the languages."""
    if lang not in CATALOGUES:
        msg = f"`lang` must be one of {', '.join(LANGS)}; got {lang!r}"
        raise InvalidValueError(msg, field="lang")
    return lang


def text(key: str, lang: str = "zh", **values: Any) -> str:
    """The text for ``key`` in ``lang``, formatted with ``values``.

    Unknown keys come back as the key itself so a missing word shows, not crashes.
    """
    template = CATALOGUES[check_lang(lang)].get(key) or ZH.get(key) or key
    return template.format(**values) if values else template


def flag_text(flags: str, lang: str = "zh") -> str:
    """Translate a comma-separated flag code list (``uncovered,no_party_org``)."""
    sep = "、" if lang == "zh" else ", "
    return sep.join(text(f"flag.{f}", lang) for f in str(flags).split(",") if f)
