#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole suite.
# Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh test
bash scripts/install-tools.sh
echo "== ruff"
.venv/bin/ruff check src tests examples bench
.venv/bin/ruff format --check src
echo "== mypy --strict"
.venv/bin/mypy src
echo "== pytest"
.venv/bin/python -m pytest "$@"
