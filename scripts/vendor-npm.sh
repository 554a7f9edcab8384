#!/usr/bin/env bash
# Vendors files of one npm package into the repository (scripts/vendor-chartjs.sh and
# scripts/vendor-axe.sh name which):
#
#   scripts/vendor-npm.sh PACKAGE VERSION TARGET FILE... [-- by SCRIPT]
#
# TARGET is a folder of the repository, emptied and refilled with each FILE (a path inside the
# package; kept under its base name) and a VERSION note with the package's integrity hash.
# Needs npm. `npm pack` downloads the package's tarball and checks it against the registry's
# integrity hash; nothing is installed and no install script runs.
set -euo pipefail

PACKAGE="$1" VERSION="$2" TARGET_DIR="$3"
shift 3
FILES=("$@")
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="$ROOT/$TARGET_DIR"
BY="${VENDORED_BY:-scripts/vendor-npm.sh}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tar -xzf "$WORK/$PACKAGE-$VERSION.tgz" -C "$WORK"

rm -rf "$TARGET"
mkdir -p "$TARGET"
for file in "${FILES[@]}"; do
  cp "$WORK/package/$file" "$TARGET/$(basename "$file")"
done
cat >"$TARGET/VERSION" <<INFO
$PACKAGE $VERSION (npm), vendored by $BY
integrity $(cd "$WORK" && npm view --silent "$PACKAGE@$VERSION" dist.integrity)
INFO
echo "$TARGET_DIR/: $PACKAGE $VERSION"
