"""A dataset: the input and derived layers of one district, read and written with pyogrio.

A dataset is one GeoPackage holding the layers ``boundary``, ``rivers``,
``roads``, ``compounds``, ``centers`` (and optional ``gates``), plus after a
build the derived layers and a small ``meta`` table; or a folder with one file
per layer named after it (``roads.geojson``, ``compounds.shp`` ...).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from geo.crs import WGS84, metric_crs, to_wgs84
from geo.errors import DatasetNotFoundError, InputError, InvalidValueError, NotFoundError
from geo.files import atomic_output
from geo.geometry import repair_geometries
from layers.schema import (
    DERIVED_LAYERS,
    INPUT_LAYERS,
    LAYER_SPECS,
    OPTIONAL_LAYERS,
    LayerSpec,
    RowValueError,
    normalise_columns,
)

#: File endings read from a dataset folder, in order of preference.
FOLDER_SUFFIXES: tuple[str, ...] = (".gpkg", ".geojson", ".json", ".shp", ".fgb")
META_LAYER = "meta"


@dataclass
class LayerReport:
    """What loading one layer did: counts and the rows it could not use."""

    read: int = 0
    kept: int = 0
    repaired: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    source_crs: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "read": self.read,
            "kept": self.kept,
            "repaired": self.repaired,
            "rejected": self.rejected,
            "defaults": self.defaults,
            "source_crs": self.source_crs,
        }


@dataclass
class Dataset:
    """The layers of one district in EPSG:4326 and the metric CRS to measure them in.

    Attributes
    ----------
    layers
        Layer name to GeoDataFrame (EPSG:4326).  Absent input layers are empty
        frames with the spec's columns.
    metric_crs
        Projected CRS (metres) chosen from the data's extent.
    report
        Per input layer: what loading did.
    meta
        Build parameters and summary, when the dataset was built.
    path
        Where it was read from, if anywhere.
    """

    layers: dict[str, gpd.GeoDataFrame]
    metric_crs: CRS
    report: dict[str, LayerReport] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __getitem__(self, name: str) -> gpd.GeoDataFrame:
        """The layer ``name``; :class:`NotFoundError` if the dataset has none."""
        try:
            return self.layers[name]
        except KeyError:
            msg = f"the dataset has no layer `{name}` (layers: {', '.join(self.layers)})"
            raise NotFoundError(msg, field="layer") from None

    def has(self, name: str) -> bool:
        """Whether the layer exists and holds at least one row."""
        return name in self.layers and len(self.layers[name]) > 0

    @property
    def built(self) -> bool:
        """Whether the derived layers and coverage columns are present."""
        return "covered" in self.layers.get("compounds", pd.DataFrame()).columns and "units" in self.layers

    def metric(self, name: str) -> gpd.GeoDataFrame:
        """The layer ``name`` projected to :attr:`metric_crs`."""
        return self[name].to_crs(self.metric_crs)

    def replace(self, **layers: gpd.GeoDataFrame) -> Dataset:
        """A new dataset with some layers replaced (the original is not changed)."""
        return Dataset(
            layers={**self.layers, **layers},
            metric_crs=self.metric_crs,
            report=self.report,
            meta=dict(self.meta),
            path=self.path,
        )


def empty_layer(name: str) -> gpd.GeoDataFrame:
    """An empty EPSG:4326 frame with the columns of the layer's spec."""
    spec = LAYER_SPECS[name]
    cols = ["id", *spec.required, *spec.optional]
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols}, geometry=gpd.GeoSeries([], crs=WGS84))


def _layer_sources(path: Path) -> dict[str, tuple[Path, str | None]]:
    """Map layer names to (file, layer-in-file) for a GeoPackage or a folder."""
    if path.is_dir():
        found: dict[str, tuple[Path, str | None]] = {}
        for name in (*INPUT_LAYERS, *DERIVED_LAYERS):
            for suffix in FOLDER_SUFFIXES:
                f = path / f"{name}{suffix}"
                if f.exists():
                    found[name] = (f, None)
                    break
        return found
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        msg = f"cannot read `{path}` as a dataset: {exc}"
        raise InputError(msg, field="dataset") from exc
    return {n: (path, n) for n in names}


def _read(source: tuple[Path, str | None], *, encoding: str | None = None) -> gpd.GeoDataFrame:
    file, layer = source
    try:
        # Arrow is several times faster; it does not take an encoding override.
        return pyogrio.read_dataframe(file, layer=layer, use_arrow=encoding is None, encoding=encoding)
    except Exception as exc:
        where = f"{file}" + (f" (layer {layer})" if layer else "")
        msg = f"cannot read {where}: {exc}"
        raise InputError(msg, field=layer or file.stem) from exc


