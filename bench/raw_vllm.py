"""Contender 2: raw vLLM. ``LLM.generate`` once over exactly the prompts Crossover sent, read from a
run's records, with the same SamplingParams and the same engine options — the ceiling for
Crossover's own overhead.

    python -m bench.raw_vllm PROMPTS.jsonl ENGINE.json OUT.json

PROMPTS.jsonl: one {"prompt", "max_tokens", "stop", "logprobs"} per line. Prints nothing; OUT.json
gets load_s, generate_s, requests, output_tokens, prompt_tokens and the completions' sha256.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time


def main(prompts_path: str, engine_path: str, out_path: str) -> None:
    from vllm import LLM, SamplingParams

    rows = [json.loads(line) for line in open(prompts_path, encoding="utf-8") if line.strip()]
    engine = json.load(open(engine_path, encoding="utf-8"))
    t0 = time.perf_counter()
    llm = LLM(**engine)
    load_s = time.perf_counter() - t0
    params = [SamplingParams(temperature=0.0, max_tokens=r["max_tokens"], stop=r["stop"] or None,
                             logprobs=r.get("logprobs")) for r in rows]
    t0 = time.perf_counter()
    outs = llm.generate([r["prompt"] for r in rows], params, use_tqdm=False)
    generate_s = time.perf_counter() - t0
    texts = [o.outputs[0].text for o in outs]
    result = {"load_s": load_s, "generate_s": generate_s, "requests": len(rows),
              "output_tokens": sum(len(o.outputs[0].token_ids) for o in outs),
              "prompt_tokens": sum(len(o.prompt_token_ids) for o in outs),
              "completions_sha256": hashlib.sha256(json.dumps(texts).encode()).hexdigest(),
              "completions": texts}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
