import numpy as np
import shapely

from geo.geometry import containing_polygon, interior_points, repair_geometries, xy


def test_bow_tie_is_repaired_into_two_triangles_and_counted():
    bow = shapely.from_wkt("POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))")
    out = repair_geometries(np.array([bow, shapely.box(0, 0, 1, 1)], dtype=object), family="polygon")
    assert out.repaired.tolist() == [True, False]
    assert out.geometry[0].geom_type == "MultiPolygon"
    assert shapely.area(out.geometry[0]) == 2.0  # two triangles of area 1
    assert out.unusable.tolist() == ["", ""]


def test_unusable_rows_are_reported_with_reasons():
    geoms = np.array([None, shapely.from_wkt("POLYGON EMPTY"), shapely.Point(1, 1)], dtype=object)
    out = repair_geometries(geoms, family="polygon")
    assert out.unusable.tolist() == ["missing_geometry", "empty_geometry", "wrong_geometry_type"]
    assert all(g is None for g in out.geometry)


def test_collapsed_repair_of_a_line_layer_keeps_only_lines():
    # A self-overlapping polygon made valid may yield lines; a polygon layer keeps polygons only.
    spike = shapely.from_wkt("POLYGON((0 0, 10 0, 10 10, 0 10, 0 0, -5 0, 0 0))")
    out = repair_geometries(np.array([spike], dtype=object), family="polygon")
    assert out.geometry[0].geom_type in {"Polygon", "MultiPolygon"}
    assert shapely.area(out.geometry[0]) == 100.0


def test_interior_point_lies_inside_a_u_shape():
    u = shapely.from_wkt("POLYGON((0 0, 3 0, 3 3, 2 3, 2 1, 1 1, 1 3, 0 3, 0 0))")
    p = interior_points(np.array([u], dtype=object))[0]
    assert u.contains(p)
    assert xy(np.array([shapely.Point(1, 2)], dtype=object)).tolist() == [[1.0, 2.0]]


def test_containing_polygon_gives_each_point_its_polygon_or_minus_one():
    polys = np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)])
    pts = np.array([shapely.Point(5, 5), shapely.Point(15, 5), shapely.Point(30, 5), shapely.Point(10, 5)])
    # (10, 5) lies on the shared edge: within neither
    assert containing_polygon(pts, polys).tolist() == [0, 1, -1, -1]
    assert containing_polygon(pts[:0], polys).tolist() == []
    assert containing_polygon(pts, polys[:0]).tolist() == [-1, -1, -1, -1]
