#!/usr/bin/env bash
# ./run demo: stops an earlier demo, runs release (setup, services, migrations), starts the
# Procfile's processes plus Procfile.dev's fake GetImg under honcho in the background, waits for
# them, then walks through the API with scripts/demo.py.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HONCHO_PID="$PID_DIR/honcho.pid"
HONCHO_LOG="$LOG_DIR/honcho.log"
PROCFILE_DEMO="$PID_DIR/Procfile.demo"
# web first: honcho gives the first process --port and each next one 100 more (unused by them).
PROCESSES=(web worker beat flower getimg-fake)

require_free_port() {
  ! port_open 127.0.0.1 "$1" ||
    die "port $1 (for $2) is taken by another program: see 'ss -ltnp sport = :$1'"
}

honcho_alive() { kill -0 "$(cat "$HONCHO_PID")" 2>/dev/null; }

# Shows the end of the log (one process's lines when NAME has any), stops the rest, and dies.
fail() {
  local name="$1" lines
  lines="$(grep -E "^[0-9:]+ $name\.1 +\|" "$HONCHO_LOG" | tail -n 30 || true)"
  lines="${lines:-$(tail -n 30 "$HONCHO_LOG")}"
  printf -- '--- last lines of var/log/honcho.log ---\n%s\n' "$lines" >&2
  step stop >&2
  die "$2 (see var/log/honcho.log)"
}

# When one process exits, honcho stops the others and exits: name the one that went first.
check_alive() {
  honcho_alive && return
  local first
  first="$(sed -n 's/^[0-9:]* system *| \([a-z-]*\)\.1 stopped.*/\1/p' "$HONCHO_LOG" | head -n1)"
  fail "${first:-system}" "${first:-a process} exited during start-up, and honcho stopped the rest"
}

# wait_for NAME SECONDS CHECK...: polls CHECK; gives up early if honcho has stopped.
wait_for() {
  local name="$1" deadline=$((SECONDS + $2)) seconds="$2"
  shift 2
  until "$@"; do
    check_alive
    ((SECONDS < deadline)) || fail "$name" "$name not ready after $seconds s"
    sleep 0.2
  done
}

web_ready() {
  "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$WEB_PORT/readyz" >/dev/null 2>&1
}

step stop
step release
export_demo_env
require_free_port "$GETIMG_FAKE_PORT" getimg-fake
require_free_port "$WEB_PORT" web
require_free_port "$FLOWER_PORT_DEMO" flower
mkdir -p "$LOG_DIR" "$PID_DIR"
cat Procfile Procfile.dev >"$PROCFILE_DEMO"
say "honcho start ${PROCESSES[*]} (Procfile + Procfile.dev; log: var/log/honcho.log)"
# setsid: honcho leads its own process group, which ./run stop signals. `-e /dev/null`: config/
# reads .env itself, under the environment; honcho would let .env override the values above.
setsid honcho --no-colour -e /dev/null -f "$PROCFILE_DEMO" start --port "$WEB_PORT" \
  "${PROCESSES[@]}" >"$HONCHO_LOG" 2>&1 </dev/null &
echo "$!" >"$HONCHO_PID"
disown "$!" # ./run stop manages it, and bash need not report its end
note "honcho: pid $! (var/run/honcho.pid)"
wait_for getimg-fake 20 port_open 127.0.0.1 "$GETIMG_FAKE_PORT"
say "waiting for http://127.0.0.1:$WEB_PORT/readyz"
wait_for web 60 web_ready
wait_for flower 30 port_open 127.0.0.1 "$FLOWER_PORT_DEMO"
check_alive

status=0
say "scripts/demo.py --base-url http://127.0.0.1:$WEB_PORT"
"$PY" scripts/demo.py --base-url "http://127.0.0.1:$WEB_PORT" || status=$?
cat <<SUMMARY

The demo is running:
  API       http://127.0.0.1:$WEB_PORT   (/healthz, /readyz, /openapi.json, /docs)
  Client    http://127.0.0.1:$WEB_PORT/app   (the web client: paste the token printed above)
  Flower    http://127.0.0.1:$FLOWER_PORT_DEMO   (user:password $FLOWER_BASIC_AUTH)
  GetImg    fake at $GETIMG_API_URL
  Logs      $HONCHO_LOG (each line starts with its process: ${PROCESSES[*]})
  Pid file  $HONCHO_PID (honcho, which runs them all)
Stop it with ./run stop
SUMMARY
((status == 0)) || die "scripts/demo.py failed (exit $status); the log is var/log/honcho.log"
