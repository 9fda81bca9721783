"""The import report: what each source became, the rows kept, repaired and left out, and every warning.

:class:`ImportReport` collects it while :func:`~layers.importing.pipeline.import_sources`
runs (one :class:`SourceReport` per table read); its plain-JSON form goes into
the dataset's store and meta.  :func:`report_lines` renders it as a table for
the terminal and the ``X.import.txt`` file in Chinese or English, where
:func:`report_paths` says it is saved.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from layers.i18n import ZH, text
from layers.importing.messages import say

#: Words of the report's table, looked up in the catalogue as ``import.<key>``.
_WORDS = (
    "title", "source", "layer", "crs", "read", "kept", "repaired", "rejected", "clipped", "encoding",
    "columns", "warnings", "rejected_rows", "row", "layers", "none", "metric",
)

#: Rejected rows listed one by one; the rest are counted.
_MAX_REJECTED_SHOWN = 50


@dataclass
class SourceReport:
    """What importing one table did."""

    source: str
    format: str
    layer: str
    layer_reason: str
    crs: str
    encoding: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    read: int = 0
    kept: int = 0
    repaired: int = 0
    clipped: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """The validation report of one import: sources, layers, warnings."""

    sources: list[SourceReport] = field(default_factory=list)
    layers: dict[str, int] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)
    metric_crs: str = ""
    output: str = ""
    network: dict[str, Any] = field(default_factory=dict)

    def warn(self, code: str, message: str = "", source: str = "", **values: Any) -> None:
        """Add a warning: ``code`` is stable, its words are the catalogue's ``import.warn.<code>`` with ``values``.

        The values are kept with it (plain JSON: text and numbers), so the
        report can be shown again in another language.
        """
        if values or not message:
            message = say(f"warn.{code}", **values)
        self.warnings.append({"code": code, "source": source, "message": message, "values": dict(values)})

    @property
    def rejected(self) -> int:
        """Rows left out, over all sources."""
        return sum(len(s.rejected) for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "output": self.output,
            "metric_crs": self.metric_crs,
            "layers": dict(self.layers),
            "rows": {
                "read": sum(s.read for s in self.sources),
                "kept": sum(s.kept for s in self.sources),
                "repaired": sum(s.repaired for s in self.sources),
                "rejected": self.rejected,
                "clipped": sum(s.clipped for s in self.sources),
            },
            "sources": [asdict(s) for s in self.sources],
            "warnings": list(self.warnings),
            "network": dict(self.network),
        }


def _width(cell: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in cell)


def _source_table(d: dict[str, Any], t: dict[str, str]) -> list[str]:
    """The heading and one aligned row per source: layer, CRS and row counts."""
    heads = [t["source"], t["layer"], t["crs"], t["read"], t["kept"], t["repaired"], t["rejected"], t["clipped"]]
    rows = [
        [s["source"], s["layer"], s["crs"], str(s["read"]), str(s["kept"]), str(s["repaired"]), str(len(s["rejected"])), str(s["clipped"])]
        for s in d["sources"]
    ]
    widths = [max(_width(r[i]) for r in [heads, *rows]) for i in range(len(heads))]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    title = t["title"] + (f": {d['output']}" if d.get("output") else "")
    return [title, line(heads), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _source_details(d: dict[str, Any], t: dict[str, str]) -> list[str]:
    """Per source, the encoding read and the headers renamed, where there are any."""
    out = []
    for s in d["sources"]:
        mapped = ", ".join(f"{k}->{v}" for k, v in s["columns"].items() if k != v)
        extra = [f"{t['encoding']} {s['encoding']}"] if s.get("encoding") else []
        if mapped:
            extra.append(f"{t['columns']}: {mapped}")
        if extra:
            out.append(f"  {s['source']}: " + "; ".join(extra))
    return out


def _rejected_lines(d: dict[str, Any], t: dict[str, str]) -> list[str]:
    """The rows left out with their reasons (the first fifty, then a count)."""
    rejected = [(s["source"], r) for s in d["sources"] for r in s["rejected"]]
    if not rejected:
        return []
    out = [t["rejected_rows"] + ":"]
    out += [f"  {src} {t['row'].format(row=r['row'])}: {r['reason']}" for src, r in rejected[:_MAX_REJECTED_SHOWN]]
    if len(rejected) > _MAX_REJECTED_SHOWN:
        out.append(f"  ... +{len(rejected) - _MAX_REJECTED_SHOWN}")
    return out


def warning_text(warning: dict[str, Any], lang: str = "zh") -> str:
    """A warning's words in ``lang``: made again from its code and values (as stored before values, its message)."""
    values = warning.get("values")
    if values is None or f"import.warn.{warning['code']}" not in ZH:
        return str(warning["message"])
    return say(f"warn.{warning['code']}", lang, **values)


def report_lines(report: ImportReport | dict[str, Any], lang: str = "zh") -> list[str]:
    """The report as a readable plain-text table (for the terminal, logs and the ``.txt`` file)."""
    d = report.as_dict() if isinstance(report, ImportReport) else report
    t = {k: text(f"import.{k}", lang) for k in _WORDS}
    out = _source_table(d, t) + _source_details(d, t)
    metric = f"; {t['metric']} {d['metric_crs']}" if d.get("metric_crs") else ""
    out.append(f"{t['layers']}: " + ", ".join(f"{k} {v}" for k, v in d["layers"].items()) + metric)
    out += _rejected_lines(d, t)
    if d.get("network"):
        n = d["network"]
        out.append(text("summary.network", lang, added=n["junctions_added"], share=n["largest_piece_share"], **n["apart"]))
    if d["warnings"]:
        out.append(t["warnings"] + ":")
        out += [f"  [{w['code']}] {warning_text(w, lang)}" for w in d["warnings"]]
    return out


def report_paths(output: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Where the report of an import into ``output`` is saved: ``X.import.json`` and ``X.import.txt``."""
    out = Path(output)
    base = out.with_suffix("") if out.suffix else out
    return base.parent / f"{base.name}.import.json", base.parent / f"{base.name}.import.txt"
