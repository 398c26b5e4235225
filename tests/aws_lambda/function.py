"""The image's Lambda entry point, ``python -m mcpfleet.aws_lambda``, as a child process
taking events from the tests' Runtime API, with the environment Lambda gives it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.aws_lambda.runtime_api import RuntimeApiServer
from tests.conftest import ROOT

APP = "tests.aws_lambda.app:app"
STOP_SECONDS = 10


def lambda_environment(api: RuntimeApiServer, mode: str, extra: dict[str, str]) -> dict[str, str]:
    """What Lambda sets for a container image function, and what the render adds."""
    inherited = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **inherited,
        "PYTHONPATH": str(ROOT),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "mcp-test",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/mcp-test",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/03/[$LATEST]0123456789abcdef",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_Image",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "_HANDLER": "mcpfleet.aws_lambda.handler",
        "MCPFLEET_APP": APP,
        "LAMBDA_INVOKE_MODE": mode,
        "METRICS_INTERVAL_SECONDS": "0",
        **extra,
    }


@contextmanager
def lambda_function(
    mode: str, extra: dict[str, str] | None = None
) -> Iterator[tuple[RuntimeApiServer, subprocess.Popen[bytes]]]:
    """A Runtime API and the entry point started against it; both stopped at the end."""
    api = RuntimeApiServer().start()
    folder = Path(tempfile.mkdtemp(prefix="mcpfleet-lambda-"))
    log_path = folder / "function.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mcpfleet.aws_lambda"],
            env=lambda_environment(api, mode, extra or {}),
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield api, process
    except BaseException:
        sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
        raise
    finally:
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_SECONDS)
        api.stop()
        shutil.rmtree(folder, ignore_errors=True)
