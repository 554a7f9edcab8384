#!/usr/bin/env bash
# ./run lock [ARGS]: (re)makes requirements.lock from pyproject.toml's ranges, the dev extra
# included, with hashes, for CPython 3.11 on Linux x86_64 (CI's and every developer's machine).
# Versions already in the lock are kept when they still fit; ARGS go to `uv pip compile`, e.g.
# `./run lock --upgrade` (everything to the newest allowed) or `--upgrade-package flask`.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UV_VERSION=0.13.9 # the lock's format and resolution depend on it: change it on purpose

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "python3 is $(python3 --version 2>&1); the project needs 3.11 or newer"
"$PY" -m pip --version >/dev/null 2>&1 || python3 -m venv "$VENV"
if [[ "$("$VENV/bin/uv" --version 2>/dev/null)" != "uv $UV_VERSION"* ]]; then
  say "pip install uv==$UV_VERSION into .venv"
  "$PY" -m pip install --disable-pip-version-check -q "uv==$UV_VERSION"
fi

say "uv pip compile pyproject.toml --extra dev -> $LOCK"
"$VENV/bin/uv" pip compile pyproject.toml --extra dev --generate-hashes \
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  --custom-compile-command "./run lock" --quiet --output-file "$LOCK" "$@"
echo "$LOCK_INPUT_PREFIX $(lock_input_hash)" >>"$LOCK"
note "$(grep -c '^[a-z0-9]' "$LOCK") packages pinned; ./run setup installs them"
