#!/usr/bin/env bash
# The GPU numbers of docs/BENCHMARKS.md in one run, for a machine with a CUDA device (on an
# H200 a few minutes from a cold start, set-up aside):
#   1. embedding throughput (benchmarks/embed.py) on cuda at fp32 and bf16, for the default
#      architecture xlm-roberta-base-ViT-B-32 and ViT-B-32, both at random weights;
#   2. fine-tuning on cuda: the tiny model on 88 captioned pictures (the test suite's careful
#      run) in fp32 and bf16 with its recall before and after, and ViT-B-32 (random weights) on
#      576 pairs in bf16 for its training speed.
# Usage, from anywhere:  bash benchmarks/gpu_check.sh
# It sets up .venv with scripts/setup.sh --if-needed; PYTHON=python3 uses a Python that
# already has the project's packages instead (a machine without network: carry the wheels).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
  bash scripts/setup.sh --if-needed
  PYTHON=.venv/bin/python
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PYTHON" -c 'import sys, torch
if not torch.cuda.is_available():
    sys.exit("error: torch sees no CUDA device here; this check needs one")
print("device:", torch.cuda.get_device_name(), "| torch", torch.__version__)'

echo "== 1. embedding on cuda (benchmarks/embed.py)"
"$PYTHON" -m benchmarks.embed --device cuda --precision fp32 bf16 \
  --models default ViT-B-32 --batches 1 32 256

echo "== 2. fine-tuning on cuda (python -m indexer finetune)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" - "$work" <<'EOF'
import sys
from pathlib import Path

from indexer.training.tiny_model import ensure_tiny_model
from tests.conftest import CACHE_DIR
from tests.local_names import group_pairs, write_pairs_file

work = Path(sys.argv[1])
write_pairs_file(work / "small" / "pairs.csv", group_pairs(per_name=16, everyday=56, seed=11))
write_pairs_file(work / "large" / "pairs.csv", group_pairs(per_name=64, everyday=448, seed=12))
(work / "tiny").write_text(str(ensure_tiny_model(CACHE_DIR)))
EOF

finetune() {  # NAME ARCH_LINES PAIRS ARGS...: one run, then one line from its card
  local name=$1 model=$2 pairs=$3
  shift 3
  printf '[model]\n%s\n[storage]\ndata_dir = "%s/data"\n' "$model" "$work" >"$work/$name.toml"
  "$PYTHON" -m indexer --config "$work/$name.toml" finetune --pairs "$pairs" \
    --out "$work/$name.pt" "$@" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  "$PYTHON" - "$work/$name.json" "$name" <<'EOF'
import json, sys
card = json.load(open(sys.argv[1]))
h, t = card["hyperparameters"], card["trained_with"]
steps = h["epochs_run"] * h["steps_per_epoch"]
held = card["held_out"]
recall = lambda side: held[side]["text_to_image"]["R@1"] if side in held else None
print(f"{sys.argv[2]}: {t['device']} {t['precision']}, {steps} steps of {h['batch_size']}, "
      f"{card['train_seconds']} s training ({steps * h['batch_size'] / card['train_seconds']:.0f} "
      f"pairs/s, held-out evaluation included), held-out text->image R@1 "
      f"{recall('before')} -> {recall('after')}, total {card['total_seconds']} s")
EOF
}

tiny="arch = \"tiny-clip-rn48\"
checkpoint = \"$(cat "$work/tiny")\""
careful=(--epochs 20 --batch-size 16 --lr 3e-4 --lock-image --held-out 0.2)
finetune tiny-cpu-fp32 "$tiny" "$work/small/pairs.csv" "${careful[@]}"
finetune tiny-cuda-fp32 "$tiny
device = \"cuda\"" "$work/small/pairs.csv" "${careful[@]}"
finetune tiny-cuda-bf16 "$tiny
device = \"cuda\"
precision = \"bf16\"" "$work/small/pairs.csv" "${careful[@]}"
finetune vit-b-32-cuda-bf16 "arch = \"ViT-B-32\"
pretrained = \"\"
device = \"cuda\"
precision = \"bf16\"" "$work/large/pairs.csv" --epochs 2 --batch-size 64 --held-out 0.1
