#!/usr/bin/env bash
# ./run release: setup, services, then the Procfile's `release` line (alembic upgrade head),
# with the demo's development settings.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step setup
step services
[[ -f Procfile ]] || die "no Procfile"
command="$(sed -n 's/^release:[[:space:]]*//p' Procfile)"
[[ -n "$command" ]] || die "Procfile has no 'release:' line"
export_demo_env
say "release: $command"
bash -c "$command"
