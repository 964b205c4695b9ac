"""Train one rung of the zoo: the model recipe, a plain PyTorch loop, and the files a rung is.

The recipe (the same at every size; only ``hidden`` and ``layers`` change):

* Hugging Face ``LlamaForCausalLM``: RMSNorm, rotary positions (theta 10000), SwiGLU MLP, no biases;
* head_dim 32 (so ``heads = hidden / 32``; vLLM-CPU's attention needs head_dim in {32, 64, 80, ...}),
  full multi-head attention (``kv_heads = heads``);
* ``intermediate = 8/3 * hidden`` rounded up to a multiple of 64 (Llama's ratio);
* untied input and output embeddings over the 101-token character vocabulary of
  :mod:`toolkit.backends.testing` (so nearly every parameter is a non-embedding one);
* ``max_position_embeddings = seq_len``: the model is never asked about positions it did not train on.

Training: AdamW (betas 0.9/0.95, weight decay 0.1 on matrices only), linear warmup then cosine decay to
10% of the peak learning rate, gradient clipping at 1.0, bf16 autocast on CPU with fp32 master weights,
``torch.manual_seed(seed)`` before the initialisation, 1 thread per rung (two rungs side by side).
Every rung reads the same token stream (:mod:`toolkit.zoo.corpus`) from its start, so the smaller
budgets see a prefix of the larger.

A rung directory: ``config.json``, ``generation_config.json``, ``model.safetensors`` (bf16), the
tokenizer files, ``loss.csv`` (step, tokens, loss, lr, seconds) and ``manifest.json``.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from toolkit.zoo import FAMILY, ZOO_DIR
from toolkit.zoo.corpus import IGNORE, VOCAB, Recipe, batches
from toolkit.zoo.manifest import write_manifest

HEAD_DIM = 32
#: context window of every rung, in tokens (characters + BOS/EOS): an 8-shot prompt of every
#: task x strategy and its generation budget fit (the longest, program_trace's 8-shot scratchpad, ~6000)
SEQ_LEN = 6144
#: exemplars per training document: 0..MAX_SHOTS (the default experiment shows 8), weighted by
#: SHOT_WEIGHTS towards short documents: they train in short rows (~1.5x the tokens/s of 2048-token
#: rows) and give more steps of practice at reading the question; 8-shot documents still keep a share
MAX_SHOTS = 8
SHOT_WEIGHTS = (4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0)
#: the curriculum (see Recipe.short_first): the first SHORT_FIRST tokens are addition only (Nye et
#: al.'s task) with 0 or 1 exemplars; of them the first LEAD_TOKENS are the scratchpad alone, its
#: problems 1 digit long first, then 2, then 3, then up to 8 (DIFFICULTY_RAMP); then every addition
#: format (SHORT_STRATEGIES); then every task in every format, up to MAX_SHOTS exemplars. Why, measured
#: on zoo-l (docs/zoo.md): the scratchpad's column sums are read from two digits a line back; on 1-8
#: digit problems from the start a 4M rung sat at chance on them for 2M tokens, on 1-3 digit ones it
#: learned them in 1 seed of 3; 1-digit problems first (where the digits sit at fixed places) and then
#: 2 and 3, it learned them in both seeds that had failed
SHORT_FIRST = 3_300_000
SHORT_TASKS = (("addition", 1.0),)
LEAD_TOKENS = 2_600_000
LEAD_STRATEGIES = (("scratchpad", 1.0),)
DIFFICULTY_RAMP = ("addition", "digits", ((550_000, 1), (551_000, 2), (1_100_000, 2), (1_101_000, 3),
                                          (1_600_000, 3), (2_500_000, 8)))
#: the short phase's formats: mostly the rationales (CoT, zero-shot stage 1): with CoT 2 and stage 1
#: 3 zoo-l wrote one column of the zero-shot rationale and stopped (0%); 4 and 8 here, with the mixed
#: phase's STRATEGY_WEIGHTS, gave zero-shot CoT 26% and CoT 29% (docs/zoo.md, fourth attempt)
SHORT_STRATEGIES = (("scratchpad", 1.0), ("cot", 4.0), ("few_shot", 1.0), ("zero_shot_cot_stage1", 8.0),
                    ("zero_shot_cot", 1.0))
#: the context ramp, (tokens, longest document in characters) knots: the addition phase's documents
#: (up to ~1,000 characters), then 8-shot ones (up to SEQ_LEN) brought in over the start of the
#: mixed phase (0.4M tokens). Rotary positions a rung never trained on break it (loss 0.015 -> 2.9 the step
#: documents 2.7x as long as any before arrived), so positions come a few at a time
CONTEXT_RAMP = ((SHORT_FIRST, 1000), (SHORT_FIRST + 400_000, SEQ_LEN))
#: token positions per optimizer step (rows of one length; a longer row alone): small batches, many
#: steps, which is what a few million tokens need (8192 reached a far higher loss on the same tokens)
BATCH_TOKENS = 1024
#: share of the budget spent warming the learning rate up
WARMUP = 0.03
SEED = 0
LOG_EVERY = 5
#: held-out loss: VAL_BATCHES batches of VAL_BATCH_TOKENS positions of eval-partition documents
VAL_BATCHES, VAL_BATCH_TOKENS = 4, 8192


@dataclass(frozen=True)
class Spec:
    """One rung: its width and depth, its token budget and its peak learning rate."""

    name: str
    hidden: int
    layers: int
    tokens: int
    lr: float

    @property
    def heads(self) -> int:
        return self.hidden // HEAD_DIM

    @property
    def intermediate(self) -> int:
        return -(-8 * self.hidden // (3 * 64)) * 64


#: the ladder, smallest first. Same token budget for every rung: a pure size ladder. Measured on the
#: 2-core machine, two rungs side by side on one thread each: 167 s, 426 s, 837 s, 1,399 s (1,454 s in all).
TOKENS = 4_600_000
RUNGS: tuple[Spec, ...] = (
    Spec("zoo-xs", hidden=64, layers=2, tokens=TOKENS, lr=1e-3),
    Spec("zoo-s", hidden=128, layers=3, tokens=TOKENS, lr=6e-4),
    Spec("zoo-m", hidden=192, layers=4, tokens=TOKENS, lr=5e-4),
    Spec("zoo-l", hidden=256, layers=5, tokens=TOKENS, lr=5e-4),
)


def spec(name: str) -> Spec:
    for s in RUNGS:
        if s.name == name:
            return s
    raise KeyError(f"unknown rung {name!r}; rungs: {', '.join(s.name for s in RUNGS)}")


def recipe() -> Recipe:
    return Recipe(seed=SEED, seq_len=SEQ_LEN, max_shots=MAX_SHOTS, shot_weights=SHOT_WEIGHTS,
                  short_first=SHORT_FIRST, short_tasks=SHORT_TASKS, short_strategies=SHORT_STRATEGIES,
                  lead_tokens=LEAD_TOKENS, lead_strategies=LEAD_STRATEGIES, context_ramp=CONTEXT_RAMP,
                  difficulty_ramp=DIFFICULTY_RAMP,
                  batch_tokens=BATCH_TOKENS)


def llama_config(s: Spec, seq_len: int = SEQ_LEN) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(VOCAB), hidden_size=s.hidden, intermediate_size=s.intermediate,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.heads,
        head_dim=HEAD_DIM, max_position_embeddings=seq_len, rope_theta=10000.0, rms_norm_eps=1e-5,
        initializer_range=0.02, hidden_act="silu", attention_bias=False, mlp_bias=False,
        bos_token_id=VOCAB["<s>"], eos_token_id=VOCAB["</s>"], pad_token_id=VOCAB["<pad>"],
        tie_word_embeddings=False, dtype="bfloat16")


def count_params(model: Any) -> tuple[int, int]:
    """(total, non-embedding): the input embedding and the output head are the embedding params."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel() + model.get_output_embeddings().weight.numel()
    return total, total - emb


