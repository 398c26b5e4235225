"""The stdio transport: an app served to a client that launched it as a subprocess.

    from mcpfleet.stdio import run
    run(app)                      # or: mcpfleet serve --stdio module:app

Newline-delimited JSON-RPC on stdin and stdout, for both protocol generations,
through the same dispatchers as Streamable HTTP (``mcpfleet.server.modern`` and
``mcpfleet.server.legacy``): ``channel`` moves the bytes, ``endpoint`` routes the
messages of one connection, ``serve`` runs the process.
"""

from __future__ import annotations

from mcpfleet.stdio.endpoint import StdioEndpoint
from mcpfleet.stdio.serve import run, serve_stdio

__all__ = ["StdioEndpoint", "run", "serve_stdio"]
