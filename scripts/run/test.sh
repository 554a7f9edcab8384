#!/usr/bin/env bash
# ./run test [PYTEST ARGS]: setup, services, `ruff check .`, mypy, then pytest ARGS (default -q).
# Exits with pytest's status; fails if ruff or mypy found something, or if pytest ran no test.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# What exists and holds Python files: mypy fails on an empty directory.
mypy_targets() {
  local target
  for target in api workers models config services media devstack tests bench fakes scripts deploy; do
    [[ -n "$(find "$target" -name '*.py' -print -quit 2>/dev/null)" ]] && echo "$target"
  done
  [[ -f celeryconfig.py ]] && echo celeryconfig.py
  return 0
}

lint() {
  local status=0 targets
  say "ruff check ."
  "$VENV/bin/ruff" check . || status=1
  mapfile -t targets < <(mypy_targets)
  if ((${#targets[@]} > 0)); then
    say "mypy ${targets[*]}"
    "$VENV/bin/mypy" "${targets[@]}" || status=1
  fi
  return "$status"
}

step setup
step services
lint_status=0
pytest_status=0
lint || lint_status=$?
(($# > 0)) || set -- -q
say "pytest $*"
"$VENV/bin/pytest" "$@" || pytest_status=$?
((pytest_status != 5)) || die "pytest ran no tests (exit 5): that counts as a failure"
((pytest_status == 0)) || exit "$pytest_status"
((lint_status == 0)) || die "pytest passed but ruff or mypy failed (see above)"
say "all checks passed"
