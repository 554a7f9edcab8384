#!/usr/bin/env bash
# ./run bench [NAME [ARGS]]: setup, services, then bench/NAME.py ARGS; without NAME, the list.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

list_benchmarks() {
  local file found=0
  echo "benchmarks (./run bench NAME):"
  for file in bench/*.py; do
    [[ -e "$file" ]] || continue
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
[[ -f "bench/$name.py" ]] || { list_benchmarks; die "no benchmark bench/$name.py"; }
step setup
step services
say "bench/$name.py $*"
"$PY" "bench/$name.py" "$@"
