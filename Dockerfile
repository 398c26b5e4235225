# The document server example (examples/docs_server) as a container image.
#
#   docker build -t mcp-docs .
#   docker run --rm -p 3000:3000 -e DOCUMENTS_BUCKET=my-docs mcp-docs
#
# For an app of your own, COPY its package instead and name it in CMD.
#
# The same image runs on ECS (ENTRYPOINT below: `mcpfleet serve`) and on AWS Lambda. On
# Lambda the function's ImageConfig replaces the entry point and empties the command:
#   EntryPoint: ["python", "-m", "mcpfleet.aws_lambda"], Command: []
# with MCPFLEET_APP=module:app naming the app, and LAMBDA_INVOKE_MODE=RESPONSE_STREAM
# (the default: the entry point runs the Lambda Runtime API loop itself, so SSE streams)
# or BUFFERED (it hands over to awslambdaric, the runtime interface client, with the
# handler mcpfleet.aws_lambda.handler). Nothing listens on a port there.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# mcpfleet with the deploy extra (boto3, for the app's S3 calls and for reading
# NAME_SECRET_ARN secrets at start) and the lambda extra (awslambdaric, the Lambda
# runtime interface client, for BUFFERED functions). Installed from a copy that is
# removed afterwards.
COPY pyproject.toml README.md /tmp/build/
COPY src /tmp/build/src
RUN pip install "/tmp/build[deploy,lambda]" && rm -rf /tmp/build

WORKDIR /app
COPY examples/__init__.py examples/__init__.py
COPY examples/docs_server examples/docs_server

# Run as an unprivileged user with a fixed numeric id (runAsNonRoot checks need a number).
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin mcp
USER 10001:10001

# Listen on every interface inside the container; the port is the one ECS maps.
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000

# Liveness only (readiness, /readyz, is the load balancer's). The slim image has no
# curl, so Python asks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4)"]

# Exec form: mcpfleet is PID 1 and gets ECS's SIGTERM itself, so it drains before exiting
# (a shell form would put /bin/sh in between, which does not pass the signal on).
STOPSIGNAL SIGTERM
ENTRYPOINT ["mcpfleet", "serve"]
CMD ["examples.docs_server:app"]
