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
# MusiCNN's pretrained weights ship inside this wheel; --no-deps because it pins numpy<1.17 and TensorFlow,
# neither of which MUSEED uses (embedding.tf_checkpoint reads the weights itself)
if ! .venv/bin/python -m pip show --quiet musicnn >/dev/null 2>&1; then
  .venv/bin/python -m pip install --quiet --no-deps "musicnn==0.1.0"
fi
# the browser suite (tests/web) drives Debian's Chromium; Playwright's own browser download is never used
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian's chromium for the browser tests" >&2
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } ||
      echo "bootstrap: apt-get could not install chromium: the browser tests will skip" >&2
  else
    echo "bootstrap: /usr/bin/chromium is missing and this is not root with apt-get: the browser tests will skip" >&2
  fi
fi