def check_ids(frame: pd.DataFrame, layer: str) -> pd.Series:
    """The ``id`` column as text; :class:`InvalidValueError` naming the rows when blank or repeated.

    Numbers read from spreadsheets (``7.0``) become ``"7"``.
    """
    if "id" not in frame.columns:
        msg = f"layer `{layer}` has no `id` column"
        raise InvalidValueError(msg, field=f"{layer}.id")
    ids = frame["id"].astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    bad = ids.isna() | (ids == "")
    dup = ids.duplicated(keep=False) & ~bad
    if bad.any() or dup.any():
        rows = np.flatnonzero((bad | dup).to_numpy())[:3] + 1
        what = "blank" if bad.any() else "repeated"
        msg = f"layer `{layer}`, column `id`: {what} ids at rows {', '.join(map(str, rows))}"
        raise InvalidValueError(msg, field=f"{layer}.id")
    return ids.astype(object)


def assign_ids(frame: pd.DataFrame, *, layer: str, prefix: str) -> pd.Series:
    """Keep the input ``id`` column as text, or assign stable ids by row order.

    Ids assigned are ``prefix`` and the 1-based row number, zero-padded
    (``C0001``): the same input gives the same ids.

    Raises
    ------
    InvalidValueError
        When given ids are blank or repeated, naming the rows.
    """
    if "id" in frame.columns and frame["id"].notna().any():
        return check_ids(frame, layer)
    width = max(4, len(str(len(frame))))
    return pd.Series([f"{prefix}{i + 1:0{width}d}" for i in range(len(frame))], index=frame.index, dtype=object)


def _normalise_rejecting(attrs: pd.DataFrame, spec: LayerSpec) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """:func:`normalise_columns`, leaving out rows with bad values instead of raising.

    Returns the normalised rows (index = original positions) and, per left-out
    row, its 0-based position and the reason.  Each pass removes every bad row
    of one column, so this ends within one pass per column.
    """
    rejected: list[tuple[int, str]] = []
    work = attrs
    for _ in range(len(attrs.columns) + len(spec.optional) + 1):
        try:
            return normalise_columns(work, spec), rejected
        except RowValueError as exc:
            positions = work.index[list(exc.rows)]
            values = work[exc.column].iloc[list(exc.rows)]
            for pos, value in zip(positions, values, strict=True):
                rejected.append((int(pos), f"`{exc.column}` {exc.rule}; got {value!r}"))
            work = work.drop(index=positions)
    return normalise_columns(work, spec), rejected


def prepare_layer(
    frame: gpd.GeoDataFrame, name: str, *, assume_crs: CRS | None = None, reject_invalid: bool = False
) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """Validate, repair and normalise one input layer.

    Parameters
    ----------
    frame
        The layer as read, any CRS.
    name
        Input layer name (a key of :data:`layers.schema.LAYER_SPECS`).
    assume_crs
        CRS to assume when the frame carries none.
    reject_invalid
        Leave out rows with a bad value (text in ``households``, an unknown
        ``level`` ...) and list them in the report, instead of raising.

    Returns
    -------
    (GeoDataFrame, LayerReport)
        The layer in EPSG:4326 with every spec column present and an ``id``
        column, and what was done to it.  Unusable rows (missing, empty or
        wrong-type geometry; with ``reject_invalid`` also bad values) are
        removed and listed in the report with their 1-based row number.
    """
    spec = LAYER_SPECS[name]
    report = LayerReport(read=len(frame), source_crs=str(frame.crs.to_string()) if frame.crs else "")
    report.defaults = [c for c in spec.optional if c not in frame.columns]
    frame = frame.reset_index(drop=True)
    gdf = to_wgs84(frame, layer=name, assume=assume_crs)
    attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if reject_invalid:
        attrs, bad_values = _normalise_rejecting(attrs, spec)
        for row, reason in bad_values:
            report.rejected.append({"row": row + 1, "id": "", "reason": reason})
        rows = attrs.index.to_numpy()
        attrs = attrs.reset_index(drop=True)
    else:
        attrs = normalise_columns(attrs, spec)
        rows = np.arange(len(attrs))
    attrs["id"] = assign_ids(attrs, layer=name, prefix=spec.id_prefix)
    fixed = repair_geometries(gdf.geometry.to_numpy()[rows], family=spec.family)
    report.repaired = int(fixed.repaired.sum())
    bad = fixed.unusable != ""
    for pos in np.flatnonzero(bad):
        report.rejected.append(
            {"row": int(rows[pos]) + 1, "id": str(attrs["id"].iloc[pos]), "reason": str(fixed.unusable[pos])}
        )
    report.rejected.sort(key=lambda r: r["row"])
    cols = ["id", *[c for c in attrs.columns if c != "id"]]
    out = gpd.GeoDataFrame(attrs[cols], geometry=gpd.GeoSeries(fixed.geometry, crs=WGS84))
    out = out.loc[~bad].reset_index(drop=True)
    report.kept = len(out)
    return out, report


