#!/usr/bin/env bash
# Builds the cachebench images locally, with no image registry:
#   cachebench/debian-base:bookworm  Debian root filesystem from debootstrap + redis + PostgreSQL 15
#   cachebench/redis:7               Debian's redis-server (BSD)
#   cachebench/postgres:15           PostgreSQL 15 with pg_stat_statements available
#   cachebench/toxiproxy:2.12.0      the toxiproxy-server built by with-env.sh (+ toxiproxy-cli)
#   cachebench/node:24               Node 24 runtime for the compose target (repo is mounted)
#
# Each image carries a label with a hash of its inputs; an image whose label matches is kept,
# so a second run builds nothing. The root filesystem tarball is cached under $CACHE/docker,
# keyed by BASE_KEY, so even a fresh engine skips debootstrap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CACHEBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cachebench}"
DOCKER_CACHE="$CACHE/docker"
SUITE=bookworm
# Packages in the base image. Bump BASE_REV to force a new root filesystem.
BASE_PACKAGES="redis-server redis-tools postgresql-15 postgresql-client-15"
BASE_REV=1
BASE_KEY="$SUITE-r$BASE_REV-$(printf '%s' "$BASE_PACKAGES" | sha256sum | cut -c1-8)"
BASE_TAG="cachebench/debian-base:$SUITE"
TOXIPROXY_VERSION="v2.12.0"

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }

image_label() {
  docker image inspect -f "{{ index .Config.Labels \"cachebench.inputs\" }}" "$1" 2>/dev/null || true
}

