"""The vLLM backend. Unit tests of its pure helpers (no vLLM needed), then ``integration`` tests
of the real engine on a tiny random Llama (CPU, ~75 s): every request answered, failures isolated
per request, greedy text identical to transformers' greedy generate.

vLLM is run in a subprocess (``python -m toolkit.backends.testing``): its engine starts with ``spawn``,
which needs a ``__main__``-guarded entry point, and the test process stays free of vLLM.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.backends import vllm as vb
from toolkit.core.config import Ladder
from toolkit.backends.testing import build_tiny_model
from toolkit.core.types import Request

integration = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
CHAT = "<s>User: {{ messages[0]['content'] }}\nAssistant:"
ENGINE = {"enforce_eager": True, "dtype": "float32", "max_model_len": 1024}  # eager: no compile wait


def requests() -> list[dict]:
    reqs = [{"key": f"q{i}", "prompt": f"Q: What is {i} plus {i + 1}?\nA:", "max_tokens": 4 + i}
            for i in range(7)]
    reqs += [
        {"key": "logprobs", "prompt": "Q: Pick A or B.\nA:", "max_tokens": 3, "top_logprobs": 2},
        {"key": "stop", "prompt": "Q: 1, 2, 3?\nA:", "max_tokens": 30, "stop": ["2", "@"]},
        {"key": "chat", "prompt": "Say hi.", "max_tokens": 6, "chat": True},
        {"key": "plain", "prompt": "Say hi.", "max_tokens": 6, "chat": False},
        {"key": "too_long", "prompt": "x" * 1500, "max_tokens": 4},
    ]
    return reqs


def run_job(tmp_path: Path, model: Path, engine: dict, log=None) -> subprocess.CompletedProcess:
    job = {"ladder": {"name": "tiny", "family": "tiny", "engine": engine,
                      "rungs": [{"name": "tiny", "model": str(model), "params": 1}]},
           "rung": "tiny", "requests": requests()}
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
           "CROSSOVER_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "toolkit.backends.testing", str(tmp_path / "job.json"),
                           str(tmp_path / "out.jsonl")], cwd=ROOT, env=env,
                          stdout=log or subprocess.PIPE, stderr=log or subprocess.PIPE, text=True, timeout=300)


# ---- pure helpers: no engine -------------------------------------------------------------------

def test_engine_options_overlay_and_defaults(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 1024}))
    lad = Ladder(name="l", family="f", engine={"dtype": "bfloat16", "seed": 3},
                 rungs=[{"name": "a", "model": "m", "params": 1, "engine": {"dtype": "float32"}}])
    opts = vb.engine_options(lad, lad.rungs[0], str(tmp_path), on_cpu=True)
    assert opts == {"enable_prefix_caching": True, "seed": 3, "dtype": "float32",
                    "max_model_len": 1024, "gpu_memory_utilization": 0.5, "enable_chunked_prefill": False}
    gpu = vb.engine_options(lad, lad.rungs[0], str(tmp_path / "none"), on_cpu=False)
    assert gpu["max_model_len"] == vb.DEFAULT_MAX_MODEL_LEN and "gpu_memory_utilization" not in gpu


def test_cpu_dtype_keeps_float32_and_honours_the_override(monkeypatch):
    import torch

    monkeypatch.delenv("CROSSOVER_CPU_DTYPE", raising=False)
    assert vb.cpu_dtype("float32") == "float32" and vb.cpu_dtype(None) is None
    native = torch.cpu._is_avx512_bf16_supported()
    assert vb.cpu_dtype("bfloat16") == ("bfloat16" if native else "float32")
    monkeypatch.setenv("CROSSOVER_CPU_DTYPE", "bfloat16")
    assert vb.cpu_dtype("float32") == "bfloat16"


def test_output_id_strips_the_engines_random_suffix():
    assert vb.output_id("12-3f9a0c1d") == "12" and vb.output_id("7") == "7"
    assert vb.output_id("crossover-1") == "crossover-1"


def test_request_seed_depends_on_key_only():
    assert vb.request_seed(0, "a") == vb.request_seed(0, "a") != vb.request_seed(0, "b")
    assert vb.request_seed(1, "a") != vb.request_seed(0, "a")


class LP:
    def __init__(self, logprob, rank, token):
        self.logprob, self.rank, self.decoded_token = logprob, rank, token


class Out:
    def __init__(self, finish_reason="length", logprobs=None):
        self.prompt_token_ids = [1, 2, 3]
        self.outputs = [type("C", (), {"text": "ab", "token_ids": [7, 8], "finish_reason": finish_reason,
                                       "logprobs": logprobs})()]


def test_to_completion_maps_logprobs_to_top_k_texts():
    # Position 2: the sampled token (8) is rank 3, outside the top 2, as vLLM may report it.
    lps = [{7: LP(-0.1, 1, "a"), 9: LP(-2.5, 2, "z")},
           {5: LP(-0.2, 1, "x"), 6: LP(-0.9, 2, "y"), 8: LP(-1.5, 3, "b")}]
    c = vb.to_completion(Request(key="k", prompt="p", max_tokens=2, top_logprobs=2), Out("length", lps), "p", 0.5)
    assert (c.status, c.finish_reason, c.n_prompt_tokens, c.n_tokens) == ("ok", "length", 3, 2)
    assert c.token_logprobs == [-0.1, -1.5]
    assert c.top_logprobs == [{"a": -0.1, "z": -2.5}, {"x": -0.2, "y": -0.9}]
    aborted = vb.to_completion(Request(key="k", prompt="p", max_tokens=2), Out("abort"), "p", 0.1)
    assert aborted.status == "engine_error" and "abort" in aborted.error and aborted.token_logprobs is None


def test_engine_log_cause_reads_the_first_exception_after_the_offset(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("old: ValueError: from an earlier load\n")
    start = log.stat().st_size
    with open(log, "a") as f:
        f.write("(Worker pid=1) ERROR [x.py:1] WorkerProc failed to start.\n"
                "(Worker pid=1) ERROR [x.py:1] safetensors.SafetensorError: invalid header\n"
                "Exception: WorkerProc initialization failed. See stack trace for root cause.\n")
    assert vb._engine_log_cause({str(log): start}) == " | engine log: safetensors.SafetensorError: invalid header"
    assert vb._engine_log_cause({}) == ""


def test_cause_chain_is_one_line():
    try:
        try:
            raise ValueError("inner\n  detail")
        except ValueError as e:
            raise RuntimeError("outer") from e
    except RuntimeError as e:
        assert vb._cause_chain(e) == "RuntimeError: outer <- ValueError: inner detail"


# ---- the real engine ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vllm")
    model = build_tiny_model(tmp / "tiny", seed=0, chat_template=CHAT)
    proc = run_job(tmp, model, ENGINE)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [json.loads(line) for line in (tmp / "out.jsonl").read_text().splitlines()]
    return model, {d["key"]: d["completion"] for d in lines}, len(lines)


@integration
def test_every_request_gets_exactly_one_completion(result):
    _, got, n_lines = result
    assert n_lines == len(requests()) and set(got) == {r["key"] for r in requests()}
    for r in requests():
        c = got[r["key"]]
        if r["key"] == "too_long":
            assert c["status"] == "engine_error" and "maximum context length" in c["error"]
            continue
        assert c["status"] == "ok", c
        assert c["finish_reason"] in ("stop", "length")
        assert 0 < c["n_tokens"] <= r["max_tokens"] and c["n_prompt_tokens"] > 0
        assert c["latency_s"] > 0


@integration
def test_logprobs_stop_and_chat(result):
    _, got, _ = result
    lp = got["logprobs"]
    assert len(lp["token_logprobs"]) == lp["n_tokens"] == len(lp["top_logprobs"])
    assert all(len(top) == 2 for top in lp["top_logprobs"])
    assert all(t <= 0 for t in lp["token_logprobs"])
    assert got["q0"]["token_logprobs"] is None  # no logprobs unless asked
    assert "2" not in got["stop"]["text"] and "@" not in got["stop"]["text"]
    assert got["chat"]["prompt"] == "<s>User: Say hi.\nAssistant:"
    # The template writes <s> itself: 1 BOS + 23 characters, not a second BOS.
    assert got["chat"]["n_prompt_tokens"] == 1 + len("User: Say hi.\nAssistant:")
    assert got["plain"]["prompt"] == "Say hi." and got["plain"]["n_prompt_tokens"] == 1 + len("Say hi.")


@integration
def test_greedy_matches_transformers(result):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir, got, _ = result
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    by_key = {r["key"]: r for r in requests()}
    for key in ("q0", "q3", "q6", "logprobs", "chat"):
        c, r = got[key], by_key[key]
        ids = tok(c["prompt"], add_special_tokens=not r.get("chat"), return_tensors="pt").input_ids
        assert ids.shape[1] == c["n_prompt_tokens"]
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=r["max_tokens"],
                             do_sample=False)
        assert tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True) == c["text"], key


@integration
def test_engine_load_failure_keeps_vllm_cause(tmp_path, result):
    model_dir, _, _ = result
    proc = run_job(tmp_path, model_dir, {**ENGINE, "max_model_len": 100_000})
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendLoadError" in last and "max_model_len" in last


@integration
def test_engine_process_failure_names_the_root_cause(tmp_path, result):
    """A failure inside vLLM's engine process reaches us as "see root cause above"; with stdout and
    stderr going to a log file (as the worker's do) the backend reads the cause back into its message."""
    model_dir, _, _ = result
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in model_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes()[:1000] if f.name == "model.safetensors" else f.read_bytes())
    log = tmp_path / "worker.log"
    with open(log, "w") as err:
        proc = run_job(tmp_path, bad, ENGINE, log=err)
    assert proc.returncode != 0
    last = log.read_text().strip().splitlines()[-1]
    assert "BackendLoadError" in last and "SafetensorError" in last


