"""Map tiles of a built dataset: styled PNG and Mapbox Vector Tiles for the service, and static tile packages.

Layout, one concern per module, imports pointing down the list:

- :mod:`~layers.tiles.style`: the palette and the style of every layer (the web map reads it as JSON) and the
  per-feature paint and draw order the PNG tiles use.
- :mod:`~layers.tiles.raster`: drawing one PNG tile with Pillow (supersampled, premultiplied).
- :mod:`~layers.tiles.mvt`: the attributes each layer carries into vector tiles and encoding one MVT.
- :mod:`~layers.tiles.source`: :class:`~layers.tiles.source.TileSource`, a layer prepared once (Web Mercator,
  index, paint, attributes) that renders its PNG and MVT tiles.
- :mod:`~layers.tiles.containers`: the MBTiles 1.3 and PMTiles v3 files and their metadata.
- :mod:`~layers.tiles.package`: a static tile package of a dataset (the service's tiles, stacked or concatenated).
"""
