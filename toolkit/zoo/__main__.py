"""``python -m toolkit.zoo train [--rung NAME ...] [--tokens N] [--out DIR]`` (``make zoo``),
``python -m toolkit.zoo list``, ``python -m toolkit.zoo corpus [--n N]``, ``python -m toolkit.zoo verify``,
``python -m toolkit.zoo probe [--rung NAME ... | --model DIR ...]`` (the scratchpad's column sums, teacher-forced)."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from toolkit.zoo import ZOO_DIR


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m toolkit.zoo", description="Crossover's own tiny model family.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train rungs (all by default) into models/zoo/<rung>")
    tr.add_argument("--rung", action="append", help="a rung name (repeatable); default: every rung")
    tr.add_argument("--tokens", type=int, help="token budget override (for a quick try; recorded)")
    tr.add_argument("--out", type=Path, help="parent directory instead of models/zoo")
    tr.add_argument("--threads", type=int, default=1,
                    help="torch threads per rung (default 1; the weights depend on it, the committed zoo used 1)")
    tr.add_argument("--jobs", type=int, default=2,
                    help="rungs trained at once, one process each, largest first (default 2: two 1-thread rungs "
                         "side by side gave 11-24%% more tokens/s than one 2-thread rung on 2 cores, docs/zoo.md)")
    sub.add_parser("list", help="the rungs, their recipe and budgets")
    co = sub.add_parser("corpus", help="print sample training documents and the token shares")
    co.add_argument("--n", type=int, default=4)
    co.add_argument("--split", default="train", choices=("train", "eval"))
    sub.add_parser("verify", help="check every rung's weights against its manifest")
    pr = sub.add_parser("probe", help="teacher-forced accuracy of the scratchpad's column sums by length (chance 10%%)")
    pr.add_argument("--rung", action="append", help="a committed rung (repeatable); default: every rung")
    pr.add_argument("--model", action="append", type=Path, help="a rung directory elsewhere (repeatable)")
    pr.add_argument("--n", type=int, default=40, help="problems per length (default 40)")
    args = ap.parse_args(argv)

    from toolkit.zoo import train as T

    if args.cmd == "list":
        for s in T.RUNGS:
            print(f"{s.name}: hidden {s.hidden}, layers {s.layers}, heads {s.heads}, intermediate "
                  f"{s.intermediate}, {s.tokens:,} tokens, lr {s.lr}")
        return 0
    if args.cmd == "corpus":
        from toolkit.zoo.corpus import documents, shares
        rec = T.recipe()
        for d in documents(rec, args.split, limit=args.n):
            print(f"===== {d.task} / {d.strategy} / {d.shots} shots =====\n{d.text}\n")
        print(json.dumps(shares(rec), indent=2))
        return 0
    if args.cmd == "verify":
        from toolkit.zoo.manifest import verify
        problems = [p for s in T.RUNGS for p in verify(ZOO_DIR / s.name)]
        print("\n".join(problems) or "ok")
        return 1 if problems else 0
    if args.cmd == "probe":
        return probe(args, T)
    names = args.rung or [s.name for s in T.RUNGS]
    try:
        specs = [T.spec(n) for n in names]
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    if args.jobs > 1 and len(specs) > 1:
        rc = train_in_parallel(specs, args)
    else:
        for s in specs:
            out = (args.out / s.name) if args.out else None
            T.train(s, out, tokens=args.tokens, threads=args.threads)
        rc = 0
    print(f"[zoo] {len(specs)} rung(s) in {time.perf_counter() - t0:.0f}s", flush=True)
    return rc


def probe(args: argparse.Namespace, T) -> int:
    from toolkit.zoo.probe import column_sums

    dirs = list(args.model or [])
    try:
        dirs += [ZOO_DIR / T.spec(n).name for n in (args.rung or ([] if dirs else [s.name for s in T.RUNGS]))]
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    for d in dirs:
        if not (d / "config.json").is_file():
            print(f"error: --model {d}: no config.json there; give a rung directory (models/zoo/<rung>)", file=sys.stderr)
            return 2
    for d in dirs:
        acc = column_sums(d, n=args.n)
        print(f"{d}: " + " ".join(f"{k}d {v:.0%}" for k, v in acc.items()), flush=True)
    return 0


def train_in_parallel(specs: list, args: argparse.Namespace) -> int:
    """Each rung in its own process (``--jobs`` at once, ``--threads`` each), largest first, so the
    longest rung starts at once and the others share the remaining cores. A rung's numbers depend only
    on its own thread count, never on what runs beside it, so this is as reproducible as one by one."""
    pending = sorted(specs, key=lambda s: s.hidden * s.hidden * s.layers * s.tokens, reverse=True)
    running: list[tuple[str, subprocess.Popen]] = []
    failed: list[str] = []
    while pending or running:
        while pending and len(running) < args.jobs:
            s = pending.pop(0)
            cmd = [sys.executable, "-m", "toolkit.zoo", "train", "--rung", s.name, "--threads", str(args.threads),
                   "--jobs", "1"]
            cmd += ["--tokens", str(args.tokens)] if args.tokens else []
            cmd += ["--out", str(args.out)] if args.out else []
            running.append((s.name, subprocess.Popen(cmd)))
        time.sleep(1)
        for name, proc in list(running):
            if proc.poll() is not None:
                running.remove((name, proc))
                if proc.returncode:
                    failed.append(name)
    if failed:
        print(f"error: rung(s) {', '.join(failed)} failed (their output is above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
