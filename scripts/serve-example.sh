#!/usr/bin/env bash
# Install mcpfleet into .venv and serve examples/hello.py on http://127.0.0.1:3000/mcp
# (state in memory: no Redis needed). PORT and HOST are honoured.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec .venv/bin/mcpfleet serve examples.hello:app "$@"
