"""A redis-server of the tests' own, in a temporary folder that goes away with it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.fleet.processes import RedisServer as _RedisServer


class RedisServer(_RedisServer):
    """``tests.fleet.processes.RedisServer`` with a folder of its own, removed by ``cleanup``."""

    def __init__(self, *, persistent: bool = False) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="mcpfleet-redis-")), persistent=persistent)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
