#!/usr/bin/env bash
# Vendors axe-core (npm package axe-core) into tests/support/axe/ for the web client's
# accessibility check (tests/e2e/test_web_client.py): the one file the test injects into each
# screen, and the licence. It is a test tool, never served: /app loads nothing of it.
#
#   scripts/vendor-axe.sh            # the pinned version below
#   scripts/vendor-axe.sh 4.11.0     # another one (then update the pin here)
#
# Needs npm. `npm pack` downloads the package's tarball and checks it against the registry's
# integrity hash; nothing is installed and no install script runs.
set -euo pipefail

VERSION="${1:-4.10.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/tests/support/axe"
FILES=(
  axe.min.js   # the engine; defines the global `axe`
  LICENSE      # MPL-2.0
)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "axe-core@$VERSION" >/dev/null)
tar -xzf "$WORK/axe-core-$VERSION.tgz" -C "$WORK"

rm -rf "$TARGET"
mkdir -p "$TARGET"
for file in "${FILES[@]}"; do
  cp "$WORK/package/$file" "$TARGET/$(basename "$file")"
done
cat >"$TARGET/VERSION" <<INFO
axe-core $VERSION (npm), vendored by scripts/vendor-axe.sh
integrity $(cd "$WORK" && npm view --silent "axe-core@$VERSION" dist.integrity)
INFO
echo "tests/support/axe/: axe-core $VERSION"
