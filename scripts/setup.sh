#!/usr/bin/env bash
# Sets up everything in one command: a virtualenv in .venv with torch and the project (editable,
# with the test tools, and the clip-search / clip-search-bot commands in .venv/bin). On a
# machine without an NVIDIA GPU it installs torch's CPU-only build from PyTorch's wheel index
# when that answers within a few seconds (a virtualenv of a fraction of the size), else the
# default build from the package index; it says which and why. TORCH_INDEX_URL picks the index
# itself. With --if-needed it returns at once when .venv already holds the project as
# pyproject.toml describes it now.
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

#: PyTorch's index of CPU-only wheels: no CUDA libraries (several GB) in the virtualenv.
cpu_index="https://download.pytorch.org/whl/cpu"

has_nvidia_gpu() {
  [ -e /proc/driver/nvidia/version ] || { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }
}

answers_soon() {
  "$python" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=5).close()
PY
}

if [ -n "${TORCH_INDEX_URL:-}" ]; then
  torch_index="$TORCH_INDEX_URL"
  echo "torch: from $torch_index (TORCH_INDEX_URL)"
elif has_nvidia_gpu; then
  torch_index=""
  echo "torch: the default build (with CUDA), since this machine has an NVIDIA GPU"
elif answers_soon "$cpu_index"; then
  torch_index="$cpu_index"
  echo "torch: the CPU-only build from $cpu_index (no NVIDIA GPU here)"
else
  torch_index=""
  echo "torch: the default build from the package index (no NVIDIA GPU here, but $cpu_index" \
    "did not answer within 5 s, so the CPU-only build cannot be had; TORCH_INDEX_URL picks another)"
fi

echo "setting up .venv (torch and the project; the first time takes a few minutes)"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet ${torch_index:+--index-url "$torch_index"} \
  "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install --quiet -e ".[dev]"
cksum < pyproject.toml > "$stamp"
echo "ready: scripts/run.sh starts the playground (or the bot), scripts/test.sh runs the tests"
