#!/usr/bin/env bash
# Makes tests/smtp/.venv with the pinned aiosmtpd (once; reused while requirements.txt is
# unchanged) and prints the path of its Python. The mail tests that talk to a real SMTP server
# run tests/smtp/server.py with it (TEST_SMTP_PYTHON; .ci/run sets it from this script).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
stamp="$venv/.installed-requirements.txt"
if ! { [[ -x "$venv/bin/python" ]] && cmp -s "$here/requirements.txt" "$stamp"; }; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$stamp"
fi
echo "$venv/bin/python"
