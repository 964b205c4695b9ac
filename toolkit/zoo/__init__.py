"""The Crossover zoo: a family of tiny Llama models that Crossover trains on its own task generators.

A model organism of emergence in the spirit of Nye et al. (2021)'s fine-tuned scratchpads: every
rung has the same architecture recipe and sees exactly the same seeded token stream (the first
``train_tokens`` of it), rendered from the built-in tasks in the exact prompt format of every
registered strategy. Evaluation items are held out by construction (:func:`toolkit.zoo.corpus.split_of`).

* :mod:`toolkit.zoo.corpus` — training documents, packing, the corpus recipe and its hash
* :mod:`toolkit.zoo.train` — the model recipe per rung and the training loop
* :mod:`toolkit.zoo.manifest` — ``manifest.json`` per rung (params, tokens, FLOPs, hashes, loss)

CLI: ``python -m toolkit.zoo train [--rung NAME] [--tokens N] [--out DIR]``, ``python -m toolkit.zoo
corpus`` (a sample of documents and the token shares), ``python -m toolkit.zoo list``.

The zoo is a *synthetic* family: it shows how strategies behave across size on tasks the models were
trained on, not how large language models behave. Ladders built on it set ``synthetic: true``.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
#: where the committed weights live, one directory per rung
ZOO_DIR = ROOT / "models" / "zoo"
FAMILY = "Crossover-zoo"
