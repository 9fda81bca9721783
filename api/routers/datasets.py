"""``/datasets``: upload files and import them into a new dataset.

``POST /datasets`` takes a ``multipart/form-data`` body with one or more
``files`` (GeoPackage, GeoJSON, Shapefile parts or a zip, KML, CSV, XLSX,
OpenStreetMap) and the options of ``dangjian import`` as form fields.  The body
is counted while it streams in and refused with 413 as soon as it passes the
``upload_max_mb`` setting (at once when ``Content-Length`` already says so),
so a huge upload never fills the disk and the service keeps serving.  Bad
input gets a 4xx JSON body ``{"detail": ..., "field": ...}`` naming the field.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.auth import Caller, rate_limited, require
from api.errors import error_body, status_for
from api.settings import Settings
from geo.errors import DangjianError, NotFoundError
from layers.importer import ImportOptions, import_to_file, parse_bbox, parse_columns, report_paths
from layers.store import Role

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


def _dataset_path(settings: Settings, dataset_id: str) -> Path:
    if not _NAME.match(dataset_id):
        raise NotFoundError(f"no dataset `{dataset_id}`", field="dataset_id")
    return Path(settings.data_dir) / f"{dataset_id}.gpkg"


@router.post(
    "/datasets",
    status_code=201,
    summary="Upload files and import them into a new dataset",
    dependencies=[Depends(rate_limited("datasets"))],
)
async def create_dataset(
    request: Request, settings: Annotated[Settings, Depends(get_settings)], caller: Annotated[Caller, Depends(require(Role.admin))]
) -> JSONResponse:
    """Import uploaded ``files`` into ``<data_dir>/<name>.gpkg`` and return the import report.

    Form fields: ``files`` (one or more), ``name`` (default: a random id),
    ``crs``, ``layer``, ``columns``, ``encoding``, ``bbox``, ``swap_xy``,
    ``skip_bad_rows``, ``replace`` (overwrite an existing dataset of that name).
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
    work = Path(tempfile.mkdtemp(prefix=".upload-", dir=data_dir))
    try:
        uploads = [f for key in ("files", "file") for f in form.getlist(key) if isinstance(f, UploadFile)]
        if not uploads:
            return _error(422, "no file uploaded: send one or more files in the field `files`", "files")
        name = str(form.get("name") or "").strip() or uuid.uuid4().hex[:12]
        if not _NAME.match(name):
            return _error(422, f"`name` may hold letters, digits, '-' and '_' (at most 64); got {name!r}", "name")
        target = data_dir / f"{name}.gpkg"
        if target.exists() and not _flag(form.get("replace", "")):
            return _error(409, f"a dataset named `{name}` exists; choose another name or send replace=true", "name")
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
            )
            _, report = await run_in_threadpool(
                import_to_file, [str(p) for p in paths], target, options=options, lang=settings.lang
            )
        except DangjianError as exc:
            return _error(status_for(exc), exc.message.replace(str(work) + "/", ""), exc.field)
        body = report.as_dict()
        body["output"] = target.name
        return JSONResponse(
            status_code=201,
            content={"id": name, "layers": body["layers"], "report": body, "links": {"self": f"/datasets/{name}"}},
        )
    finally:
        form_close = getattr(form, "close", None)
        if form_close is not None:
            await form_close()
        shutil.rmtree(work, ignore_errors=True)


@router.get("/datasets", summary="Datasets imported through the service")
def list_datasets(settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, Any]:
    """Names and sizes (bytes) of the datasets in the data directory."""
    data_dir = Path(settings.data_dir)
    items = []
    if data_dir.is_dir():
        for f in sorted(data_dir.glob("*.gpkg")):
            if f.name.startswith(".") or f.name.endswith(".built.gpkg"):
                continue
            items.append({"id": f.stem, "bytes": f.stat().st_size, "links": {"self": f"/datasets/{f.stem}"}})
    return {"datasets": items}


@router.get("/datasets/{dataset_id}", summary="The import report of a dataset")
def get_dataset(dataset_id: str, settings: Annotated[Settings, Depends(get_settings)]) -> JSONResponse:
    """The validation report saved when the dataset was imported (404 if there is none)."""
    try:
        path = _dataset_path(settings, dataset_id)
    except NotFoundError as exc:
        return _error(404, exc.message, exc.field)
    json_path, _ = report_paths(path)
    if not path.exists():
        return _error(404, f"no dataset `{dataset_id}`", "dataset_id")
    report = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else None
    return JSONResponse({"id": dataset_id, "bytes": path.stat().st_size, "report": report})
