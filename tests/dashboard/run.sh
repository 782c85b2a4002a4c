#!/usr/bin/env bash
# The dashboard test (dashboard.mjs beside this file): builds the debug server, installs the
# pinned playwright-core when the lock file changed, then drives /dashboard and
# /dashboard/tickets in headless Chromium against a server it starts (scratch SQLite, free
# port) and restarts. Screenshots and logs go to target/dashboard-test/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

command -v node >/dev/null 2>&1 || { echo "dashboard test: Node.js 20+ and npm are needed" >&2; exit 1; }
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[[ -x "$chromium" ]] || { echo "dashboard test: $chromium is missing (apt-get install -y chromium)" >&2; exit 1; }

(cd "$repo" && cargo build --bin evenntify)
target_dir="${CARGO_TARGET_DIR:-$repo/target}"

cd "$here"
if ! cmp -s package-lock.json node_modules/.installed-package-lock.json; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.installed-package-lock.json
fi

exec node dashboard.mjs --binary "$target_dir/debug/evenntify" --out "$target_dir/dashboard-test" "$@"