# The Debian mirror the machine itself uses (deb822 or one-line sources), else deb.debian.org.
debian_mirror() {
  local m
  m="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | grep -m1 '/debian/\?$' || true)"
  [ -n "$m" ] || m="$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -v security | grep -m1 '/debian/\?$' || true)"
  printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

build_rootfs_tar() {
  local tar="$1" dir
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing: apt-get install -y debootstrap"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  local mirror
  mirror="$(debian_mirror)"
  dir="$(mktemp -d "$DOCKER_CACHE/rootfs.XXXXXX")"
  # shellcheck disable=SC2064
  trap "umount '$dir/proc' 2>/dev/null || true; rm -rf '$dir'" EXIT
  log "debootstrap --variant=minbase $SUITE from $mirror (once; cached as $tar)"
  local t=$SECONDS
  debootstrap --variant=minbase "$SUITE" "$dir" "$mirror" >"$DOCKER_CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$DOCKER_CACHE/debootstrap.log" >&2; die "debootstrap failed; see $DOCKER_CACHE/debootstrap.log"; }
  log "debootstrap done in $((SECONDS - t)) s; installing $BASE_PACKAGES"
  # Maintainer scripts must not start services inside the chroot, nor create a default cluster
  # (the postgres image initialises its own data directory at container start).
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod +x "$dir/usr/sbin/policy-rc.d"
  mkdir -p "$dir/etc/postgresql-common/createcluster.d"
  echo 'create_main_cluster = false' >"$dir/etc/postgresql-common/createcluster.d/cachebench.conf"
  mount -t proc proc "$dir/proc"
  t=$SECONDS
  chroot "$dir" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $BASE_PACKAGES && apt-get clean" \
    >>"$DOCKER_CACHE/debootstrap.log" 2>&1 \
    || { umount "$dir/proc"; tail -20 "$DOCKER_CACHE/debootstrap.log" >&2; die "package install in the chroot failed; see $DOCKER_CACHE/debootstrap.log"; }
  umount "$dir/proc"
  log "packages installed in $((SECONDS - t)) s"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/tmp/*
  tar --numeric-owner -C "$dir" -cf "$tar.partial" .
  mv "$tar.partial" "$tar"
  rm -rf "$dir"
  trap - EXIT
}

ensure_base() {
  local want="$BASE_KEY"
  if [ "$(image_label "$BASE_TAG")" = "$want" ]; then
    log "$BASE_TAG up to date ($want)"
    return
  fi
  mkdir -p "$DOCKER_CACHE"
  local tar="$DOCKER_CACHE/debian-base-$BASE_KEY.tar"
  [ -f "$tar" ] || build_rootfs_tar "$tar"
  log "docker import $tar as $BASE_TAG"
  docker import --change "LABEL cachebench.inputs=$want" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' "$tar" "$BASE_TAG" >/dev/null
}

# build_image <tag> <context dir>: rebuild only when the context or the base image changed.
build_image() {
  local tag="$1" ctx="$2" inputs
  inputs="$( (docker image inspect -f '{{.Id}}' "$BASE_TAG"; cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
  if [ "$(image_label "$tag")" = "$inputs" ]; then
    log "$tag up to date"
    return
  fi
  log "docker build $tag"
  local t=$SECONDS
  # The legacy builder is enough here (no multi-stage, no cache mounts) and needs no buildx.
  DOCKER_BUILDKIT=0 docker build -q --label "cachebench.inputs=$inputs" -t "$tag" "$ctx" >/dev/null 2>"$DOCKER_CACHE/build.err" \
    || { cat "$DOCKER_CACHE/build.err" >&2; die "docker build $tag failed"; }
  log "$tag built in $((SECONDS - t)) s"
}

# Copy a directory of Dockerfile + files into a temp context, adding binaries from the host.
make_context() {
  local src="$1" ctx
  ctx="$(mktemp -d "$DOCKER_CACHE/ctx.XXXXXX")"
  cp -a "$src/." "$ctx/"
  printf '%s\n' "$ctx"
}

find_node() {
  local n
  for n in "${CACHEBENCH_NODE_BIN:-}" "$CACHE/node-24/node_modules/node/bin/node" "$(command -v node || true)"; do
    [ -n "$n" ] && [ -x "$n" ] || continue
    if "$n" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=22)?0:1)' 2>/dev/null; then
      readlink -f "$n"
      return
    fi
  done
  return 1
}

main() {
  docker info >/dev/null 2>&1 || die "no Docker engine answers; run harness/setup/docker.sh first"
  mkdir -p "$DOCKER_CACHE"
  local t0=$SECONDS ctx
  ensure_base

  build_image cachebench/redis:7 "$ROOT/docker/redis"
  build_image cachebench/postgres:15 "$ROOT/docker/postgres"

  # Toxiproxy: the pinned server with-env.sh built, plus the CLI for healthchecks.
  local tp_dir="$CACHE/toxiproxy-$TOXIPROXY_VERSION" tp_bin="${TOXIPROXY_BIN:-}"
  [ -n "$tp_bin" ] || tp_bin="$tp_dir/toxiproxy-server"
  [ -x "$tp_bin" ] || die "toxiproxy-server not found at $tp_bin: run 'bash harness/setup/with-env.sh true' first, or set TOXIPROXY_BIN"
  local tp_cli="$tp_dir/toxiproxy-cli"
  if [ ! -x "$tp_cli" ]; then
    command -v go >/dev/null 2>&1 || die "toxiproxy-cli missing and Go not installed"
    log "building toxiproxy-cli $TOXIPROXY_VERSION (once; cached in $tp_dir)"
    local tmp
    tmp="$(mktemp -d)"
    GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION" >&2
    mkdir -p "$tp_dir" && mv "$tmp/cli" "$tp_cli" && rm -rf "$tmp"
  fi
  ctx="$(make_context "$ROOT/docker/toxiproxy")"
  cp "$tp_bin" "$ctx/toxiproxy"
  cp "$tp_cli" "$ctx/toxiproxy-cli"
  build_image "cachebench/toxiproxy:${TOXIPROXY_VERSION#v}" "$ctx"
  rm -rf "$ctx"

  local node_bin
  if node_bin="$(find_node)"; then
    ctx="$(make_context "$ROOT/docker/node")"
    cp "$node_bin" "$ctx/node"
    build_image cachebench/node:24 "$ctx"
    rm -rf "$ctx"
  else
    log "no Node >= 22.22 found; skipping cachebench/node:24 (the compose target needs it)"
  fi
  log "images ready in $((SECONDS - t0)) s"
  log "use them: --infra containers picks them when the official images are absent; for docker-compose:"
  log "  export CACHEBENCH_REDIS_IMAGE=cachebench/redis:7 CACHEBENCH_POSTGRES_IMAGE=cachebench/postgres:15 CACHEBENCH_TOXIPROXY_IMAGE=cachebench/toxiproxy:${TOXIPROXY_VERSION#v} CACHEBENCH_NODE_IMAGE=cachebench/node:24"
}

main "$@"
