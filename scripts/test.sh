#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it: lint, types, and every test.
# Idempotent: a second run reuses the venv, node_modules and installed packages.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
need_apt() {  # need_apt COMMAND PACKAGE: install PACKAGE from Debian when COMMAND is missing
  if ! command -v "$1" >/dev/null 2>&1; then
    if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
}

log "system packages (redis-server, openssl, chromium, node, nginx, caddy)"
need_apt redis-server redis-server
need_apt openssl openssl  # the TLS Redis tests make their certificates with it
need_apt chromium chromium
need_apt node nodejs
need_apt npm npm
# the proxy tests start their own nginx and Caddy with the recipes of docs/proxy.md (never the system services);
# Debian puts nginx in /usr/sbin, which a non-root PATH may lack
[ -x /usr/sbin/nginx ] || need_apt nginx nginx
need_apt caddy caddy

log "python environment"
[ -x .venv/bin/python ] || python3 -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip
pip install -e '.[dev]'
.venv/bin/python -c "import pusherpy, aiohttp, pusher, nacl, redis, asyncpg, aiomysql, hypothesis, jwt, openai, playwright"

log "npm packages for the real-client tests"
for dir in tests/compat examples/chat/frontend; do
  if [ -f "$dir/package-lock.json" ]; then
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
done
if [ -f examples/chat/frontend/package.json ]; then
  npm run --prefix examples/chat/frontend build --silent
fi

log "lint and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check pusherpy tests
.venv/bin/mypy pusherpy

log "tests"
# asyncio's debug mode is on for ANY non-empty PYTHONASYNCIODEBUG ("0" included): the suite, and the servers it
# starts, run as users run them unless the caller asks for debug mode itself.
exec .venv/bin/python -m pytest "$@"
