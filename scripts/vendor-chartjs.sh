#!/usr/bin/env bash
# Vendors Chart.js (npm package chart.js) into api/static/chartjs/ for the `/admin` dashboard:
# the one UMD file the page loads, and the licence. The page loads nothing from elsewhere, so it
# works offline and its Content-Security-Policy can stay same-origin only.
#
#   scripts/vendor-chartjs.sh            # the pinned version below
#   scripts/vendor-chartjs.sh 4.7.0      # another one (then update the pin here)
#
# Needs npm; the work is scripts/vendor-npm.sh's.
set -euo pipefail

VERSION="${1:-4.6.1}"
FILES=(
  dist/chart.umd.min.js   # Chart.js with every chart type registered, as the global `Chart`
  LICENSE.md              # MIT (the file's own header names it too)
)
VENDORED_BY=scripts/vendor-chartjs.sh exec "$(dirname "${BASH_SOURCE[0]}")/vendor-npm.sh" \
  chart.js "$VERSION" api/static/chartjs "${FILES[@]}"
