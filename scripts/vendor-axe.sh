#!/usr/bin/env bash
# Vendors axe-core (npm package axe-core) into tests/support/axe/ for the web client's
# accessibility check (tests/e2e/test_web_client.py): the one file the test injects into each
# screen, and the licence. It is a test tool, never served: /app loads nothing of it.
#
#   scripts/vendor-axe.sh            # the pinned version below
#   scripts/vendor-axe.sh 4.11.0     # another one (then update the pin here)
#
# Needs npm; the work is scripts/vendor-npm.sh's.
set -euo pipefail

VERSION="${1:-4.10.2}"
FILES=(
  axe.min.js   # the engine; defines the global `axe`
  LICENSE      # MPL-2.0
)
VENDORED_BY=scripts/vendor-axe.sh exec "$(dirname "${BASH_SOURCE[0]}")/vendor-npm.sh" \
  axe-core "$VERSION" tests/support/axe "${FILES[@]}"
