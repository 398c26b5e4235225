"""The servers the benchmark compares, each runnable as ``python -m bench.apps.NAME``.

Every one serves the same ``echo`` tool at ``/mcp`` on the 2026-07-28 wire, and a
``/healthz`` route for readiness, under uvicorn with uvloop and httptools.
"""
