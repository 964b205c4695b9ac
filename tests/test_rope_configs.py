"""Every shipped ladder's checkpoints read through vLLM's own config path (no weights) keep the
RoPE settings their config.json gives (issue: transformers 5 moved ``rope_theta`` / ``rotary_pct``
into ``rope_parameters``; a reader of the old names would silently use the default base).

Local checkpoints (the zoo) are read as they are. Hub checkpoints cannot be fetched here (no hub
at test time): when one is not in the HF cache, a config in the family's legacy transformers-4
format (the format the hub files are in) with that family's RoPE fields stands in for it, so
what is tested is the conversion vLLM 0.32 + transformers 5.19 apply to such a file."""
import json
from pathlib import Path

import pytest
import yaml

from toolkit.core.models import BUNDLED_PREFIX, _hub_cached, local_path

pytestmark = pytest.mark.integration
LADDERS = Path(__file__).resolve().parent.parent / "configs" / "models"

#: hub id prefix → a legacy-format config of that family (RoPE fields as the family's hub files name them)
FAMILIES = {
    "HuggingFaceTB/SmolLM2-": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
                               "intermediate_size": 1536, "num_attention_heads": 9, "num_hidden_layers": 2,
                               "num_key_value_heads": 3, "max_position_embeddings": 8192, "rope_theta": 100000,
                               "vocab_size": 49152},
    "EleutherAI/pythia-": {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 512,
                           "intermediate_size": 2048, "num_attention_heads": 8, "num_hidden_layers": 2,
                           "max_position_embeddings": 2048, "rotary_pct": 0.25, "rotary_emb_base": 10000,
                           "vocab_size": 50304},
    "Qwen/Qwen2.5-": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
                      "intermediate_size": 4864, "num_attention_heads": 14, "num_hidden_layers": 2,
                      "num_key_value_heads": 2, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
                      "vocab_size": 151936},
}


def shipped_checkpoints():
    for path in sorted(LADDERS.glob("*.yaml")):
        lad = yaml.safe_load(path.read_text())
        for rung in lad["rungs"]:
            for spec in {rung["model"], rung.get("instruct_model") or rung["model"]}:
                if not spec.startswith(BUNDLED_PREFIX):  # the bundled GGUF has no config.json to compare
                    yield path.stem, spec


def expected_rope(cfg: dict) -> tuple[float, float]:
    """(base, rotary fraction) from a config.json in either transformers format."""
    rp = cfg.get("rope_parameters") or {}
    base = rp.get("rope_theta", cfg.get("rope_theta", cfg.get("rotary_emb_base")))
    frac = rp.get("partial_rotary_factor", cfg.get("partial_rotary_factor", cfg.get("rotary_pct", 1.0)))
    return float(base), float(frac)


def config_dir(spec: str, tmp_path: Path) -> Path:
    p = local_path(spec)
    if p.is_dir():
        return p
    if _hub_cached(spec):
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(spec, allow_patterns=["config.json"], local_files_only=True))
    (family,) = [cfg for prefix, cfg in FAMILIES.items() if spec.startswith(prefix)]
    d = tmp_path / spec.replace("/", "--")
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(family))
    return d


def test_every_shipped_checkpoint_keeps_its_rope_settings_through_vllm(tmp_path):
    from vllm.transformers_utils.config import get_config

    checked = []
    for ladder, spec in shipped_checkpoints():
        d = config_dir(spec, tmp_path)
        want = expected_rope(json.loads((d / "config.json").read_text()))
        got = get_config(str(d), trust_remote_code=False)
        rp = got.rope_parameters
        assert (float(rp["rope_theta"]), float(rp.get("partial_rotary_factor", 1.0))) == want, (ladder, spec, rp)
        checked.append(spec)
    assert any(s.startswith("models/zoo/") for s in checked) and any(s.startswith("EleutherAI/") for s in checked)


def test_every_hub_family_of_the_ladders_has_a_stand_in():
    hub = [s for _, s in shipped_checkpoints() if not local_path(s).exists()]
    assert hub and all(any(s.startswith(p) for p in FAMILIES) for s in hub), hub
