"""``python -m mcpfleet.aws_lambda``: the image's entry point on AWS Lambda.

``LAMBDA_INVOKE_MODE`` says how the function URL invokes the function, and so how
the response leaves: ``RESPONSE_STREAM`` (the default) runs the streaming runtime
here; ``BUFFERED`` runs the runtime interface client (``awslambdaric``) in this
process, serving ``mcpfleet.aws_lambda.handler``. Any other value fails the
instance's init, as does an app that cannot start (in either mode).
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import os
import runpy
import sys

from mcpfleet.aws_lambda import HANDLER, adapter, runtime_api, streaming
from mcpfleet.aws_lambda.adapter import Adapter
from mcpfleet.errors import ConfigError
from mcpfleet.observe.logs import logging_config

BUFFERED = "BUFFERED"
RESPONSE_STREAM = "RESPONSE_STREAM"
MODES = (RESPONSE_STREAM, BUFFERED)

log = logging.getLogger("mcpfleet.aws_lambda")


def start(api: runtime_api.RuntimeApi) -> Adapter | None:
    """The app, loaded and started; ``None`` once a failure is reported to Lambda."""
    try:
        return Adapter.from_env()
    except Exception as error:  # any start failure is reported to Lambda, then we stop
        known = isinstance(error, ConfigError)
        error_type = "Runtime.ConfigError" if known else "Runtime.InitError"
        message = str(error) if known else type(error).__name__
        log.error("the app could not start: %s", message, exc_info=error)
        asyncio.run(api.init_failed(error_type, message))
        return None


def main() -> int:
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API", "")
    if not address:
        print(
            "AWS_LAMBDA_RUNTIME_API is not set: this entry point runs on AWS Lambda",
            file=sys.stderr,
        )
        return 2
    mode = (os.environ.get("LAMBDA_INVOKE_MODE") or RESPONSE_STREAM).strip().upper()
    api = runtime_api.RuntimeApi(address)
    if mode not in MODES:
        message = f"LAMBDA_INVOKE_MODE: expected one of {', '.join(MODES)}, got {mode!r}"
        print(message, file=sys.stderr)
        asyncio.run(api.init_failed("Runtime.ConfigError", message))
        return 1
    if mode == RESPONSE_STREAM:
        # JSON log lines on stdout, as on ECS (BUFFERED: the runtime interface client's).
        calls = os.environ.get("LOG_CALLS", "").lower() in ("1", "true", "yes")
        logging.config.dictConfig(logging_config(os.environ.get("LOG_LEVEL", "info"), calls=calls))
    started = start(api)  # at init, so that a failure is the init's
    if started is None:
        return 1
    if mode == RESPONSE_STREAM:
        return streaming.run(api, started)
    adapter.use(started)
    # What `python -m awslambdaric HANDLER` does, in this process: the app it serves is
    # the one started above, and nothing is imported twice.
    sys.argv = ["awslambdaric", HANDLER]
    runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
