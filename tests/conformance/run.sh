#!/usr/bin/env bash
# Runs the conformance suite (README.md beside this file): builds the server with cargo,
# installs the pinned npm packages when the lock file changed, then runs every outside client
# against the server on a free loopback port. Extra arguments go to run.mjs (e.g. --only ws).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

command -v node >/dev/null 2>&1 || { echo "conformance: Node.js 20+ and npm are needed" >&2; exit 1; }
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[[ -x "$chromium" ]] || { echo "conformance: $chromium is missing (apt-get install -y chromium)" >&2; exit 1; }

(cd "$repo" && cargo build --bin evenntify)
binary="${CARGO_TARGET_DIR:-$repo/target}/debug/evenntify"

# `npm ci` only when package-lock.json differs from the one last installed.
cd "$here"
if ! cmp -s package-lock.json node_modules/.installed-package-lock.json; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.installed-package-lock.json
fi

exec node run.mjs --binary "$binary" "$@"
