"""System tests: real servers killed mid-write, schema fuzzing, browsers, several processes on one store.

Everything here is marked ``slow`` (``tests/conftest.py``); ``pytest -m "not slow"`` skips it.
"""
