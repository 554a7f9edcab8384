#!/usr/bin/env bash
# ./run setup: the Debian packages (postgresql, redis-server, python3-venv, the watermark fonts
# and libfribidi0, chromium, prometheus for its promtool) when missing, and .venv installed from
# requirements.lock (hash-checked) plus the project itself (editable).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STAMP="$VENV/.install.sha256"

# The alert rules' tests (tests/test_alert_rules.py) run `promtool test rules`; Debian ships
# promtool only inside the `prometheus` package, whose install would start and enable a
# Prometheus server on :9090. Nothing here wants that server: a policy-rc.d that refuses every
# start (101) is in place for the install, and the unit is stopped and disabled after it.
ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    note "promtool present"
    return
  fi
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    own_policy=1
  fi
  say "apt-get install prometheus (for promtool; its server is left stopped and disabled)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
  local status=0
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends prometheus </dev/null || status=$?
  ((own_policy == 0)) || as_root rm -f "$policy"
  ((status == 0)) || die "apt-get install prometheus failed"
  # Not started at boot either (systemctl disable also works where systemd is not running).
  if command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable prometheus.service >/dev/null 2>&1 || true
    [[ ! -d /run/systemd/system ]] || as_root systemctl stop prometheus.service || true
  fi
  command -v promtool >/dev/null 2>&1 || die "the prometheus package brought no promtool"
}

# Debian's own python3 needs python3-venv for ensurepip; other Pythons ship it.
python_can_make_venv() {
  [[ "$(command -v python3)" != /usr/bin/python3 ]] || python3 -c 'import ensurepip' 2>/dev/null
}

ensure_system_packages() {
  local missing=()
  postgres_installed || missing+=(postgresql)
  redis_installed || missing+=(redis-server)
  python_can_make_venv || missing+=(python3-venv)
  # The export's watermark fonts (media/fonts.py): Latin, Greek, Cyrillic; the other
  # alphabetic and Indic scripts; Chinese, Japanese, Korean. libfribidi0: Pillow's Raqm layout
  # (right-to-left text, Arabic joining) loads it at run time.
  [[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
  [[ -f /usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf ]] || missing+=(fonts-noto-core)
  [[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]] || missing+=(fonts-wqy-microhei)
  compgen -G '/usr/lib/*/libfribidi.so.0' >/dev/null || missing+=(libfribidi0)
  # The browser tests (tests/e2e/test_admin_dashboard.py, test_web_client.py) drive Debian's
  # chromium: Playwright's own browser download cannot reach its host from here.
  [[ -x "$CHROMIUM" ]] || missing+=(chromium)
  if ((${#missing[@]} == 0)); then
    note "system packages present: postgresql, redis-server, the watermark fonts, chromium"
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
ensure_promtool
ensure_venv
