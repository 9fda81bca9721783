"""Many districts at once: a manifest of datasets built as Dask tasks, and a province roll-up.

A *manifest* (:mod:`layers.batch.manifest`) lists datasets, one per row: a
CSV with the columns ``name,path`` and optional settings, or the same in
TOML.  :func:`layers.batch.run.run_batch` builds every dataset as one task
(:func:`layers.batch.task.run_dataset`) on a ``dask.distributed`` cluster (or
in this process when no client is given):

    read -> build (units, grids, cells, circles, walking coverage) -> write
    ``OUTDIR/<name>.gpkg`` -> gap report ``OUTDIR/<name>.<format>``

and writes the province roll-up (:mod:`layers.batch.rollup`)
``OUTDIR/province.xlsx`` and ``OUTDIR/province.html`` (coverage by city and
by district).  A dataset whose input file and settings are unchanged since
its last successful run, and whose outputs are still there, is skipped; the
run record is ``OUTDIR/.dangjian_batch.json``.  A dataset that fails is
recorded with its reason and never stops the others.

A very large district (more road segments than ``split_edges``, or
``split`` set in the manifest) has its walking pass split into spatial tiles
(:mod:`geo.network.partition`) that run as further tasks on the same cluster, so no
worker builds the whole network; its coverage is identical to a single
process within the walking cut-off.

Manifest columns
----------------
``name`` (required; names the output files), ``path`` (required; GeoPackage
or folder of layers, relative to the manifest), ``city`` (roll-up group),
``split`` (``auto`` | ``yes`` | ``no`` | tile side in km) and any field of
:class:`layers.build.BuildParams`: ``minutes``, ``speed_kmh``, ``method``,
``level_minutes`` (``compound=5;community=15``), ``statuses``
(``existing;planned``), ``bands`` (``5;10``), ``max_snap_m``,
``cell_size_m``, ``h3_resolution``, ``grid_parent``, ``min_households``,
``max_households``, ``min_unit_area_m2``, ``area_buffer_m``,
``unit_classes``.  Blank cells take the run's defaults.  In TOML::

    title = "某某省"            # optional, heads the roll-up
    [defaults]                  # optional, for every dataset
    minutes = 15
    [[dataset]]
    name = "康巴什区"
    path = "kangbashi.gpkg"
    city = "鄂尔多斯市"
"""
