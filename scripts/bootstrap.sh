#!/usr/bin/env bash
# Create .venv (if missing) and install MUSEED with its dev extras; a no-op when pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), "MUSEED needs Python 3.11 or 3.12"'
  "$PY" -m venv .venv
fi
stamp=.venv/.museed-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing MUSEED and its dependencies into .venv (torch is a large download the first time)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$want" > "$stamp"
fi
