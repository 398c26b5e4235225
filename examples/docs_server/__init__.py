"""The document server of the AWS guide: documents in an S3 bucket, reached with the task role.

    DOCUMENTS_BUCKET=my-docs mcpfleet serve examples.docs_server:app

Each tool declares the AWS actions it needs, so ``mcpfleet deploy render`` grants the
task role exactly those. See ``examples/docs_server/server.py``.
"""

from examples.docs_server.server import app

__all__ = ["app"]
