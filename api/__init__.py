"""The HTTP service and the command line of dangjian-map (the top layer: imports ``layers`` and ``geo``)."""
