#!/usr/bin/env bash
# ./run bench [NAME ...] [--runs N]: setup, services, then bench/run (every benchmark, one
# table; `./run bench --help` lists them).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step setup
step services
say "bench/run $*"
exec "$ROOT/bench/run" "$@"
