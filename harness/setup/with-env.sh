#!/usr/bin/env bash
# Makes a fresh machine ready for cachebench, then runs "$@" with the right PATH.
# Shell (not TypeScript) on purpose: it must run before Node 24 and node_modules exist.
# Everything built or downloaded is cached outside the checkout, keyed by version,
# so a second run installs nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CACHEBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cachebench}"
NODE_MAJOR_WANTED=24
TOXIPROXY_VERSION="v2.12.0"
mkdir -p "$CACHE"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

# --- Node >= 22.22: system Node when new enough, else Node 24 from the npm registry.
node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=22)?0:1)'
}
if ! node_ok; then
  NODE_DIR="$CACHE/node-$NODE_MAJOR_WANTED"
  if [ ! -x "$NODE_DIR/node_modules/.bin/node" ]; then
    command -v npm >/dev/null 2>&1 || die "npm is missing; install Node.js and npm first"
    log "system Node $(node --version 2>/dev/null || echo none) is older than 22.22; installing node@$NODE_MAJOR_WANTED from npm into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && [ -f package.json ] || echo '{"private":true}' > "$NODE_DIR/package.json")
    npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "node@$NODE_MAJOR_WANTED" >&2
  fi
  export PATH="$NODE_DIR/node_modules/.bin:$PATH"
  node_ok || die "node@$NODE_MAJOR_WANTED from npm did not start ($(node --version 2>&1))"
fi

# --- npm dependencies: reinstall only when the lock file changed since the last install.
stamp="$ROOT/node_modules/.cachebench-installed"
needs_install() { [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ] || [ "$ROOT/package.json" -nt "$stamp" ]; }
# Several commands may start at once on a fresh clone (tests, a bench): one installs, the others
# wait for it instead of wiping node_modules under each other.
exec 9>"$CACHE/npm-install.lock"
flock 9
if needs_install; then
  log "installing npm dependencies"
  if [ -f "$ROOT/package-lock.json" ]; then
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  else
    (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error >&2)
  fi
  mkdir -p "$ROOT/node_modules" && touch "$stamp"
fi
# The example service (examples/fastify-users) has its own package.json and lock: same rule.
ex="$ROOT/examples/fastify-users"
ex_stamp="$ex/node_modules/.cachebench-installed"
if [ -f "$ex/package-lock.json" ] && { [ ! -f "$ex_stamp" ] || [ "$ex/package-lock.json" -nt "$ex_stamp" ]; }; then
  log "installing the example service's npm dependencies"
  (cd "$ex" && npm ci --no-audit --no-fund --loglevel=error >&2)
  touch "$ex_stamp"
fi
flock -u 9
export PATH="$ROOT/node_modules/.bin:$PATH"

# --- Debian packages: redis-server, PostgreSQL (with contrib for pg_stat_statements).
apt_updated=0
apt_install() {
  if ! is_root; then die "missing $*: run 'sudo apt-get update && sudo apt-get install -y $*'"; fi
  if [ "$apt_updated" = 0 ]; then log "apt-get update"; apt-get update -qq >&2; apt_updated=1; fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
pg_bindir() { command -v pg_config >/dev/null 2>&1 && pg_config --bindir; }
if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/initdb" ] || ! ls /usr/share/postgresql/*/extension/pg_stat_statements.control >/dev/null 2>&1; then
  apt_install postgresql postgresql-contrib
fi

# --- Toxiproxy: TOXIPROXY_BIN, else PATH, else the pinned release built with go install.
if [ -z "${TOXIPROXY_BIN:-}" ]; then
  if command -v toxiproxy-server >/dev/null 2>&1; then
    TOXIPROXY_BIN="$(command -v toxiproxy-server)"
  else
    TP_DIR="$CACHE/toxiproxy-$TOXIPROXY_VERSION"
    TOXIPROXY_BIN="$TP_DIR/toxiproxy-server"
    if [ ! -x "$TOXIPROXY_BIN" ]; then
      command -v go >/dev/null 2>&1 || die "toxiproxy-server is missing and Go is not installed: install Go, or set TOXIPROXY_BIN"
      log "building toxiproxy-server $TOXIPROXY_VERSION with go install (once; cached in $TP_DIR)"
      tmp="$(mktemp -d)"
      GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" >&2 \
        || die "go install github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION failed"
      mkdir -p "$TP_DIR" && mv "$tmp/server" "$TOXIPROXY_BIN" && rm -rf "$tmp"
    fi
  fi
fi
export TOXIPROXY_BIN

# --- actionlint (MIT): only to check the GitHub Actions example in docs/ci; optional.
ACTIONLINT_VERSION="v1.7.12"
AL_DIR="$CACHE/actionlint-$ACTIONLINT_VERSION"
if [ ! -x "$AL_DIR/actionlint" ] && command -v go >/dev/null 2>&1; then
  log "building actionlint $ACTIONLINT_VERSION (once; cached in $AL_DIR)"
  GOBIN="$AL_DIR" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >&2 \
    || log "actionlint could not be built; the workflow example check will be skipped"
fi
[ -x "$AL_DIR/actionlint" ] && export ACTIONLINT_BIN="$AL_DIR/actionlint"
export CACHEBENCH_CACHE="$CACHE"

cd "$ROOT"
exec "$@"
