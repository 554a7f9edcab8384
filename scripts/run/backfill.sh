#!/usr/bin/env bash
# ./run backfill --from YYYY-MM-DD --to YYYY-MM-DD: roll those UTC days up into
# headshot_analytics (what the nightly job does for yesterday), with a progress bar.
# Uses the environment's settings (the demo's development values where unset).
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step setup
step services
export_demo_env
"$VENV/bin/flask" --app 'api:create_app()' backfill "$@"
