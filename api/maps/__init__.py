"""The service's map pages: the 2D coverage map (folium/Leaflet) and the 3D party-building map (MapLibre GL JS).

Modules, one concern each: :mod:`~api.maps.options` (what a page shows, basemaps),
:mod:`~api.maps.assets` (shipped files, JSON inside ``<script>``),
:mod:`~api.maps.security` (CSP, nonces, iframe parents), :mod:`~api.maps.focus`
(the area a page opens on), :mod:`~api.maps.panels` (title card, legend and the
words the scripts need) and the pages themselves, :mod:`~api.maps.coverage_page`.
"""
