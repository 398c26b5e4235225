"""The servers the benchmark compares, each runnable as ``python -m bench.apps.NAME``.

Every one serves the same tools at ``/mcp`` (``echo(text)``; all but the floor also
``progress(steps)``, which sends that many progress notifications before its "done"),
and a ``/healthz`` route for readiness. The Python apps run under uvicorn with uvloop
and httptools (``_serve``), each also has ``asgi_app(argv)``, the same app without a
server, which ``python -m bench.profile`` drives in-process. ``fastmcp_echo`` (FastMCP
4.x), ``sdk_echo`` (mcp 2.3.0) and ``ts_echo.mjs`` (the TypeScript SDK 1.x, node:http)
run in folders of their own under ``.bench-peers/`` (``bench.setup_peers``).
"""
