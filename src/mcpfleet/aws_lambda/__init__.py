"""mcpfleet on AWS Lambda: the same app and image as on ECS, one request per invocation.

``python -m mcpfleet.aws_lambda`` is the image's entry point on Lambda. With
``LAMBDA_INVOKE_MODE=BUFFERED`` it hands over to the runtime interface client
(``awslambdaric``) with the handler ``mcpfleet.aws_lambda.handler``; with
``RESPONSE_STREAM`` (the default) it runs the Runtime API loop itself, so that SSE
reaches the client as the app writes it (``mcpfleet.aws_lambda.streaming``).

Modules: ``events`` (event shapes in, response shapes out), ``refusals`` (what a
Lambda cannot hold open), ``adapter`` (the app on its loop), ``runtime_api`` and
``streaming`` (the RESPONSE_STREAM runtime).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

HANDLER = "mcpfleet.aws_lambda.handler"

if TYPE_CHECKING:
    from mcpfleet.aws_lambda.adapter import handler

__all__ = ["HANDLER", "handler"]


def __getattr__(name: str) -> Any:
    """``handler`` is imported when asked for (by the runtime interface client, at the
    instance's init), so that the entry point can hand over without loading the app."""
    if name == "handler":
        from mcpfleet.aws_lambda.adapter import handler

        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
