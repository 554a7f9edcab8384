#!/usr/bin/env bash
# The image's entry point. `entrypoint.sh NAME` runs the Procfile's NAME line (web, worker,
# beat, flower, release), so the Procfile stays the one list of the service's commands; any
# other arguments run as a command of their own (`python -m fakes.getimg ...`, `id -u`).
#
# Signals: `exec` makes bash give way to the command, and bash -c itself execs the last
# command of a line such as beat's `mkdir -p var && celery ...`, so SIGTERM from the
# platform reaches gunicorn (which drains) or the Celery worker (which hands its jobs back
# after WORKER_SHUTDOWN_GRACE_SECONDS) directly.
set -euo pipefail

PROCFILE=/app/Procfile

if (($# == 1)) && [[ "$1" =~ ^[a-z][a-z0-9-]*$ ]]; then
  line="$(sed -n "s/^$1:[[:space:]]*//p" "$PROCFILE")"
  if [[ -n "$line" ]]; then
    printf 'entrypoint: %s: %s\n' "$1" "$line" >&2
    exec bash -c "$line"
  fi
  if [[ "$1" != */* ]] && ! command -v "$1" >/dev/null 2>&1; then
    processes="$(sed -n 's/^\([a-z][a-z0-9-]*\):.*/\1/p' "$PROCFILE" | paste -sd' ')"
    printf 'entrypoint: no Procfile process %s (the Procfile has: %s)\n' "$1" "$processes" >&2
    exit 64
  fi
fi
exec "$@"
