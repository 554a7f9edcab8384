# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
# Sourced by every scripts/run/*.sh: paths, ports, and the helpers they share.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

RUN_SCRIPTS="$ROOT/scripts/run"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
LOCK=requirements.lock
LOG_DIR="$ROOT/var/log"
PID_DIR="$ROOT/var/run"
PG_HOST=127.0.0.1
PG_PORT=5432
PG_DB=headshots
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WEB_PORT=8000
FLOWER_PORT_DEMO=5555
GETIMG_FAKE_PORT=8090 # the port Procfile.dev gives the fake
CHROMIUM=/usr/bin/chromium # Debian's; tests/e2e/test_admin_dashboard.py drives it
export DEBIAN_FRONTEND=noninteractive
# Procfile commands name bare tools (alembic, celery, python): they must resolve to the venv.
export PATH="$VENV/bin:$PATH"

say() { printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'run: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "needs root (and sudo is not installed): $*"
  fi
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds or time runs out.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

postgres_installed() {
  command -v pg_lsclusters >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 &&
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

redis_installed() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }

# Runs another step, e.g. `step setup`; it exits this script if the step fails.
step() { "$RUN_SCRIPTS/$1.sh" "${@:2}"; }

# Development values for the API guide §1 variables (JWT_SECRET: config.DEV_JWT_SECRET unless
# set); anything already in the environment wins,
# except the ports and the GetImg pair, which the demo fixes.
export_demo_env() {
  export PORT="$WEB_PORT" FLOWER_PORT="$FLOWER_PORT_DEMO"
  export FLOWER_BASIC_AUTH="${FLOWER_BASIC_AUTH:-admin:admin}"
  export DATABASE_URL="${DATABASE_URL:-postgresql://postgres:postgres@$PG_HOST:$PG_PORT/$PG_DB}"
  export REDIS_URL="${REDIS_URL:-redis://$REDIS_HOST:$REDIS_PORT/0}"
  export GETIMG_API_URL="http://127.0.0.1:$GETIMG_FAKE_PORT" GETIMG_API_KEY="sk_demo"
  export MEDIA_ROOT="${MEDIA_ROOT:-$ROOT/var/media}"
  export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$WEB_PORT}"
  export ORIGINAL_RETENTION_MINUTES="${ORIGINAL_RETENTION_MINUTES:-30}"
  export WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-9101}" # the worker's /metrics
  export PYTHONUNBUFFERED=1
}

# What requirements.lock is made from: pyproject.toml's dependency lists only (editing its tool
# settings needs no new lock). ./run lock writes this hash into the lock; setup compares.
LOCK_INPUT_PREFIX="# made from pyproject.toml dependencies sha256:"
lock_input_hash() {
  python3 -c '
import hashlib, json, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
keys = ("requires-python", "dependencies", "optional-dependencies")
lists = [project.get(key) for key in keys]
print(hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest())'
}
lock_is_current() { grep -qxF "$LOCK_INPUT_PREFIX $(lock_input_hash)" "$LOCK"; }
