#!/usr/bin/env bash
# Vendors Chart.js (npm package chart.js) into api/static/chartjs/ for the `/admin` dashboard:
# the one UMD file the page loads, and the licence. The page loads nothing from elsewhere, so it
# works offline and its Content-Security-Policy can stay same-origin only.
#
#   scripts/vendor-chartjs.sh            # the pinned version below
#   scripts/vendor-chartjs.sh 4.7.0      # another one (then update the pin here)
#
# Needs npm. `npm pack` downloads the package's tarball and checks it against the registry's
# integrity hash; nothing is installed and no install script runs.
set -euo pipefail

VERSION="${1:-4.6.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/api/static/chartjs"
FILES=(
  dist/chart.umd.min.js   # Chart.js with every chart type registered, as the global `Chart`
  LICENSE.md              # MIT (the file's own header names it too)
)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "chart.js@$VERSION" >/dev/null)
tar -xzf "$WORK/chart.js-$VERSION.tgz" -C "$WORK"

rm -rf "$TARGET"
mkdir -p "$TARGET"
for file in "${FILES[@]}"; do
  cp "$WORK/package/$file" "$TARGET/$(basename "$file")"
done
cat >"$TARGET/VERSION" <<INFO
chart.js $VERSION (npm), vendored by scripts/vendor-chartjs.sh
integrity $(cd "$WORK" && npm view --silent "chart.js@$VERSION" dist.integrity)
INFO
echo "api/static/chartjs/: chart.js $VERSION"
