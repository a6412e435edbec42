#!/bin/sh
# Initialises an empty data directory once, then execs the server with the given args.
set -e
# Official-image convention: `docker run image -c x=y` means `postgres -c x=y`.
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  initdb -D "$PGDATA" -U "$user" -A trust --no-sync >/dev/null
  # A benchmark database in a private container network: trust, no durability.
  echo "host all all all trust" >>"$PGDATA/pg_hba.conf"
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
  echo "cachebench: initialised $PGDATA (user $user, database $db)"
fi
exec "$@"
