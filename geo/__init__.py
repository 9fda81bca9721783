"""Pure geometry and geodesy for dangjian-map.

No web framework and no files beyond the frames it is handed: CRS choice,
Chinese web-map coordinates, validation and repair, the walking network and
tiling maths.  Everything above (``layers``, ``api``) imports from here.
"""
