#!/usr/bin/env bash
# GPU smoke test: on a CUDA machine with the `vllm` package (make setup installs it there), run a
# 2-rung sweep twice — in-process (backend vllm) and through Crossover-started servers (backend
# vllm-serve) — on a small model, then print tokens/s per rung and how far the two agree.
#
#   bash scripts/gpu_smoke.sh                  # SmolLM2-135M and -360M from the hub (or its cache)
#   MODEL_A=/path/a MODEL_B=/path/b bash scripts/gpu_smoke.sh    # local checkpoints, no hub
#
# Needs: nvidia-smi, a venv from `make setup` (PY), hub access or local checkpoints. Writes only
# under runs/ (and a temp folder for the two ladders).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODEL_A=${MODEL_A:-HuggingFaceTB/SmolLM2-135M}
MODEL_B=${MODEL_B:-HuggingFaceTB/SmolLM2-360M}
N=${N:-50}
REPLICAS=${REPLICAS:-1}

command -v nvidia-smi >/dev/null || { echo "gpu_smoke: no nvidia-smi: this is not a CUDA machine" >&2; exit 2; }
"$PY" - <<'PY' || exit 2
import sys, torch, vllm
if not torch.cuda.is_available():
    sys.exit("gpu_smoke: torch sees no CUDA device (is the CPU build installed? run make setup on the GPU machine)")
print(f"gpu_smoke: vllm {vllm.__version__}, torch {torch.__version__}, {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}")
PY

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for backend in vllm vllm-serve; do
  cat > "$work/$backend.yaml" <<YAML
name: gpu-smoke-$backend
family: SmolLM2
backend: $backend
replicas: $REPLICAS
engine: {dtype: bfloat16, max_model_len: 4096}
rungs:
  - {name: a, model: $MODEL_A, params: 134515008}
  - {name: b, model: $MODEL_B, params: 361821120}
YAML
done

declare -A RUNS
for backend in vllm vllm-serve; do
  echo "== backend $backend"
  "$PY" -m toolkit run --models "$work/$backend.yaml" --strategy cot --tasks addition,last_letters \
      --n "$N" --exemplar-seeds 0 | tail -n 3
  RUNS[$backend]=$(ls -td runs/*/ | head -1)
done

"$PY" - "${RUNS[vllm]}" "${RUNS[vllm-serve]}" <<'PY'
import json, sys
from pathlib import Path
from toolkit.analysis.agreement import compare_runs
for run in sys.argv[1:]:
    for r in json.loads((Path(run) / "rungs.json").read_text()):
        t = r.get("timings") or {}
        gen = t.get("generate_s") or 0
        print(f"{run.split('/')[-2]:40s} rung {r['name']}: {r['status']}, load {t.get('load_s', 0):.1f} s, "
              f"{t.get('requests', 0)} requests, {t.get('output_tokens', 0) / gen if gen else 0:.0f} output tok/s")
a = compare_runs(Path(sys.argv[1]), Path(sys.argv[2]))
print(f"agreement in-process vs vllm-serve: {a['same_completion']}/{a['paired']} completions, "
      f"{a['same_correct']}/{a['paired']} correct")
PY
