"""``/datasets``: upload files and import them into a dataset's store.

``POST /datasets`` takes a ``multipart/form-data`` body with one or more
``files`` (GeoPackage, GeoJSON, Shapefile parts or a zip, KML, CSV, XLSX,
OpenStreetMap) and the options of ``dangjian import`` as form fields.  The body
is counted while it streams in and refused with 413 as soon as it passes the
``upload_max_mb`` setting (at once when ``Content-Length`` already says so),
so a huge upload never fills the disk and the service keeps serving.  Bad
input gets a 4xx JSON body ``{"detail": ..., "field": ...}`` naming the field.

The import goes through the dataset's store (:mod:`layers.store`): the
GeoPackage ``<data_dir>/<name>.gpkg``, or with ``database_url`` the PostGIS
schema named ``<name>``.  Layers, meta values and the import report commit in
one transaction, with the caller's token as the audit log's actor; a failed
import leaves no dataset, or the previous one.  ``GET /datasets/{id}`` and
``GET /datasets/{id}/reports`` read the reports back from the store.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.auth import Caller, public_actor, require
from api.errors import error_body, status_for
from api.ratelimit import rate_limited
from api.settings import Settings
from geo.errors import DangjianError, NotFoundError
from layers.importing import (
    ImportOptions,
    StoredImport,
    import_sources,
    import_to_gpkg,
    parse_bbox,
    parse_columns,
    remove_stale_scratch,
    write_import,
)
from layers.store import Role, Store, open_store, schema_name_for
from layers.store.catalog import postgis_datasets

router = APIRouter(tags=["datasets"])

#: Dataset names: letters (Chinese too), digits, ``-`` and ``_``; no dots or slashes.
_NAME = re.compile(r"^[\w\-]{1,64}$")
_MAX_FILES = 64
_CHUNK = 1 << 20


def get_settings(request: Request) -> Settings:
    """The app's settings (``app.state.settings``), else the environment's; override in tests."""
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else Settings()


class UploadTooLarge(Exception):
    """The request body passed the upload limit."""


def _error(status: int, detail: str, field: str | None) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(detail, field))


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise UploadTooLarge
        yield chunk


def _safe_filename(name: str | None, used: set[str]) -> str:
    """The file's own name without any folder part, with nothing that could climb out."""
    base = Path(str(name or "").replace("\\", "/")).name.strip()
    base = re.sub(r"[^\w.\-]", "_", base).lstrip(".")
    if not base:
        base = "upload"
    stem, dot, ext = base.partition(".")
    candidate, n = base, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem}_{n}{dot}{ext}"
    used.add(candidate.lower())
    return candidate


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _dataset_path(settings: Settings, name: str) -> Path:
    """The dataset's GeoPackage (its store without ``database_url``; with one, it only names the schema)."""
    return Path(settings.data_dir) / f"{name}.gpkg"


def _postgis_store(settings: Settings, name: str) -> Store:
    """The store of dataset ``name`` in the PostGIS of ``database_url``: schema ``name`` (created on first use)."""
    return open_store(_dataset_path(settings, name), database_url=settings.database_url, name=name, seed=False)


def _exists(settings: Settings, name: str) -> bool:
    """Whether dataset ``name`` exists: its GeoPackage file, or a PostGIS schema holding layers."""
    if not settings.database_url:
        return _dataset_path(settings, name).exists()
    if name not in postgis_datasets(settings.database_url):
        return False
    with _postgis_store(settings, name) as store, store.snapshot() as snap:
        return bool(snap.list_layers())


@contextmanager
def _existing_store(settings: Settings, dataset_id: str) -> Iterator[Store]:
    """The store of an existing dataset (nothing is created); :class:`NotFoundError` when there is none."""
    missing = NotFoundError(f"no dataset `{dataset_id}`", field="dataset_id")
    if not _NAME.match(dataset_id):
        raise missing
    if settings.database_url:
        if dataset_id not in postgis_datasets(settings.database_url):
            raise missing
        store = _postgis_store(settings, dataset_id)
    else:
        path = _dataset_path(settings, dataset_id)
        if not path.is_file():
            raise missing
        store = open_store(path)
    with store:
        yield store


