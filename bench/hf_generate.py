"""Contender 4: HF transformers batched ``generate`` (greedy, left padding, the same stop strings and
budget) on a fixed subset of Crossover's prompts. Its per-item time is extrapolated to the grid by
the caller and labelled as such.

    python -m bench.hf_generate PROMPTS.jsonl MODEL_DIR DTYPE BATCH OUT.json
"""
from __future__ import annotations

import json
import sys
import time


def main(prompts_path: str, model_dir: str, dtype: str, batch: str, out_path: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = [json.loads(line) for line in open(prompts_path, encoding="utf-8") if line.strip()]
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    load_s = time.perf_counter() - t0
    size, out_tokens, texts = int(batch), 0, []
    t0 = time.perf_counter()
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        enc = tok([r["prompt"] for r in chunk], return_tensors="pt", padding=True)
        with torch.inference_mode():
            gen = model.generate(**enc, do_sample=False, max_new_tokens=max(r["max_tokens"] for r in chunk),
                                 stop_strings=chunk[0]["stop"], tokenizer=tok, pad_token_id=tok.pad_token_id)
        for row in gen[:, enc["input_ids"].shape[1]:]:
            ids = [t for t in row.tolist() if t != tok.pad_token_id]
            out_tokens += len(ids)
            texts.append(tok.decode(ids, skip_special_tokens=True))
    generate_s = time.perf_counter() - t0
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"load_s": load_s, "generate_s": generate_s, "requests": len(rows),
                   "output_tokens": out_tokens, "completions": texts}, f)


if __name__ == "__main__":
    main(*sys.argv[1:6])