@integration
def test_tiny_model_is_deterministic_for_a_seed(tmp_path):
    a = build_tiny_model(tmp_path / "a", seed=1)
    b = build_tiny_model(tmp_path / "b", seed=1)
    c = build_tiny_model(tmp_path / "c", seed=2)
    weights = [(p / "model.safetensors").read_bytes() for p in (a, b, c)]
    assert weights[0] == weights[1] != weights[2]
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_tensor_parallel_size_is_the_fewest_gpus_that_hold_the_rung():
    gib = 2**30
    assert vb.tensor_parallel_size(494_000_000, "bfloat16", 0.9, 1, 80 * gib) == 1
    assert vb.tensor_parallel_size(32_800_000_000, "bfloat16", 0.9, 8, 80 * gib) == 2
    assert vb.tensor_parallel_size(72_700_000_000, "bfloat16", 0.9, 8, 80 * gib) == 4
    with pytest.raises(vb.BackendLoadError, match="4 GPUs .* 1 are visible"):
        vb.tensor_parallel_size(72_700_000_000, "bfloat16", 0.9, 1, 80 * gib)
    lad = Ladder(name="l", family="f", rungs=[{"name": "a", "model": "m", "params": 72_700_000_000}])
    assert vb.engine_options(lad, lad.rungs[0], "/none", on_cpu=False, gpus=(8, 80 * gib))["tensor_parallel_size"] == 4
    mine = Ladder(name="l", family="f", rungs=[{"name": "a", "model": "m", "params": 72_700_000_000,
                                                "engine": {"tensor_parallel_size": 8}}])
    assert vb.engine_options(mine, mine.rungs[0], "/none", on_cpu=False, gpus=(1, gib))["tensor_parallel_size"] == 8
