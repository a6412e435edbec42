#!/bin/sh
# Initialises an empty data directory once, then execs the server with the given args.
# Authentication follows the official image: POSTGRES_PASSWORD is the superuser's password and
# POSTGRES_HOST_AUTH_METHOD (default scram-sha-256) applies to every TCP connection; the socket
# inside the container stays trust, like the official image's.
set -e
# Official-image convention: `docker run image -c x=y` means `postgres -c x=y`.
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  case "$method" in
    trust | scram-sha-256 | md5 | password) ;;
    *)
      echo "cachebench: POSTGRES_HOST_AUTH_METHOD '$method' is not allowed; expected scram-sha-256, md5, password or trust" >&2
      exit 2
      ;;
  esac
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != trust ]; then
    echo "cachebench: POSTGRES_PASSWORD is empty; set it (POSTGRES_HOST_AUTH_METHOD=$method needs one) or set POSTGRES_HOST_AUTH_METHOD=trust" >&2
    exit 2
  fi
  pwfile=
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    # A 0600 file (mktemp), written by the shell's builtin printf: never on a command line.
    pwfile="$(mktemp)"
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  fi
  initdb -D "$PGDATA" -U "$user" --auth-local=trust --auth-host="$method" ${pwfile:+--pwfile="$pwfile"} --no-sync >/dev/null
  if [ -n "$pwfile" ]; then rm -f "$pwfile"; fi
  trap - EXIT
  # Clients come from the container network (Toxiproxy, the port forwarder): every address.
  # No durability: a throwaway benchmark database.
  echo "host all all all $method" >>"$PGDATA/pg_hba.conf"
  {
    echo "listen_addresses = '*'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
  } >>"$PGDATA/postgresql.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  # The extension objects can exist before the library is preloaded; querying needs the preload.
  for d in template1 "$db"; do
    echo "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" | postgres --single -D "$PGDATA" -j "$d" >/dev/null
  done
  echo "cachebench: initialised $PGDATA (user $user, database $db, host auth $method)"
fi
# The server needs no password in its environment (initdb stored its hash).
unset POSTGRES_PASSWORD
exec "$@"
