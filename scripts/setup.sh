#!/usr/bin/env bash
# Sets up everything in one command: a virtualenv in .venv with torch and the project (editable,
# with the test tools). Set TORCH_INDEX_URL to install torch from another wheel index, e.g. the
# CPU-only builds, which are much smaller than the default CUDA ones.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "clip-search-bot needs Python 3.11 or newer" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install --quiet ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
  "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/pip install --quiet -e ".[dev]"
echo "ready: .venv/bin/python -m indexer demo"
