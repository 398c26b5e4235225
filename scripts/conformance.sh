#!/usr/bin/env bash
# Run the official conformance suite against examples/conformance_server.py.
# Usage: scripts/conformance.sh [--spec-version 2026-07-28] [extra conformance args]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
exec "${PYTHON:-python}" "$here/scripts/run_conformance.py" "$@"
