"""Invalid parameters of the OGC API - Features routes answer 400, the way the standard asks.

OGC API - Features (Part 1, requirement ``/req/core/query-param-invalid``)
wants a bad ``limit``, ``bbox`` or other parameter value answered 400, where
FastAPI answers 422.  :class:`OGCRoute`, the route class of the features
router, turns request validation errors and :class:`~geo.errors.InvalidValueError`
of those routes into 400 with the OGC exception body
``{"code": "InvalidParameterValue", "description": ..., "parameter": ...}``
(plus the project's ``detail``/``field``), worded in ``?lang=`` (Chinese by default).
:func:`parse_bbox` reads the ``bbox`` parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from api.errors import error_body, validation_detail
from api.ogc_crs import CRS84, bbox_to_crs84
from geo.errors import InvalidValueError
from layers.i18n import text


def parse_bbox(value: str | None, *, crs: str = CRS84) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` as CRS84 degrees, or an error naming ``bbox``.

    ``crs`` is the ``bbox-crs`` the numbers are in (:func:`api.ogc_crs.bbox_to_crs84`
    brings them to CRS84 first).

    Six numbers (``minx,miny,minz,maxx,maxy,maxz``, OGC API - Features) are
    taken too; the heights are ignored, the layers having none.  ``minx > maxx``
    is a box crossing the antimeridian (the standard allows it); ``miny > maxy`` is an error.
    """
    if value is None or value == "":
        return None
    parts = value.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (4, 6) or not all(math.isfinite(v) for v in nums):
        msg = f"`bbox` must be four numbers minlon,minlat,maxlon,maxlat (or six with heights); got {value!r}"
        raise InvalidValueError(msg, field="bbox")
    box = (nums[0], nums[1], nums[2], nums[3]) if len(nums) == 4 else (nums[0], nums[1], nums[3], nums[4])
    minx, miny, maxx, maxy = bbox_to_crs84(box, crs)
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        msg = f"`bbox` must be WGS84 degrees with minlat <= maxlat (lon -180..180, lat -90..90); got {value!r}"
        raise InvalidValueError(msg, field="bbox")
    return minx, miny, maxx, maxy


def invalid_parameter(request: Request, parameter: str | None, detail: str) -> JSONResponse:
    """The 400 answer naming ``parameter``, described in the request's ``lang`` (Chinese unless ``en``)."""
    lang = "en" if request.query_params.get("lang") == "en" else "zh"
    description = text("ogc.error.invalid_parameter", lang, parameter=parameter or "?", detail=detail)
    body = {"code": "InvalidParameterValue", "description": description, "parameter": parameter}
    return JSONResponse(error_body(detail, parameter, **body), status_code=400)


class OGCRoute(APIRoute):
    """A route whose invalid parameter values answer 400 (:func:`invalid_parameter`) instead of 422.

    Only the ``/collections`` routes; the other routes of a router using it answer as before.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The default handler, with validation errors and :class:`InvalidValueError` answered 400."""
        handler = super().get_route_handler()
        if not self.path.startswith("/collections"):  # /coverage/summary and the like keep 422
            return handler

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                detail, field = validation_detail(exc)
                return invalid_parameter(request, field, detail)
            except InvalidValueError as exc:
                return invalid_parameter(request, exc.field, exc.message)

        return handle
