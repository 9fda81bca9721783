"""FastAPI routers, one module per surface (features, maps, tiles, reports, planning, datasets)."""
