"""Model specs: one-line UserErrors for bad specs, local directories as-is, the bundled cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.core import models
from toolkit.core.errors import UserError
from toolkit.core.models import STAMP, check_model, resolve_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSOVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def checkpoint(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return path


def user_error(spec: str, field: str = "models.rungs[0].model") -> UserError:
    with pytest.raises(UserError) as info:
        check_model(spec, field)
    e = info.value
    assert "\n" not in str(e) and str(e).startswith(field + ":")
    return e


def test_missing_local_path_is_a_one_line_user_error(tmp_path):
    e = user_error(str(tmp_path / "nope"))
    assert "no such model directory" in e.hint and "bundled:smollm2-135m-instruct" in e.hint
    user_error("./checkpoints/nope")


def test_directory_without_config_json(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "config.json" in user_error(str(tmp_path / "empty")).hint


def test_unknown_bundled_name_suggests_the_close_one():
    e = user_error("bundled:smollm2-135m-instuct")
    assert "did you mean 'bundled:smollm2-135m-instruct'?" in e.hint


def test_hub_id_offline_without_a_cached_copy():
    assert "HF_HUB_OFFLINE" in user_error("HuggingFaceTB/SmolLM2-360M").hint


def test_hub_id_offline_with_a_cached_copy(tmp_path):
    snap = tmp_path / "hf" / "hub" / "models--org--name" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    check_model("org/name")


def test_hub_id_online_is_passed_through(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert resolve_model("org/name") == "org/name"


def test_resolve_local_dir_absolute_and_relative_to_repo_root(tmp_path):
    ckpt = checkpoint(tmp_path / "ckpt")
    assert resolve_model(str(ckpt)) == str(ckpt)
    rel = os.path.relpath(ckpt, ROOT)
    assert Path(resolve_model(rel)).resolve() == ckpt.resolve()


def test_bundled_reuses_a_finished_conversion(tmp_path, monkeypatch):
    done = checkpoint(tmp_path / "cache" / "models" / "smollm2-135m-instruct")
    (done / STAMP).write_text("x")
    monkeypatch.setattr(models, "_convert_gguf", lambda *a: pytest.fail("converted again"))
    assert resolve_model("bundled:smollm2-135m-instruct") == str(done)


def test_interrupted_conversion_leaves_no_target(tmp_path, monkeypatch):
    def boom(bundled, out):
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "_convert_gguf", boom)
    with pytest.raises(KeyboardInterrupt):
        resolve_model("bundled:smollm2-135m-instruct")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_check_model_imports_nothing_heavy(tmp_path):
    code = ("import sys; from toolkit.core.models import check_model; check_model(sys.argv[1]); "
            "check_model('bundled:smollm2-135m-instruct'); "
            "print(sorted(m for m in ('torch', 'vllm', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(checkpoint(tmp_path / "c"))], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_cli_prepare_reports_a_user_error():
    out = subprocess.run([sys.executable, "-m", "toolkit.core.models", "prepare", "bundled:nope"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "bundled:nope" in out.stderr


@pytest.mark.integration
def test_prepare_bundled_converts_once(tmp_path):
    """GGUF → safetensors + tokenizer that transformers loads (about 20 s on 2 cores)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "toolkit.core.models", "prepare", "bundled:smollm2-135m-instruct"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    path = Path(out.stdout.strip().splitlines()[-1])
    assert path == tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", STAMP} <= names
    assert "quantization_config" not in json.loads((path / "config.json").read_text())
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template and tok.encode("hi", add_special_tokens=False)


def test_hub_policy_keeps_bundled_ladders_offline_and_lets_hub_ladders_download(monkeypatch):
    from toolkit.core.config import load_ladder
    from toolkit.core.models import hub_models
    from toolkit.run.runner import hub_policy

    assert hub_models(load_ladder("zoo").rungs) == [] and hub_models(load_ladder("embedded").rungs) == []
    assert "Qwen/Qwen2.5-0.5B" in hub_models(load_ladder("qwen2.5").rungs)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub_policy(load_ladder("qwen2.5"))
    assert "HF_HUB_OFFLINE" not in os.environ  # a GPU machine with internet may download
    hub_policy(load_ladder("zoo"))
    assert os.environ["HF_HUB_OFFLINE"] == "1"
