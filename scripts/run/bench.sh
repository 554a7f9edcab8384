#!/usr/bin/env bash
# ./run bench [NAME [ARGS]]: setup, services, then bench/NAME.py ARGS; without NAME, the list.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A benchmark is a bench/*.py that runs as a script (harness.py and __init__.py don't).
is_benchmark() { grep -qs '^if __name__ == "__main__":' "bench/$1.py"; }

list_benchmarks() {
  local file found=0
  echo "benchmarks (./run bench NAME):"
  for file in bench/*.py; do
    is_benchmark "$(basename "$file" .py)" || continue
    found=1
    echo "  $(basename "$file" .py)"
  done
  ((found)) || echo "  (none yet under bench/)"
}

if (($# == 0)); then
  list_benchmarks
  exit 0
fi
name="${1%.py}"
shift
is_benchmark "$name" || { list_benchmarks; die "no benchmark bench/$name.py"; }
step setup
step services
say "bench/$name.py $*"
"$PY" "bench/$name.py" "$@"
