"""Importing the files planners hold into a dataset, one concern per module.

Reading (each file becomes :class:`~layers.importing.raw.RawLayer` s, nothing validated):

- :mod:`~layers.importing.raw`: the raw layer, file formats by ending, header keys, text encodings.
- :mod:`~layers.importing.readers`: GeoPackage, GeoJSON, Shapefile, KML/KMZ.
- :mod:`~layers.importing.tables`: CSV/XLSX tables with coordinate columns (经度/纬度, X/Y, WKT).
- :mod:`~layers.importing.archives`: zips, unpacked within limits.
- :mod:`~layers.importing.osm_files`, :mod:`~layers.importing.osm`,
  :mod:`~layers.importing.households`: OpenStreetMap files, their tags mapped
  onto the layers, households estimated from buildings.
- :mod:`~layers.importing.options`: the options of an import.
"""
