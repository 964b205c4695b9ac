"""``manifest.json``: what one zoo rung is and how it was made.

Fields: ``name``, ``family``, ``synthetic``, ``recipe`` (width, depth, heads, context, ...),
``params`` and ``non_embedding_params``, ``train_tokens`` (real tokens trained on, padding excluded),
``flops`` (6·N·D with N = params, D = train_tokens), ``seed``, ``corpus`` (the recipe, its sha256 and
the sha256 of the exact token stream), ``training`` (optimizer, schedule, steps, seconds),
``weights`` (file, sha256, bytes, dtype), ``final_loss`` and ``heldout_loss``.

A ladder rung with ``manifest: models/zoo/<rung>/manifest.json`` reads its params and FLOPs from it
(:class:`toolkit.core.config.Rung`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkit.tasks.loaders import sha256_of

WEIGHTS = "model.safetensors"
MANIFEST = "manifest.json"

#: one file-hash helper for the project (task data files and weights alike)
sha256_file = sha256_of


def write_manifest(model_dir: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Add the weight file's sha256 and size to ``data`` and write ``manifest.json``."""
    model_dir = Path(model_dir)
    weights = model_dir / WEIGHTS
    data = {**data, "weights": {"file": WEIGHTS, "sha256": sha256_file(weights),
                                "bytes": weights.stat().st_size, "dtype": "bfloat16"}}
    (model_dir / MANIFEST).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return data


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest by its path or its rung directory."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    return json.loads(path.read_text())


def verify(model_dir: Path) -> list[str]:
    """Problems with a rung directory (empty when its weights match its manifest)."""
    model_dir = Path(model_dir)
    problems = []
    try:
        m = read_manifest(model_dir)
    except (OSError, ValueError) as e:
        return [f"{model_dir}: no readable {MANIFEST} ({e})"]
    weights = model_dir / m.get("weights", {}).get("file", WEIGHTS)
    if not weights.is_file():
        problems.append(f"{weights}: missing")
    elif sha256_file(weights) != m["weights"]["sha256"]:
        problems.append(f"{weights}: sha256 differs from {MANIFEST}")
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "loss.csv"):
        if not (model_dir / f).is_file():
            problems.append(f"{model_dir / f}: missing")
    return problems