def _import(
    paths: list[str], settings: Settings, name: str, *, options: ImportOptions, actor: str, replace: bool, allow_empty: bool
) -> StoredImport:
    """Read the uploads, then write them into the dataset's store in one transaction (runs in a worker thread)."""
    how = {"replace": replace, "anew": True, "allow_empty": allow_empty, "label": name}
    if not settings.database_url:
        return import_to_gpkg(paths, _dataset_path(settings, name), actor=actor, options=options, **how)
    dataset, report = import_sources(paths, options=options)  # a bad upload creates no schema
    with _postgis_store(settings, name) as store:
        return write_import(store, dataset, report, actor=actor, **how)


@router.post(
    "/datasets",
    status_code=201,
    summary="Upload files and import them into a dataset",
    dependencies=[Depends(rate_limited("datasets"))],
)
async def create_dataset(
    request: Request, settings: Annotated[Settings, Depends(get_settings)], caller: Annotated[Caller, Depends(require(Role.admin))]
) -> JSONResponse:
    """Import uploaded ``files`` into the store of dataset ``name`` and return the import report.

    The store is ``<data_dir>/<name>.gpkg``, or with ``database_url`` the
    PostGIS schema ``<name>`` (then ``name`` must be a schema name: lower-case
    letters, digits and ``_``, starting with a letter).  Form fields: ``files``
    (one or more), ``name`` (default: a random id), ``crs``, ``layer``,
    ``columns``, ``encoding``, ``bbox``, ``swap_xy``, ``skip_bad_rows``,
    ``replace`` (overwrite an existing dataset of that name: 409 otherwise),
    ``allow_empty`` (accept a dataset without compounds or centres: 422 otherwise).
    """
    limit = int(settings.upload_max_mb * 1024 * 1024)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return _error(415, "send the files as multipart/form-data in the field `files`", "files")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return _error(413, f"the upload is {int(length) / 1024**2:.0f} MB; at most {settings.upload_max_mb:g} MB are accepted", "files")
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    parser = MultiPartParser(request.headers, _limited(request.stream(), limit), max_files=_MAX_FILES, max_fields=32)
    try:
        form = await parser.parse()
    except UploadTooLarge:
        return _error(413, f"the upload passed {settings.upload_max_mb:g} MB, the most accepted", "files")
    except MultiPartException as exc:
        return _error(400, f"the multipart body cannot be read: {exc.message}", "files")
    remove_stale_scratch(data_dir)
    work = Path(tempfile.mkdtemp(prefix=".upload-", dir=data_dir))
    try:
        uploads = [f for key in ("files", "file") for f in form.getlist(key) if isinstance(f, UploadFile)]
        if not uploads:
            return _error(422, "no file uploaded: send one or more files in the field `files`", "files")
        name = str(form.get("name") or "").strip() or f"ds_{uuid.uuid4().hex[:12]}"
        if not _NAME.match(name):
            return _error(422, f"`name` may hold letters, digits, '-' and '_' (at most 64); got {name!r}", "name")
        if settings.database_url and schema_name_for(name) != name:
            return _error(
                422,
                f"with a PostGIS store `name` is the schema's name: lower-case letters, digits and '_', "
                f"starting with a letter (e.g. kangbashi_2024); got {name!r}",
                "name",
            )
        replace = _flag(form.get("replace", ""))
        try:
            if not replace and await run_in_threadpool(_exists, settings, name):
                return _error(409, f"a dataset named `{name}` exists; choose another name or send replace=true", "name")
        except DangjianError as exc:
            return _error(status_for(exc), exc.message, exc.field)
        used: set[str] = set()
        paths = []
        for upload in uploads:
            path = work / _safe_filename(upload.filename, used)
            with open(path, "wb") as fh:
                while chunk := await upload.read(_CHUNK):
                    fh.write(chunk)
            await upload.close()
            paths.append(path)
        fields = {k: form.get(k) for k in ("crs", "layer", "columns", "encoding", "bbox", "clip")}
        try:
            options = ImportOptions(
                crs=str(fields["crs"]) if fields["crs"] else None,
                layer=str(fields["layer"]) if fields["layer"] else None,
                columns=parse_columns(str(fields["columns"]) if fields["columns"] else None),
                encoding=str(fields["encoding"]) if fields["encoding"] else None,
                bbox=parse_bbox(str(fields["bbox"]) if fields["bbox"] else None),
                clip="boundary" if str(fields["clip"] or "").strip().lower() == "boundary" else None,
                swap_xy=_flag(form.get("swap_xy", "")),
                skip_bad_rows=_flag(form.get("skip_bad_rows", "")),
                max_unpacked_bytes=int(settings.upload_max_unpacked_mb * 1024 * 1024),
                max_members=settings.upload_max_members,
                max_rows=settings.upload_max_rows,
            )
            done = await run_in_threadpool(
                _import, [str(p) for p in paths], settings, name, options=options, actor=caller.actor, replace=replace,
                allow_empty=_flag(form.get("allow_empty", "")),
            )
        except DangjianError as exc:
            return _error(status_for(exc), exc.message.replace(str(work) + "/", ""), exc.field)
        body = done.report.as_dict()
        return JSONResponse(
            status_code=201,
            content={
                "id": name,
                "layers": body["layers"],
                "report": body,
                "report_id": done.report_id,
                "revision": done.revision,
                "links": {"self": f"/datasets/{name}", "reports": f"/datasets/{name}/reports"},
            },
        )
    finally:
        form_close = getattr(form, "close", None)
        if form_close is not None:
            await form_close()
        shutil.rmtree(work, ignore_errors=True)


