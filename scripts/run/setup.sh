#!/usr/bin/env bash
# ./run setup: the Debian packages (postgresql, redis-server, python3-venv, fonts-dejavu-core,
# chromium) when missing, and .venv installed from requirements.lock (hash-checked) plus the
# project itself (editable).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STAMP="$VENV/.install.sha256"

# Debian's own python3 needs python3-venv for ensurepip; other Pythons ship it.
python_can_make_venv() {
  [[ "$(command -v python3)" != /usr/bin/python3 ]] || python3 -c 'import ensurepip' 2>/dev/null
}

ensure_system_packages() {
  local missing=()
  postgres_installed || missing+=(postgresql)
  redis_installed || missing+=(redis-server)
  python_can_make_venv || missing+=(python3-venv)
  # The export's watermark font (media/export.py).
  [[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
  # The admin dashboard's browser test (tests/e2e/test_admin_dashboard.py) drives Debian's
  # chromium: Playwright's own browser download cannot reach its host from here.
  [[ -x "$CHROMIUM" ]] || missing+=(chromium)
  if ((${#missing[@]} == 0)); then
    note "system packages present: postgresql, redis-server, fonts-dejavu-core, chromium"
    return
  fi
  say "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
  say "apt-get install ${missing[*]}"
  # The postgresql package creates its first cluster in the caller's locale: make it UTF-8 (an
  # environment without LANG would get SQL_ASCII, where psycopg2 fails on any non-ASCII text).
  as_root env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
    apt-get install -y -q "${missing[@]}" </dev/null
}

# pip_logged WHAT ARGS...: runs the venv's pip into var/log/pip-install.log; dies with its tail.
pip_logged() {
  local what="$1"
  shift
  say "$what (log: var/log/pip-install.log)"
  if ! "$PY" -m pip install --disable-pip-version-check "$@" >>"$LOG_DIR/pip-install.log" 2>&1; then
    tail -n 40 "$LOG_DIR/pip-install.log" >&2
    die "$what failed (whole log: var/log/pip-install.log)"
  fi
}

ensure_venv() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "python3 is $(python3 --version 2>&1); the project needs 3.11 or newer"
  [[ -f "$LOCK" ]] || die "no $LOCK: make it with ./run lock"
  lock_is_current ||
    die "pyproject.toml's dependencies changed since $LOCK was made: run ./run lock, commit $LOCK"
  if ! "$PY" -m pip --version >/dev/null 2>&1; then
    say "creating .venv"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  local want
  want="$(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    note ".venv is up to date with $LOCK and pyproject.toml"
    return
  fi
  mkdir -p "$LOG_DIR"
  : >"$LOG_DIR/pip-install.log"
  pip_logged "pip install --require-hashes -r $LOCK" --require-hashes -r "$LOCK"
  pip_logged "pip install --no-deps -e ." --no-deps -e .
  echo "$want" >"$STAMP"
}

say "setup"
ensure_system_packages
ensure_venv
