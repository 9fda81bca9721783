"""How an import reads its sources: the options of ``dangjian import`` and of an upload, checked up front.

:class:`OSMOptions` says how OpenStreetMap features become layers (m² per
household); ``Progress`` is the callback every step reports to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Called with a short description as each source or step starts.
Progress = Callable[[str], None]


def nothing(_: str) -> None:
    """A :data:`Progress` that reports nowhere."""
    return None


@dataclass(frozen=True)
class OSMOptions:
    """How OSM features become layers (m², storeys).

    Attributes
    ----------
    floor_area_per_household_m2
        Gross residential floor area per household (m²); China's urban
        average is roughly 90-110 m².
    floor_area_ratio
        Floor area per site area (容积率) assumed for compounds with no
        mapped buildings.
    min_households
        Smallest estimate given to a compound (households).
    """

    floor_area_per_household_m2: float = 100.0
    floor_area_ratio: float = 1.5
    min_households: int = 1


#: The household estimation used unless an import says otherwise.
DEFAULT_OSM = OSMOptions()
