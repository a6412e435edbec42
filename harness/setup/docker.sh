#!/usr/bin/env bash
# Makes a Docker engine and the local cachebench images available, without any image registry.
#
#   harness/setup/docker.sh          install docker.io (+ debootstrap, docker-compose) if missing,
#                                    start dockerd if no engine answers, build missing images
#   harness/setup/docker.sh stop     stop the dockerd this script started (recorded PID only)
#   harness/setup/docker.sh status   say whether an engine answers and which images exist
#
# Idempotent: a second run finds the engine up and the images built and does nothing.
# The dockerd it starts is recorded in $CACHE/dockerd/dockerd.pid; an engine that was already
# running (system service, Docker Desktop) is used as is and never stopped by `stop`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CACHEBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cachebench}"
STATE="$CACHE/dockerd"
PIDFILE="$STATE/dockerd.pid"
LOGFILE="$STATE/dockerd.log"
T0=$(date +%s.%N)

log() { printf '[docker] %s\n' "$*" >&2; }
die() { printf '[docker] error: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
engine_up() { docker info >/dev/null 2>&1; }

recorded_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  # Only a live dockerd counts: a reused PID of another program must never be signalled.
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = dockerd ] || return 1
  printf '%s\n' "$pid"
}

cmd_stop() {
  local pid
  if ! pid="$(recorded_pid)"; then
    log "no dockerd started by this script is running (pid file: $PIDFILE); nothing stopped"
    rm -f "$PIDFILE"
    return 0
  fi
  log "stopping dockerd pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    [ -d "/proc/$pid" ] || break
    sleep 0.2
  done
  if [ -d "/proc/$pid" ]; then
    log "dockerd pid $pid still alive after 20 s; sending SIGKILL"
    kill -KILL "$pid" || true
  fi
  rm -f "$PIDFILE"
  log "stopped in $(elapsed) s"
}

cmd_status() {
  if engine_up; then
    log "engine: up ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  else
    log "engine: not answering"
  fi
  if pid="$(recorded_pid)"; then log "dockerd started by this script: pid $pid"; fi
  engine_up && docker images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' 'cachebench/*' >&2 || true
}

cmd_up() {
  # --- Packages. `docker` may exist as a bare client, so the daemon binary is what counts; an
  # engine that already answers (a system service, a remote DOCKER_HOST) needs no docker.io.
  local missing=()
  if ! engine_up; then
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  fi
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  if [ "${#missing[@]}" -gt 0 ]; then
    # shellcheck disable=SC2207
    missing=($(printf '%s\n' "${missing[@]}" | sort -u))
    if ! is_root; then
      if engine_up; then
        log "missing ${missing[*]}; the running engine is used, but to build images run: sudo apt-get install -y ${missing[*]}"
      else
        die "missing ${missing[*]}: run 'sudo apt-get update && sudo apt-get install -y ${missing[*]}' then run this script again as root"
      fi
    else
      mkdir -p "$STATE"
      log "apt-get install ${missing[*]} (log: $STATE/apt.log)"
      apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -qq "$@" >>"$STATE/apt.log" 2>&1; }
      apt_get install "${missing[@]}" || {
        log "install failed; retrying after apt-get update"
        apt_get update && apt_get install "${missing[@]}" || { tail -20 "$STATE/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
      }
      log "installed ${missing[*]} ($(elapsed) s)"
    fi
  fi

  # --- Engine.
  if engine_up; then
    log "engine already answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  else
    is_root || die "no Docker engine answers and starting dockerd needs root: run 'sudo $0'"
    if pid="$(recorded_pid)"; then
      log "dockerd pid $pid (ours) is running but not answering yet; waiting"
    else
      mkdir -p "$STATE"
      log "starting dockerd (log: $LOGFILE)"
      # setsid: the daemon must outlive this script and not get the caller's Ctrl-C.
      setsid dockerd >"$LOGFILE" 2>&1 </dev/null &
      echo $! >"$PIDFILE"
    fi
    for _ in $(seq 1 120); do
      engine_up && break
      if ! recorded_pid >/dev/null; then
        tail -20 "$LOGFILE" >&2 || true
        die "dockerd exited during startup; see $LOGFILE"
      fi
      sleep 0.5
    done
    engine_up || die "dockerd did not answer within 60 s; see $LOGFILE"
    log "dockerd pid $(cat "$PIDFILE") answering after $(elapsed) s ($(docker version --format '{{.Server.Version}}' 2>/dev/null)); stop it with: $0 stop"
  fi

  # --- Images (a separate script so it can be run on its own against any engine).
  bash "$ROOT/docker/build-images.sh"
  log "done in $(elapsed) s"
}

case "${1:-up}" in
  up) cmd_up ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) die "unknown command '${1}': allowed are up (default), stop, status" ;;
esac
