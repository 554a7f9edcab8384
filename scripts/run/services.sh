#!/usr/bin/env bash
# ./run services: PostgreSQL answering on 127.0.0.1:5432 (postgres/postgres, database headshots)
# and Redis on 127.0.0.1:6379, creating and starting what is missing.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Runs a command as the postgres OS user, from / so it can read its working directory.
as_postgres() {
  if [[ $EUID -eq 0 ]] && command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u postgres -- "$@")
  elif [[ $EUID -eq 0 ]]; then
    (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
  else
    (cd / && as_root -u postgres "$@")
  fi
}

# Prints "VERSION CLUSTER PORT STATUS" of the cluster on $PG_PORT, else of the first one.
pg_cluster() {
  pg_lsclusters --no-header 2>/dev/null |
    awk -v port="$PG_PORT" '
      { line = $1 " " $2 " " $3 " " $4 }
      $3 == port && !found { found = line }
      NR == 1 { first = line }
      END { if (found) print found; else if (first) print first }'
}

pg_answers() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

ensure_postgres_running() {
  if pg_answers; then
    note "postgres: answering on $PG_HOST:$PG_PORT"
    return
  fi
  if [[ -z "$(pg_cluster)" ]]; then
    local newest
    newest="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -n1)"
    [[ -n "$newest" ]] || die "no PostgreSQL server under /usr/lib/postgresql"
    say "postgres: creating cluster $newest/main"
    as_root pg_createcluster --locale C.UTF-8 "$newest" main >/dev/null # UTF8, whatever LANG is
  fi
  local version name port status
  read -r version name port status <<<"$(pg_cluster)"
  [[ "$port" == "$PG_PORT" ]] ||
    note "postgres: warning: cluster $version/$name listens on $port, the project expects $PG_PORT"
  if [[ "$status" != online* ]]; then
    # After a reboot the socket directory (normally made by systemd-tmpfiles) may be gone.
    as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    say "postgres: starting cluster $version/$name"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
  fi
  wait_until 30 pg_answers || die "postgres: not answering on $PG_HOST:$PG_PORT after 30 s"
  note "postgres: cluster $version/$name is up"
}

pg_sql() {
  PGPASSWORD=postgres PGCONNECT_TIMEOUT=5 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres \
    -d postgres -XtAq -v ON_ERROR_STOP=1 -c "$1"
}

ensure_postgres_password() {
  if pg_sql 'SELECT 1' >/dev/null 2>&1; then
    note "postgres: password login as postgres works"
    return
  fi
  say "postgres: setting the postgres user's password"
  as_postgres psql -p "$PG_PORT" -X -q -c "ALTER USER postgres PASSWORD 'postgres'"
  pg_sql 'SELECT 1' >/dev/null 2>&1 ||
    die "postgres: TCP login as postgres/postgres still fails (check pg_hba.conf)"
}

database_exists() { [[ "$(pg_sql "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" == 1 ]]; }

# New databases copy template1: it must be UTF8 (a cluster made without a UTF-8 locale is not).
check_encoding() {
  local encoding
  encoding="$(pg_sql "SELECT pg_encoding_to_char(encoding) FROM pg_database
                      WHERE datname = 'template1'")"
  [[ "$encoding" == UTF8 ]] ||
    note "postgres: warning: the cluster's encoding is $encoding, not UTF8: non-ASCII will fail"
}

ensure_database() {
  if database_exists; then
    note "postgres: database $PG_DB exists"
    return
  fi
  say "postgres: creating database $PG_DB"
  # A concurrent run may have created it in between: then the second check settles it.
  pg_sql "CREATE DATABASE $PG_DB" >/dev/null 2>&1 || database_exists ||
    die "postgres: could not create database $PG_DB"
}

redis_answers() { [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

ensure_redis_running() {
  if redis_answers; then
    note "redis: answering on $REDIS_HOST:$REDIS_PORT"
    return
  fi
  mkdir -p "$LOG_DIR"
  say "redis: starting redis-server on $REDIS_HOST:$REDIS_PORT (log: var/log/redis-server.log)"
  redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
    --save "" --appendonly no --logfile "$LOG_DIR/redis-server.log"
  wait_until 15 redis_answers || die "redis: not answering on $REDIS_HOST:$REDIS_PORT after 15 s"
  note "redis: up"
}

say "services"
if ! redis_installed || ! postgres_installed; then
  die "PostgreSQL or Redis is missing: ./run setup"
fi
ensure_postgres_running
ensure_postgres_password
check_encoding
ensure_database
ensure_redis_running