def lr_at(done: float, peak: float) -> float:
    """The learning rate when a fraction ``done`` of the token budget is spent: linear warmup over
    WARMUP, then cosine decay to 10% of the peak at the end of the budget."""
    if done < WARMUP:
        return peak * max(done, 1e-3) / WARMUP
    progress = min(1.0, (done - WARMUP) / (1 - WARMUP))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(s: Spec, out_dir: Optional[Path] = None, tokens: Optional[int] = None, threads: int = 1,
          log: Any = sys.stdout) -> dict[str, Any]:
    """Train rung ``s`` on its token budget (or ``tokens``) and write its directory; the manifest."""
    import torch
    import transformers
    from transformers import GenerationConfig, LlamaForCausalLM

    from toolkit.backends.testing import build_char_tokenizer

    out_dir = Path(out_dir or ZOO_DIR / s.name)
    budget = int(tokens or s.tokens)
    rec = recipe()
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(llama_config(s))  # fp32 master weights; autocast computes in bf16
    model.config.use_cache = False
    model.train()
    total, non_emb = count_params(model)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=s.lr, betas=(0.9, 0.95), eps=1e-8)
    recipe_hash = rec.sha256()
    print(f"[zoo] {s.name}: {total:,} params ({non_emb:,} non-embedding), budget {budget:,} tokens in batches "
          f"of {BATCH_TOKENS} positions, context {rec.seq_len}, lr {s.lr}, recipe {recipe_hash[:12]}",
          file=log, flush=True)

    stream = batches(rec)
    token_hash = hashlib.sha256()
    seen = positions = step = 0  # real (non-padding) tokens trained on; positions include padding
    curve: list[dict[str, Any]] = []
    window: list[float] = []
    t0 = time.perf_counter()
    while seen < budget:
        batch = next(stream)
        ids = torch.tensor(batch.rows, dtype=torch.long)
        token_hash.update(ids.numpy().astype("<i2").tobytes())
        labels = torch.tensor(batch.labels, dtype=torch.long)
        lr = lr_at(seen / budget, s.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        seen += batch.real_tokens
        positions += ids.numel()
        step += 1
        window.append(float(loss.detach()))
        if step % LOG_EVERY == 0 or seen >= budget:
            elapsed = time.perf_counter() - t0
            curve.append({"step": step, "tokens": seen, "loss": round(sum(window) / len(window), 5),
                          "lr": round(lr, 8), "seconds": round(elapsed, 2)})
            window = []
            if step % (LOG_EVERY * 10) == 0 or seen >= budget:
                print(f"[zoo] {s.name} step {step} tokens {seen:,}/{budget:,} loss {curve[-1]['loss']:.4f} "
                      f"lr {lr:.2e} {elapsed:.0f}s ({seen / elapsed:,.0f} tok/s)", file=log, flush=True)
    train_s = time.perf_counter() - t0
    val = validation_loss(model, rec)
    tail = [c["loss"] for c in curve[-max(1, len(curve) // 20):]]
    final_loss = round(sum(tail) / len(tail), 5)
    print(f"[zoo] {s.name}: done in {train_s:.0f}s, final loss {final_loss:.4f}, held-out loss {val:.4f}",
          file=log, flush=True)

    # Write beside the target and swap in, so a crash never leaves half a rung.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model = model.to(torch.bfloat16).eval()
        model.config.use_cache = True
        model.generation_config = GenerationConfig(bos_token_id=VOCAB["<s>"], eos_token_id=VOCAB["</s>"],
                                                   pad_token_id=VOCAB["<pad>"])
        model.save_pretrained(tmp)
        build_char_tokenizer(tmp)
        _fix_model_max_length(tmp, rec.seq_len)
        with open(tmp / "loss.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", "tokens", "loss", "lr", "seconds"])
            w.writeheader()
            w.writerows(curve)
        manifest = write_manifest(tmp, {
            "name": s.name, "family": FAMILY, "synthetic": True, "architecture": "LlamaForCausalLM",
            "recipe": {"hidden": s.hidden, "layers": s.layers, "heads": s.heads, "kv_heads": s.heads,
                       "head_dim": HEAD_DIM, "intermediate": s.intermediate, "vocab": len(VOCAB),
                       "context": rec.seq_len, "tied_embeddings": False},
            "params": total, "non_embedding_params": non_emb,
            "train_tokens": seen, "token_budget": budget, "token_positions": positions,
            "flops": 6.0 * total * seen, "flops_formula": "6 * params * train_tokens",
            "seed": SEED,
            "corpus": {"recipe_sha256": recipe_hash, "tokens_sha256": token_hash.hexdigest(),
                       "recipe": rec.describe()},
            "training": {"steps": step, "batch_tokens": BATCH_TOKENS, "seq_len": rec.seq_len, "peak_lr": s.lr,
                         "warmup": f"{WARMUP:.0%} of the token budget, linear",
                         "schedule": "cosine over the token budget, to 10% of the peak",
                         "row_lengths": "length buckets (toolkit.zoo.corpus.batches)",
                         "optimizer": "AdamW(betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1 on matrices)",
                         "grad_clip": 1.0, "precision": "bf16 autocast, fp32 master weights",
                         "threads": threads, "seconds": round(train_s, 1),
                         "torch": torch.__version__, "transformers": transformers.__version__},
            "final_loss": final_loss, "heldout_loss": round(val, 5),
            "command": f"python -m toolkit.zoo train --rung {s.name}"
                       + (f" --tokens {budget}" if budget != s.tokens else ""),
        })
        tmp.chmod(0o755)  # mkdtemp makes it private; a rung directory is shared like any checkpoint
        for f in tmp.iterdir():
            f.chmod(0o644)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def validation_recipe(rec: Recipe) -> Recipe:
    """The recipe the held-out loss reads: ``rec`` without its curriculum (lead, short phase, ramps),
    i.e. the mixed phase's documents, in VAL_BATCH_TOKENS batches."""
    return dataclasses.replace(rec, batch_tokens=VAL_BATCH_TOKENS, short_first=0, lead_tokens=0,
                               difficulty_ramp=(), context_ramp=())


def validation_loss(model: Any, rec: Recipe) -> float:
    """Mean loss per trained-on token (the answers, with loss_on="answers") on VAL_BATCHES batches of
    documents built from the eval partition (never trained on), in the mixed phase's proportions:
    every task and format, up to 8 exemplars (the curriculum's lead would make it 1-digit scratchpads)."""
    import torch

    stream = batches(validation_recipe(rec), split="eval")
    model.eval()
    total = count = 0.0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for _ in range(VAL_BATCHES):
            b = next(stream)
            ids, labels = torch.tensor(b.rows, dtype=torch.long), torch.tensor(b.labels, dtype=torch.long)
            n = float((labels[:, 1:] != IGNORE).sum())
            total += float(model(input_ids=ids, labels=labels).loss) * n
            count += n
    model.train()
    return total / count


def _fix_model_max_length(model_dir: Path, seq_len: int) -> None:
    import json

    p = model_dir / "tokenizer_config.json"
    cfg = json.loads(p.read_text())
    cfg["model_max_length"] = seq_len
    p.write_text(json.dumps(cfg, indent=2) + "\n")
