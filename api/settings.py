"""Settings: one pydantic-settings class, environment variables with the ``DANGJIAN_`` prefix.

Values come from, in order of precedence: arguments, ``DANGJIAN_*``
environment variables, a TOML file named by ``DANGJIAN_CONFIG``, defaults.
Core functions never read this object; the CLI and the app pass plain values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from layers.build import BuildParams
from layers.store import Store, is_database_url, open_store

#: The bundled demo district.
DEMO_DATASET = Path(__file__).resolve().parents[1] / "layers" / "demo" / "kangbashi_demo.gpkg"
#: Where uploaded datasets and the working copy of the demo district go unless ``DANGJIAN_DATA_DIR`` says otherwise
#: (``$XDG_DATA_HOME/dangjian-map``, by default ``~/.local/share/dangjian-map``).
DATA_DIR = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "dangjian-map"


class Settings(BaseSettings):
    """Deployment settings of dangjian-map.

    Every field can be set as ``DANGJIAN_<FIELD>`` (e.g. ``DANGJIAN_MINUTES=10``,
    ``DANGJIAN_LEVEL_MINUTES='{"compound": 5}'``) or in the TOML file named by
    ``DANGJIAN_CONFIG``.
    """

    model_config = SettingsConfigDict(env_prefix="DANGJIAN_", extra="ignore")

    dataset: Path = Field(DEMO_DATASET, description="Dataset to serve (GeoPackage or folder)")
    minutes: float = Field(15.0, gt=0, le=120, description="Walking time of the service circle (min)")
    speed_kmh: float = Field(4.0, gt=0, le=20, description="Walking speed (km/h)")
    level_minutes: dict[str, float] = Field(default_factory=dict, description="Minutes per centre level")
    method: Literal["circle", "network"] = Field("network", description="Coverage method")
    lang: Literal["zh", "en"] = Field("zh", description="Language of maps, reports and messages")
    basemap: Literal["none", "osm", "tianditu", "amap"] = Field("none", description="Basemap of the map pages")
    tianditu_key: str = Field("", description="Tianditu (天地图) key, needed for basemap=tianditu")
    public_url: str = Field("", description="Public base URL for absolute links behind a proxy")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS")
    frame_ancestors: list[str] = Field(default_factory=lambda: ["'self'"], description="Allowed iframe parents")
    coordinate_decimals: int = Field(
        6, ge=1, le=12, description="Decimals of degrees in GeoJSON answers (6: about 0.1 m; metres get three fewer)"
    )
    tile_cache_size: int = Field(4096, ge=0, description="Rendered tiles kept in memory")
    tile_cache_mb: float = Field(256.0, ge=0, description="Memory budget of the rendered-tile cache (MB)")
    tile_max_age: int = Field(300, ge=0, description="Cache-Control max-age of tiles and TileJSON (s)")
    variant_cache_size: int = Field(12, ge=1, description="Coverage variants (other minutes/method) kept in memory")
    variant_minutes: tuple[float, ...] = Field(
        (5.0, 10.0, 15.0, 20.0, 30.0),
        description="Walking minutes a request may ask for besides the dataset's own (`?minutes=`); others get 422",
    )
    reload_check_s: float = Field(2.0, ge=0, description="How often the served dataset file is checked for changes (s)")
    grid_parent: Literal["community", "unit"] = Field("community", description="Partition communities or units into grids")
    min_households: int = Field(300, gt=0)
    max_households: int = Field(500, gt=0)
    cell_size_m: float = Field(250.0, gt=0)
    h3_resolution: int = Field(9, ge=0, le=15)
    max_snap_m: float = Field(300.0, gt=0)
    district_code: str = Field(
        "", pattern=r"^(\d{6})?$",
        description="The district's 6-digit administrative code heading every grid code (CJ/T 349 style), e.g. 150603",
    )
    data_dir: Path = Field(
        DATA_DIR, description="Folder of the service's datasets: uploads (POST /datasets) and the demo district's working copy"
    )
    upload_max_mb: float = Field(200.0, gt=0, description="Largest upload accepted by POST /datasets (MB)")
    upload_max_unpacked_mb: float = Field(
        2048.0, gt=0, description="Most an upload's zips and workbooks may unpack, all together (MB)"
    )
    upload_max_members: int = Field(10_000, ge=1, description="Most archive members an upload's zips and workbooks may hold, all together")
    upload_max_rows: int = Field(500_000, ge=1, description="Most rows a sheet of an uploaded workbook may hold (counted before parsing)")
    edit_max_vertices: int = Field(50_000, ge=4, description="Most vertices one edited feature may have")
    json_body_max_kb: float = Field(
        2048.0, gt=0, description="Largest JSON body of an edit, scenario or suggestion request (KB)"
    )
    read_requires_token: bool = Field(
        False, description="Reading maps, tiles, features and reports needs a `viewer` token (default: public)"
    )
    rate_limit_per_minute: float = Field(
        30.0, ge=0, description="Requests a minute per token and per client address to expensive endpoints (0: no limit)"
    )
    auth_failures_per_minute: float = Field(
        10.0, ge=0, description="Wrong tokens a client (and a token id) may send a minute before it gets 429 (0: no limit)"
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed "
        "(comma-separated, e.g. `10.0.0.5,10.1.0.0/16`; empty: forwarded headers are ignored and rate limits count the peer)",
    )
    rate_limit_burst: int = Field(10, ge=1, description="Requests to an expensive endpoint allowed at once before the rate applies")
    rate_limit_file: Path | None = Field(
        None,
        description="SQLite file holding the rate-limit buckets, shared by worker processes "
        "(`serve --workers N` sets one; empty: each process counts alone)",
    )
    max_edit_area_km2: float = Field(50.0, gt=0, description="Largest compound polygon an edit may store (km²)")
    max_edit_distance_km: float = Field(
        20.0, ge=0, description="How far outside the dataset's extent an edited feature may lie (km)"
    )
    database_url: str = Field(
        "",
        description="PostGIS database of the store (postgresql://user:password@host:port/db); "
        "empty: each dataset's own GeoPackage is its store",
    )
    database_schema: str = Field(
        "", description="PostGIS schema of the served dataset (default: named after the dataset file)"
    )
    log_file: Path | None = Field(
        None,
        description="File the command line appends tracebacks of internal errors to "
        "(default: $XDG_STATE_HOME/dangjian-map/dangjian.log, i.e. ~/.local/state/dangjian-map/dangjian.log)",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        """``"10.0.0.5, 10.1.0.0/16"`` (the environment's form) as a list; blanks dropped."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple)):
            return [str(v).strip() for v in value if str(v).strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        value = value.strip()
        if value and not is_database_url(value):
            msg = f"`database_url` must be a postgresql:// URL or empty; got {value.split('@')[-1]!r}"
            raise ValueError(msg)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then the TOML file of ``DANGJIAN_CONFIG``."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("DANGJIAN_CONFIG")
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    def open_store(self, dataset: str | os.PathLike[str] | None = None) -> Store:
        """The store of ``dataset`` (default: the served one): its GeoPackage, or its schema in :attr:`database_url`.

        With a database URL, a schema still empty is filled from the dataset file on first use.
        """
        return open_store(
            dataset if dataset is not None else self.dataset,
            database_url=self.database_url or None,
            name=self.database_schema or None,
        )

    def build_params(self, **overrides: object) -> BuildParams:
        """The :class:`~layers.build.BuildParams` these settings imply (overrides win)."""
        values: dict[str, object] = {
            "minutes": self.minutes,
            "speed_kmh": self.speed_kmh,
            "level_minutes": dict(self.level_minutes),
            "method": self.method,
            "grid_parent": self.grid_parent,
            "min_households": self.min_households,
            "max_households": self.max_households,
            "cell_size_m": self.cell_size_m,
            "h3_resolution": self.h3_resolution,
            "max_snap_m": self.max_snap_m,
            "district_code": self.district_code,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return BuildParams(**values)  # type: ignore[arg-type]
