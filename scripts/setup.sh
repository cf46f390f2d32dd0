#!/usr/bin/env bash
# Sets up everything in one command: a virtualenv in .venv with torch and the project (editable,
# with the test tools, and the clip-search / clip-search-bot commands in .venv/bin). Set
# TORCH_INDEX_URL to install torch from another wheel index, e.g. the CPU-only builds, which
# are much smaller than the default CUDA ones. With --if-needed it returns at once when .venv
# already holds the project as pyproject.toml describes it now.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.setup-done
if [ "${1:-}" = "--if-needed" ] && [ -x .venv/bin/clip-search-bot ] \
  && [ "$(cat "$stamp" 2>/dev/null)" = "$(cksum < pyproject.toml)" ]; then
  exit 0
fi

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "clip-search-bot needs Python 3.11 or newer" >&2; exit 1; }

echo "setting up .venv (torch and the project; the first time takes a few minutes)"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
  "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install --quiet -e ".[dev]"
cksum < pyproject.toml > "$stamp"
echo "ready: scripts/run.sh starts the playground (or the bot), scripts/test.sh runs the tests"
