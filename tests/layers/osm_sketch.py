"""Hand-drawn OpenStreetMap XML for the importer's tests: nodes and ways in local metres around a spot in Kangbashi."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
from pyproj import Transformer

#: Local metres (x east, y north) of EPSG:4546 from this WGS84 spot.
ORIGIN_LONLAT = (109.78, 39.60)
_TO_GK = Transformer.from_crs(4326, 4546, always_xy=True)
_TO_WGS = Transformer.from_crs(4546, 4326, always_xy=True)
_ORIGIN = np.array(_TO_GK.transform(*ORIGIN_LONLAT))


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Local metres -> WGS84 degrees."""
    lon, lat = _TO_WGS.transform(_ORIGIN[0] + x, _ORIGIN[1] + y)
    return float(lon), float(lat)


class OSMSketch:
    """An OSM file drawn by hand: ``node``, ``line`` and ``area`` add features, ``write`` saves the XML."""

    def __init__(self) -> None:
        self._nodes: list[str] = []
        self._ways: list[str] = []
        self._next = 1

    def _id(self) -> int:
        self._next += 1
        return self._next

    @staticmethod
    def _tags(tags: dict[str, str]) -> str:
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in tags.items())

    def node(self, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        """A node at local metres, tagged or not; its id."""
        nid = self._id()
        lon, lat = lonlat(x, y)
        self._nodes.append(f' <node id="{nid}" lat="{lat:.9f}" lon="{lon:.9f}">{self._tags(tags or {})}</node>')
        return nid

    def line(self, coords: list[tuple[float, float]], tags: dict[str, str], *, closed: bool = False) -> int:
        """A way through local metres (closed: back to its first node); its id."""
        refs = [self.node(x, y) for x, y in coords]
        if closed:
            refs.append(refs[0])
        wid = self._id()
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        self._ways.append(f' <way id="{wid}">{nds}{self._tags(tags)}</way>')
        return wid

    def area(self, x0: float, y0: float, x1: float, y1: float, tags: dict[str, str]) -> int:
        """A closed rectangular way from (x0, y0) to (x1, y1) in local metres; its id."""
        return self.line([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], tags, closed=True)

    def write(self, path: Path) -> Path:
        """The XML file."""
        body = "\n".join(self._nodes + self._ways)
        path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n{body}\n</osm>\n', encoding="utf-8")
        return path