def read_meta(path: Path) -> dict[str, Any]:
    """The ``meta`` table of a built GeoPackage (empty dict if none)."""
    try:
        table = pyogrio.read_dataframe(path, layer=META_LAYER, read_geometry=False)
    except Exception:
        return {}
    return {str(k): json.loads(v) for k, v in zip(table["key"], table["value"], strict=True)}


def read_dataset(path: str | os.PathLike[str], *, assume_crs: CRS | None = None) -> Dataset:
    """Read a dataset from a GeoPackage or a folder of per-layer files.

    Parameters
    ----------
    path
        ``district.gpkg`` or a folder holding ``roads.geojson``, ``compounds.shp`` ...
    assume_crs
        CRS for layers that carry none (default: WGS84 when they look like degrees).

    Returns
    -------
    Dataset
        Input layers validated and in EPSG:4326, derived layers as stored.

    Raises
    ------
    DatasetNotFoundError
        The path does not exist or holds no compounds layer.
    MissingColumnError, InvalidValueError, CRSError
        Naming the layer, column and row at fault.
    """
    p = Path(path)
    if not p.exists():
        msg = f"dataset `{p}` does not exist"
        raise DatasetNotFoundError(msg, field="dataset")
    sources = _layer_sources(p)
    if "compounds" not in sources:
        have = ", ".join(sources) or "no layers"
        msg = f"dataset `{p}` has no `compounds` layer (found: {have})"
        raise DatasetNotFoundError(msg, field="dataset")
    layers: dict[str, gpd.GeoDataFrame] = {}
    report: dict[str, LayerReport] = {}
    for name in INPUT_LAYERS:
        if name in sources:
            layers[name], report[name] = prepare_layer(_read(sources[name]), name, assume_crs=assume_crs)
        elif name not in OPTIONAL_LAYERS:
            layers[name] = empty_layer(name)
    for name in DERIVED_LAYERS:
        if name in sources:
            layers[name] = to_wgs84(_read(sources[name]), layer=name)
    crs = metric_crs(*(layers[n] for n in ("boundary", "roads", "compounds")))
    meta = read_meta(p) if p.is_file() else {}
    return Dataset(layers=layers, metric_crs=crs, report=report, meta=meta, path=p)


def _sanitise_for_gpkg(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Object columns holding lists/dicts become JSON text; GeoPackage stores scalars only."""
    out = frame.copy()
    for col in out.columns:
        if col == out.geometry.name or out[col].dtype != object:
            continue
        sample = out[col].dropna()
        if len(sample) and isinstance(sample.iloc[0], (list, dict, tuple)):
            out[col] = out[col].map(lambda v: json.dumps(v, ensure_ascii=False) if v is not None else None)
    return out


def district_name(dataset: Dataset) -> str:
    """The district's name: the build summary's, the district boundary's, else the file name."""
    summary = dataset.meta.get("summary") or {}
    if summary.get("name"):
        return str(summary["name"])
    b = dataset.layers.get("boundary")
    if b is not None and len(b) and (b["level"] == "district").any():
        name = str(b.loc[b["level"] == "district", "name"].iloc[0])
        if name:
            return name
    return dataset.path.stem if dataset.path else "dataset"


def write_dataset(dataset: Dataset, path: str | os.PathLike[str]) -> Path:
    """Write every layer and the meta table to one GeoPackage, atomically.

    The new file is written beside the target under a temporary name and moved
    over it only when complete (:func:`geo.files.atomic_output`), so an
    existing dataset is never left half written.  A missing folder is created
    (``serve`` writes into its cache folder this way).  An existing file is
    replaced by rename, under any process that has it open.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    target = Path(path)
    with atomic_output(target, make_folder=True) as tmp:
        for name in (*INPUT_LAYERS, *DERIVED_LAYERS):
            frame = dataset.layers.get(name)
            if frame is None or (name in OPTIONAL_LAYERS and not len(frame)):
                continue
            frame = _sanitise_for_gpkg(frame.to_crs(WGS84) if frame.crs else frame.set_crs(WGS84))
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", promote_to_multi=None, use_arrow=True)
        meta = pd.DataFrame(
            {
                "key": list(dataset.meta),
                "value": [json.dumps(v, ensure_ascii=False) for v in dataset.meta.values()],
            }
        )
        pyogrio.write_dataframe(meta, tmp, layer=META_LAYER, driver="GPKG")
    return target
