"""Teacher-forced probe of the scratchpad's column sums: what ``docs/zoo.md`` reports per rung.

The scratchpad (Nye et al. 2021) writes each column's sum digit from two digits a line back without
writing them out; a model can copy every operand and still guess every sum, and exact match on whole
problems cannot tell a model that gets most sums right from one at chance. This probe feeds the gold
0-shot scratchpad document of random problems of each length (1-8 digits) and counts how often the
model's most likely next character at each sum digit is the right one (chance: 10%). Problems are drawn
from a seeded RNG of the probe's own (they may include evaluation inputs: the probe measures a
mechanism, not accuracy, and reports are never built from it).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from toolkit.core.config import Sampling
from toolkit.core.strategy import get_strategy
from toolkit.core.types import Item

LENGTHS = range(1, 9)


def sum_positions(gold: str, at: int) -> list[int]:
    """Character offsets (in prompt + gold) of each column's sum digit: the first result digit after
    ', ' on every trace line after the first (the new digit is written at the front)."""
    start = gold.index("<scratch>\n") + len("<scratch>\n")
    out, off = [], at + start
    for k, line in enumerate(gold[start:].split("\n")):
        if line.startswith("</scratch>"):
            break
        if k >= 1 and ", " in line and "C:" in line:
            out.append(off + line.index(", ") + 2)
        off += len(line) + 1
    return out


def column_sums(model_dir: Path, n: int = 40, seed: int = 7, threads: int = 1) -> dict[int, float]:
    """{digits: share of sum digits predicted right} over ``n`` problems per length."""
    import torch
    from transformers import LlamaForCausalLM

    from toolkit.tasks.addition import draft, operand
    from toolkit.zoo.corpus import BOS, VOCAB, task_shell

    torch.set_num_threads(threads)
    model: Any = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    st, task = get_strategy("scratchpad", 0, Sampling()), task_shell("addition")
    rng = random.Random(f"zoo-probe/{seed}")
    out = {}
    for d in LENGTHS:
        right = total = 0
        for _ in range(n):
            dr = draft(operand(rng, d), operand(rng, d))
            item = Item(id="p", input=dr.input, target=dr.target, rationale=dr.rationale, scratch=dr.scratch,
                        meta=dr.meta)
            prompt, gold = st.render(task, item, []), st.gold_completion(task, item)
            ids = [BOS] + [VOCAB[c] for c in prompt + gold]
            with torch.no_grad():
                best = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1)
            for q in sum_positions(gold, len(prompt)):
                total += 1
                right += int(best[q].item() == ids[q + 1])  # logits at q (BOS-shifted) predict character q
        out[d] = right / total
    return out
