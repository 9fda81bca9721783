"""Map layers of dangjian-map: one module per layer, plus the dataset that holds them.

Functions take GeoDataFrames (EPSG:4326 unless a docstring says otherwise)
and return new ones; metric work happens in the CRS from :mod:`geo.crs`.
"""
