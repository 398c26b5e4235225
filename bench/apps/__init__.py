"""The servers the benchmark compares, each runnable as ``python -m bench.apps.NAME``.

Every one serves the same ``echo`` tool at ``/mcp`` on the 2026-07-28 wire, and a
``/healthz`` route for readiness, under uvicorn with uvloop and httptools.
Each also has ``asgi_app(argv)``, the same app without a server, which
``python -m bench.profile`` drives in-process.
"""
