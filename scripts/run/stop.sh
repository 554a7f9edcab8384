#!/usr/bin/env bash
# ./run stop: TERM to the process group of the honcho that ./run demo started (honcho passes it
# on to each process's own group), KILL to whatever is left after 20 s. PostgreSQL and Redis stay.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HONCHO_PID="$PID_DIR/honcho.pid"
STOP_DEADLINE_SECONDS=20

# The process groups of PID and of all its descendants (honcho starts each process in its own).
process_groups() {
  ps -e -o pid=,ppid=,pgid= | awk -v root="$1" '
    { parent[$1] = $2; group[$1] = $3 }
    END {
      for (pid in parent) {
        for (up = pid; up in parent && up != root; up = parent[up]) {}
        if (up == root) print group[pid]
      }
    }' | sort -u
}

groups_gone() {
  local pgid
  for pgid in "$@"; do
    if kill -0 -- "-$pgid" 2>/dev/null; then return 1; fi
  done
}

pgid="$(cat "$HONCHO_PID" 2>/dev/null || true)"
rm -f "$HONCHO_PID"
if ! [[ "$pgid" =~ ^[0-9]+$ ]] || ! kill -0 -- "-$pgid" 2>/dev/null; then
  note "no demo processes running"
  exit 0
fi
mapfile -t groups < <(process_groups "$pgid")
note "stopping honcho (pgid $pgid) and its processes (groups ${groups[*]})"
kill -TERM -- "-$pgid" 2>/dev/null || true
if ! wait_until "$STOP_DEADLINE_SECONDS" groups_gone "${groups[@]}"; then
  note "still running after $STOP_DEADLINE_SECONDS s: sending KILL"
  for group in "${groups[@]}"; do kill -KILL -- "-$group" 2>/dev/null || true; done
fi
say "demo processes stopped"
