"""Where a dataset lives while the service runs: one :class:`Store` interface, two backends.

- :class:`~layers.store.gpkg.GeoPackageStore` (default): the dataset's own
  ``.gpkg``, SQLite in WAL mode, one transaction per write.
- :class:`~layers.store.postgis.PostGISStore`: one PostgreSQL schema per
  dataset (``DANGJIAN_DATABASE_URL=postgresql://...``), GIST indexes.

::

    store = open_store("district.gpkg")                       # or a postgresql:// URL
    with store.snapshot() as snap:                            # one consistent view
        ds = snap.export_dataset()                            # a Dataset for build/report code
        revision = snap.revision                              # for ETags and tile caches
    with store.transaction(actor="token:3fa9c2d1") as tx:     # all or nothing
        ref = tx.update_feature("centers", "S0003", properties={"status": "existing"}, expected_version=2)

The package, one concern a module:

- :mod:`~layers.store.store`: :class:`Store`, connections and sessions, the token check;
- :mod:`~layers.store.snapshot`: :class:`Snapshot`, every read;
- :mod:`~layers.store.transaction`: :class:`Transaction`, the audit log, versions, meta, documents, tokens;
  :mod:`~layers.store.layer_writes` (whole layers, whole datasets) and
  :mod:`~layers.store.feature_writes` (one feature) are its writes;
- :mod:`~layers.store.records`: what reads and writes hand back (:class:`StoredFeature`, :class:`TokenInfo` ...);
- :mod:`~layers.store.session`: the :class:`~layers.store.session.Session` a backend implements;
  :mod:`~layers.store.migrations` applies each backend's migrations;
- :mod:`~layers.store.gpkg` (with ``gpkg_session``, ``gpkg_geometry``) and
  :mod:`~layers.store.postgis` (with ``postgis_session``): the backends;
- :mod:`~layers.store.frames` (frames in and out, column kinds), :mod:`~layers.store.tokens`
  (roles, token format, hashes), :mod:`~layers.store.adopt` (what earlier versions left),
  :mod:`~layers.store.catalog` (the datasets of a PostGIS database).

The store knows datasets, layers, rows and JSON documents, never what a
scenario, a report or an import means.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from geo.errors import InvalidValueError
from layers.dataset import read_dataset
from layers.store.frames import VERSIONED_LAYERS
from layers.store.gpkg import GeoPackageStore
from layers.store.records import (
    DERIVED_REVISION,
    AuditAction,
    AuditEntry,
    FeatureRef,
    LayerInfo,
    NewToken,
    StoredFeature,
    TokenInfo,
)
from layers.store.snapshot import Snapshot
from layers.store.store import Store
from layers.store.tokens import Role, parse_role
from layers.store.transaction import Transaction

__all__ = [
    "DERIVED_REVISION",
    "VERSIONED_LAYERS",
    "AuditAction",
    "AuditEntry",
    "FeatureRef",
    "LayerInfo",
    "NewToken",
    "Role",
    "Snapshot",
    "Store",
    "StoredFeature",
    "TokenInfo",
    "Transaction",
    "is_database_url",
    "open_store",
    "parse_role",
    "schema_name_for",
]

#: Schema of a PostGIS store when neither the URL nor a dataset name gives one.
DEFAULT_SCHEMA = "dangjian"
_URL_RE = re.compile(r"^postgres(ql)?(\+psycopg)?://", re.IGNORECASE)


def is_database_url(value: object) -> bool:
    """Whether ``value`` is a ``postgresql://`` URL (rather than a path)."""
    return isinstance(value, str) and bool(_URL_RE.match(value))


def schema_name_for(name: str) -> str:
    """A PostgreSQL schema name from a dataset name: ``Kangbashi Demo.gpkg`` -> ``kangbashi_demo``."""
    stem = Path(name).stem if "." in Path(name).name else name
    schema = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_")[:63] or DEFAULT_SCHEMA
    if not schema[0].isalpha():
        schema = f"ds_{schema}"[:63]
    if schema.startswith("pg_"):
        schema = f"ds_{schema}"[:63]
    return schema


def _split_url(url: str) -> tuple[str, str | None]:
    """The URL without its ``schema``/``dataset`` query parameter, and that parameter."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = None
    rest = []
    for key, value in query:
        if key in ("schema", "dataset"):
            schema = value
        else:
            rest.append((key, value))
    scheme = "postgresql" if parts.scheme.lower().startswith("postgres") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment)), schema


def open_store(
    target: str | os.PathLike[str],
    *,
    database_url: str | None = None,
    name: str | None = None,
    seed: bool = True,
) -> Store:
    """Open (and on first use create and migrate) the store of one dataset.

    Parameters
    ----------
    target
        The dataset's ``.gpkg`` (GeoPackage store; created empty when
        missing), or a ``postgresql://user:pass@host:port/db?schema=NAME`` URL.
    database_url
        The deployment's PostGIS (``DANGJIAN_DATABASE_URL``).  When given and
        ``target`` is a path, the dataset lives in that database in the schema
        named after the file (``kangbashi_demo.gpkg`` -> ``kangbashi_demo``).
    name
        Schema name for a PostGIS store (overrides the URL's and the file's).
    seed
        PostGIS with a path ``target``: when the schema holds no layers yet and
        the file exists, import it (one transaction, actor ``system:seed``).

    Returns
    -------
    Store
        Close it with ``store.close()`` or use it in a ``with`` block.
    """
    url: str | None = None
    schema = name
    source: Path | None = None
    if is_database_url(target):
        url, from_url = _split_url(str(target))
        schema = schema or from_url or DEFAULT_SCHEMA
    elif database_url:
        if not is_database_url(database_url):
            msg = f"`database_url` must be a postgresql:// URL; got {database_url!r}"
            raise InvalidValueError(msg, field="database_url")
        url, from_url = _split_url(database_url)
        source = Path(target)
        schema = schema or from_url or schema_name_for(source.name)
    if url is None:
        return GeoPackageStore(Path(target))
    from layers.store.postgis import PostGISStore  # psycopg loads only for a PostGIS store

    store = PostGISStore(url, schema=schema_name_for(schema or DEFAULT_SCHEMA))
    if seed and source is not None and source.exists() and not _has_layers(store):
        dataset = read_dataset(source)
        with store.transaction(actor="system:seed") as tx:
            if not tx.list_layers():  # another process may have seeded it meanwhile
                tx.import_dataset(dataset)
    return store


def _has_layers(store: Store) -> bool:
    with store.snapshot() as snap:
        return bool(snap.list_layers())
