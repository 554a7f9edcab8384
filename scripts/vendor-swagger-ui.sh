#!/usr/bin/env bash
# Vendors Swagger UI (npm package swagger-ui-dist) into api/static/swagger-ui/ for the `/docs`
# page: only the files the page loads, and the licences. The page loads nothing from elsewhere.
#
#   scripts/vendor-swagger-ui.sh            # the pinned version below
#   scripts/vendor-swagger-ui.sh 5.36.0     # another one (then update the pin here)
#
# Needs npm. `npm pack` downloads the package's tarball and checks it against the registry's
# integrity hash; nothing is installed and no install script runs.
set -euo pipefail

VERSION="${1:-5.35.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/api/static/swagger-ui"
FILES=(
  swagger-ui-bundle.js               # Swagger UI with its dependencies, one script
  swagger-ui-bundle.js.LICENSE.txt   # the licences of what the bundle contains (it points here)
  swagger-ui.css                     # (its source map is left out: only developer tools ask)
  LICENSE                            # Apache-2.0
  NOTICE
)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tar -xzf "$WORK/swagger-ui-dist-$VERSION.tgz" -C "$WORK"

rm -rf "$TARGET"
mkdir -p "$TARGET"
for file in "${FILES[@]}"; do
  cp "$WORK/package/$file" "$TARGET/$file"
done
cat >"$TARGET/VERSION" <<INFO
swagger-ui-dist $VERSION (npm), vendored by scripts/vendor-swagger-ui.sh
integrity $(cd "$WORK" && npm view --silent "swagger-ui-dist@$VERSION" dist.integrity)
INFO
echo "api/static/swagger-ui/: swagger-ui-dist $VERSION"
