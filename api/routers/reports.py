"""``/reports/gaps`` (the gap report) and ``/reports/orgs|alliance|needs`` of the served dataset as JSON, CSV, XLSX or HTML.

Grouped by subdistrict, community, neighbourhood unit or governance grid;
Chinese by default, English with ``lang=en``; for the coverage as built or
another ``minutes`` / ``method`` (the same variants the map and features
serve).  Responses carry an ETag from the dataset version and the query.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.http import body_response, etag_for, etag_matches, not_modified
from api.ratelimit import rate_limited
from api.state.deps import CoverageDep, SettingsDep, StateDep
from layers.reports.formats import ReportFormat
from layers.reports.kinds import render_gap_report, render_report

router = APIRouter(prefix="/reports", tags=["reports"])

ByQuery = Annotated[
    Literal["subdistrict", "community", "unit", "grid"],
    Query(description="Rows of the report: `subdistrict`, `community`, `unit` (neighbourhood unit) or `grid`"),
]
FormatQuery = Annotated[
    Literal["json", "csv", "xlsx", "html"],
    Query(description="`json`, `csv` (UTF-8 with BOM), `xlsx` (Excel) or `html` (one self-contained page with a map)"),
]
LangQuery = Annotated[Literal["zh", "en"] | None, Query(description="Language of headings (default: the service's)")]
TableQuery = Annotated[
    Literal["groups", "uncovered", "totals"],
    Query(description="CSV only: the grouping with the district total last, the uncovered compounds, or the totals"),
]


#: What a report route answers: one body in the format asked for.
REPORT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "content": {
            "application/json": {},
            "text/csv": {},
            "text/html": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        }
    }
}


def content_disposition(filename: str, *, inline: bool) -> str:
    """A ``Content-Disposition`` value with an ASCII name and its UTF-8 form."""
    kind = "inline" if inline else "attachment"
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@router.get(
    "/gaps",
    summary="Gap report: compounds and households no centre reaches",
    responses=REPORT_RESPONSES,
    dependencies=[Depends(rate_limited("reports"))],
)
def gaps(
    request: Request,
    state: StateDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    by: ByQuery = "community",
    format: FormatQuery = "json",  # noqa: A002 - the documented query parameter name
    lang: LangQuery = None,
    table: TableQuery = "groups",
) -> Response:
    """Totals, one row per group (counts and shares by compounds and by households, compounds
    without a party organisation, centres per level) and the uncovered compounds, largest first.

    Every format shows the same integers, equal to the sums over the compounds layer.
    """
    language = lang or settings.lang
    ds, key = state.variant(coverage.minutes, coverage.method, coverage.scenario)
    etag = etag_for("gaps", state.version, key, by, format, language, table if format == "csv" else "")
    if etag_matches(request, etag):
        return not_modified(etag, "no-cache")
    rendered = render_gap_report(ds, by=by, fmt=format, lang=language, table=table)
    headers = {"Content-Disposition": content_disposition(rendered.filename, inline=format in ("json", "html"))}
    return body_response(
        request, rendered.content, media_type=rendered.media_type, etag=etag, cache_control="no-cache", headers=headers
    )


KindPath = Annotated[
    Literal["orgs", "alliance", "needs"],
    Path(description="`orgs` (party organisation coverage), `alliance` (1+N+X rosters per unit) or `needs` (needs against services)"),
]
ListingTableQuery = Annotated[
    str | None,
    Query(description="CSV only: orgs `by_community`/`by_type`/`roster`, alliance `units`, needs `by_category`/`by_community`/`compounds`"),
]


@router.get(
    "/{kind}",
    summary="Party organisation, alliance or needs report",
    responses=REPORT_RESPONSES,
    dependencies=[Depends(rate_limited("reports"))],
)
def listing(
    request: Request,
    kind: KindPath,
    state: StateDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    format: FormatQuery = "json",  # noqa: A002 - the documented query parameter name
    lang: LangQuery = None,
    table: ListingTableQuery = None,
) -> Response:
    """Headline figures and tables of one kind; the CSV holds one table (the first by default)."""
    language = lang or settings.lang
    ds, key = state.variant(coverage.minutes, coverage.method, coverage.scenario)
    etag = etag_for(kind, state.version, key, format, language, table or "" if format == "csv" else "")
    if etag_matches(request, etag):
        return not_modified(etag, "no-cache")
    rendered = render_report(ds, kind, fmt=format, lang=language, table=table)
    headers = {"Content-Disposition": content_disposition(rendered.filename, inline=format in ("json", "html"))}
    return body_response(
        request, rendered.content, media_type=rendered.media_type, etag=etag, cache_control="no-cache", headers=headers
    )


__all__ = ["ReportFormat", "content_disposition", "router"]