@router.get("/datasets", summary="Datasets imported through the service")
def list_datasets(settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, Any]:
    """The datasets: GeoPackages in the data directory (with their size in bytes), or the PostGIS schemas holding one."""
    items: list[dict[str, Any]] = []
    if settings.database_url:
        for schema in postgis_datasets(settings.database_url):
            items.append({"id": schema, "links": {"self": f"/datasets/{schema}"}})
        return {"datasets": items}
    data_dir = Path(settings.data_dir)
    if data_dir.is_dir():
        for f in sorted(data_dir.glob("*.gpkg")):
            if f.name.startswith(".") or f.name.endswith(".built.gpkg"):
                continue
            items.append({"id": f.stem, "bytes": f.stat().st_size, "links": {"self": f"/datasets/{f.stem}"}})
    return {"datasets": items}


@router.get("/datasets/{dataset_id}", summary="A dataset's layers and latest import report")
def get_dataset(dataset_id: str, settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, Any]:
    """The stored layers (rows each) and the latest import report kept in the dataset's store (404 without the dataset).

    ``report`` is ``null`` for a dataset that was not imported through the
    store (e.g. a GeoPackage copied into the data directory).
    """
    with _existing_store(settings, dataset_id) as store, store.snapshot() as snap:
        layers = {info.name: info.rows for info in snap.list_layers()}
        latest = snap.list_import_reports(limit=1)
        revision = snap.revision
        path = store.path
    last = latest[0] if latest else None
    out: dict[str, Any] = {
        "id": dataset_id,
        "backend": store.backend,
        "revision": revision,
        "layers": layers,
        "report": last["report"] if last else None,
        "report_id": last["id"] if last else None,
        "imported_at": last["at"] if last else None,
        "imported_by": public_actor(last["actor"]) if last else None,
        "links": {"self": f"/datasets/{dataset_id}", "reports": f"/datasets/{dataset_id}/reports"},
    }
    if path is not None:
        out["bytes"] = path.stat().st_size
    return out


@router.get("/datasets/{dataset_id}/reports", summary="The import reports of a dataset, newest first")
def list_reports(
    dataset_id: str,
    settings: Annotated[Settings, Depends(get_settings)],
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many reports")] = 20,
) -> dict[str, Any]:
    """Id, time (UTC) and actor of the latest import reports kept in the dataset's store."""
    with _existing_store(settings, dataset_id) as store, store.snapshot() as snap:
        reports = snap.list_import_reports(limit=limit)
    return {
        "id": dataset_id,
        "reports": [
            {"id": r["id"], "at": r["at"], "actor": public_actor(r["actor"]), "links": {"self": f"/datasets/{dataset_id}/reports/{r['id']}"}}
            for r in reports
        ],
    }


@router.get("/datasets/{dataset_id}/reports/{report_id}", summary="One import report of a dataset")
def get_report(dataset_id: str, report_id: int, settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, Any]:
    """One import report (404 when the dataset or the report does not exist)."""
    with _existing_store(settings, dataset_id) as store, store.snapshot() as snap:
        report = snap.get_import_report(report_id)
    return {**report, "actor": public_actor(report.get("actor"))}
