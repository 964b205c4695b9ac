"""The contenders, each one subprocess on the same grid files, each returning one measurement:
wall seconds (engine load apart where the contender reports it), requests, output tokens, accuracy.

Every contender runs the same model with the same engine options (read from the Crossover run's own
rung status), greedy, the same stop strings and generation budget.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import yaml

from bench.grid import MAX_TOKENS, MC_MAX_TOKENS, SHOTS, Grid

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
LMEVAL = ROOT / "bench" / ".venv" / "bin" / "lm_eval"


class ContenderError(RuntimeError):
    """A contender's command failed; the message names it and ends with its log's last line."""


def timed(cmd: list[str], log: Path, env: Optional[dict[str, str]] = None, replace: bool = False) -> float:
    """Run ``cmd`` with its output in ``log``; its wall seconds. A failure raises ContenderError.
    ``env`` adds to the environment, or is all of it with ``replace``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                               env=dict(env or {}) if replace else {**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    if code != 0:
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
        raise ContenderError(f"{cmd[2] if len(cmd) > 2 else cmd[0]} exited {code}: {tail[0] if tail else ''} "
                             f"(log: {log})")
    return wall


def experiment(grid: Grid, work: Path, mc: bool, models: str) -> Path:
    """The Crossover experiment for one grid: one exemplar draw, 8 shots, greedy, the bench's budget."""
    path = work / ("exp_mc.yaml" if mc else "exp_gen.yaml")
    exp = {"tasks": [str(grid.mc_spec if mc else grid.gen_spec)], "strategies": ["few_shot"] if mc else ["cot"],
           "baseline": "few_shot", "models": models, "n": grid.n_mc if mc else grid.n_items, "seed": grid.seed,
           "exemplar_seeds": [0], "shots": SHOTS,
           "sampling": {"temperature": 0.0, "max_tokens": MC_MAX_TOKENS if mc else MAX_TOKENS}}
    path.write_text(yaml.safe_dump(exp, sort_keys=False), encoding="utf-8")
    return path


def crossover(grid: Grid, work: Path, tag: str, mc: bool, models: str) -> dict[str, Any]:
    """Contender 1: `make run`'s path end to end (supervisor, rung worker, store, scoring, report)."""
    runs = work / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    before = set(runs.glob("*")) if runs.exists() else set()
    wall = timed([PY, "-m", "toolkit", "--runs-dir", str(runs), "run", "--config",
                  str(experiment(grid, work, mc, models))], work / f"{tag}.log")
    (run_dir,) = set(runs.glob("*")) - before
    (rung,) = json.loads((run_dir / "rungs.json").read_text())
    t = rung.get("timings") or {}
    records = [r for r in map(json.loads, (run_dir / "records.jsonl").read_text().splitlines())
               if r.get("prompt")]
    return {"wall_s": wall, "load_s": t.get("load_s"), "generate_s": t.get("generate_s"),
            "requests": len(records), "output_tokens": sum(r.get("n_tokens") or 0 for r in records),
            "accuracy": _accuracy(records, mc), "run_dir": str(run_dir),
            "engine": (t.get("engine") or {}).get("base"), "engine_env": (t.get("engine_env") or {}).get("base") or {}}


def _accuracy(records: list[dict], mc: bool) -> dict[str, float]:
    """Per strategy: exact match of the generated answer; for the MC grid also the letter-probability
    grade (argmax over the options at the answer token), which is what lm-eval's acc measures."""
    out: dict[str, float] = {}
    for strat in sorted({r["strategy"] for r in records}):
        rs = [r for r in records if r["strategy"] == strat]
        out[strat] = sum(bool(r.get("correct")) for r in rs) / len(rs)
        if mc:
            out[f"{strat}_mc_grade"] = sum(bool((r.get("metrics") or {}).get("mc_correct")) for r in rs) / len(rs)
    return out


def prompts_file(run_dir: str, out: Path) -> Path:
    """Exactly what Crossover sent: each record's prompt with its budget, stop strings and the top
    logprobs every answer request asks for (the answer's log-probability is a stored metric)."""
    from toolkit.core.strategy import ANSWER_LOGPROBS

    rows = []
    for line in (Path(run_dir) / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("prompt"):
            rows.append({"prompt": r["prompt"], "max_tokens": MAX_TOKENS, "stop": ["\nQ:", "\n\nQ:"],
                         "logprobs": ANSWER_LOGPROBS, "strategy": r["strategy"]})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out


def raw_vllm(prompts: Path, engine: dict[str, Any], env: dict[str, str], work: Path, tag: str) -> dict[str, Any]:
    """Contender 2: one LLM.generate over Crossover's prompts (bench/raw_vllm.py), with the engine
    options and vLLM environment Crossover's rung ran with (``env={}``: vLLM's own defaults)."""
    eng, out = work / f"{tag}.engine.json", work / f"{tag}.json"
    eng.write_text(json.dumps(engine), encoding="utf-8")
    clean = _without_vllm_env()
    wall = timed([PY, "-m", "bench.raw_vllm", str(prompts), str(eng), str(out)], work / f"{tag}.log",
                 env={**clean, **env}, replace=True)
    res = json.loads(out.read_text())
    return {"wall_s": wall, "load_s": res["load_s"], "generate_s": res["generate_s"],
            "requests": res["requests"], "output_tokens": res["output_tokens"], "completions": res["completions"]}


def lmeval(grid: Grid, tasks: list[str], engine: dict[str, Any], env: dict[str, str], work: Path,
           tag: str) -> dict[str, Any]:
    """Contender 3: lm-evaluation-harness 0.4.x, its vLLM backend, on task YAMLs over the grid files,
    with Crossover's engine options (dtype, eager, context, memory) passed as model_args, as a user
    would. ``env``: the vLLM environment on top of vLLM's defaults (the bench passes the KV-cache size
    only; docs/performance.md also gives the figure with Crossover's whole environment)."""
    args = {"pretrained": engine["model"], "dtype": engine.get("dtype", "auto"),
            "max_model_len": engine.get("max_model_len"), "gpu_memory_utilization": engine.get("gpu_memory_utilization"),
            "enforce_eager": engine.get("enforce_eager", False), "seed": engine.get("seed", 0),
            "enable_prefix_caching": engine.get("enable_prefix_caching", True)}
    model_args = ",".join(f"{k}={v}" for k, v in args.items() if v is not None)
    out = work / tag
    wall = timed([str(LMEVAL), "--model", "vllm", "--model_args", model_args, "--tasks", ",".join(tasks),
                  "--include_path", str(grid.dir / "lmeval"), "--batch_size", "auto",
                  "--output_path", str(out), "--log_samples"], work / f"{tag}.log",
                 env={**_without_vllm_env(), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", **env}, replace=True)
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    samples = [json.loads(line) for p in out.rglob("samples_*.jsonl") for line in p.read_text().splitlines()]
    acc = {}
    for task in tasks:
        metrics = results["results"][task]
        acc[task] = next(v for k, v in metrics.items() if k.startswith(("exact_match,", "acc,")) and "stderr" not in k)
    return {"wall_s": wall, "load_s": None, "generate_s": None, "requests": _lmeval_requests(samples),
            "output_tokens": _count_tokens(engine["model"], _lmeval_texts(samples)), "accuracy": acc,
            "contexts": _lmeval_contexts(samples)}


def _lmeval_contexts(samples: list[dict]) -> list[str]:
    """The prompt text of every request lm-eval made (its context argument)."""
    return [args["arg_0"] for s in samples for args in (s.get("arguments") or {}).values()
            if isinstance(args, dict) and isinstance(args.get("arg_0"), str)]


def _without_vllm_env() -> dict[str, str]:
    """This environment less any vLLM setting, but with the KV-cache size every contender shares."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLLM_", "CROSSOVER_CPU"))}
    env["VLLM_CPU_KVCACHE_SPACE"] = os.environ.get("VLLM_CPU_KVCACHE_SPACE", "4")
    return env


def _lmeval_requests(samples: list[dict]) -> int:
    return sum(len(s.get("arguments") or {}) or 1 for s in samples)


def _lmeval_texts(samples: list[dict]) -> list[str]:
    """Generated texts (generate_until); a loglikelihood request generates none."""
    texts = []
    for s in samples:
        for resp in s.get("resps") or []:
            if resp and isinstance(resp[0], str):
                texts.append(resp[0])
    return texts


def _count_tokens(model_dir: str, texts: list[str]) -> int:
    if not texts:
        return 0
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return sum(len(tok.encode(t, add_special_tokens=False)) for t in texts)


def hf(prompts: Path, engine: dict[str, Any], work: Path, tag: str, subset: int) -> dict[str, Any]:
    """Contender 4: transformers batched generate on the first ``subset`` prompts of each strategy."""
    rows = [json.loads(line) for line in prompts.read_text().splitlines()]
    picked = [r for s in sorted({r["strategy"] for r in rows}) for r in [x for x in rows if x["strategy"] == s][:subset // 2]]
    sub, out = work / f"{tag}.prompts.jsonl", work / f"{tag}.json"
    sub.write_text("".join(json.dumps(r) + "\n" for r in picked), encoding="utf-8")
    dtype = engine.get("dtype") if engine.get("dtype") in ("float32", "bfloat16", "float16") else "float32"
    wall = timed([PY, "-m", "bench.hf_generate", str(sub), engine["model"], dtype, str(max(1, subset // 2)),
                  str(out)], work / f"{tag}.log")
    res = json.loads(out.read_text())
    return {"wall_s": wall, "load_s": res["load_s"], "generate_s": res["generate_s"],
            "requests": res["requests"], "output_tokens": res["output_tokens"], "extrapolated": True}

