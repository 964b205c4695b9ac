"""Typed configuration: the pydantic models are the source of truth, YAML is their serialisation.

Unknown keys are rejected (``extra="forbid"``) and every validation problem becomes a one-line
:class:`~toolkit.core.errors.UserError` naming the file, the key path, the value and the fix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from toolkit.core.errors import UserError, did_you_mean

ROOT = Path(__file__).resolve().parents[2]  # the checkout: toolkit/core/<this file>
CONFIGS = ROOT / "configs"
LADDERS = CONFIGS / "models"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SelfConsistency(Strict):
    """Self-consistency's sampling (Wang et al. 2022): ``k`` samples per prompt at ``temperature``, one
    request with n = max(k); several k values report majority-vote accuracy against k (the first k
    samples each). The first value is the headline (the record's ``correct``). ``tie_seed`` seeds the
    draw among tied answers."""

    k: list[int] = Field([5], min_length=1, max_length=8)
    temperature: float = Field(0.7, gt=0.0)
    tie_seed: int = 0

    @field_validator("k")
    @classmethod
    def _k_positive(cls, v: list[int]) -> list[int]:
        if any(x < 1 or x > 64 for x in v) or len(set(v)) != len(v):
            raise ValueError("k values must be distinct integers from 1 to 64, e.g. [5, 10, 20]")
        return v


class Sampling(Strict):
    """Decoding settings shared by every strategy (greedy by default, as in Wei et al.)."""

    temperature: float = Field(0.0, ge=0.0)
    #: None: each strategy's own budget (few_shot 24, cot 160, ...)
    max_tokens: Optional[int] = Field(None, gt=0)
    #: used by the self_consistency strategy only
    self_consistency: SelfConsistency = SelfConsistency()


class Bootstrap(Strict):
    resamples: int = Field(2000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int = 0


class Limits(Strict):
    """Rung-worker deadlines (seconds): the parent kills a worker that misses one."""

    load_s: float = Field(900, gt=0)
    stall_s: float = Field(600, gt=0)
    total_s: float = Field(6 * 3600, gt=0)
    #: address-space cap of a rung worker in GiB (RLIMIT_AS); None: no cap
    memory_gib: Optional[float] = Field(None, gt=0)


#: dtypes vLLM accepts for ``engine.dtype``
DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")
#: the engine options checked before any model loads (the rest go to vLLM as given)
ENGINE_CHECKS = {
    "dtype": (lambda v: v in DTYPES, f"one of {', '.join(DTYPES)}"),
    "max_model_len": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "tensor_parallel_size": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
    "gpu_memory_utilization": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1,
                               "a fraction in (0, 1]"),
    "enforce_eager": (lambda v: isinstance(v, bool), "true or false"),
    "enable_prefix_caching": (lambda v: isinstance(v, bool), "true or false"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
}


def check_engine(opts: dict[str, Any]) -> dict[str, Any]:
    for key, (ok, want) in ENGINE_CHECKS.items():
        if key in opts and not ok(opts[key]):
            raise ValueError(f"engine.{key} is {opts[key]!r}; it must be {want}")
    return opts


class Rung(Strict):
    name: str
    #: a local directory, ``bundled:<name>`` (shipped with Crossover) or a Hugging Face hub id
    model: str
    #: instruction-tuned sibling checkpoint, used by the ``instruction`` strategy when set
    instruct_model: Optional[str] = None
    params: int = Field(gt=0)
    non_embedding_params: Optional[int] = None
    train_tokens: Optional[float] = None
    #: training FLOPs; when absent, 6·N·D from params and train_tokens
    flops: Optional[float] = None
    #: vLLM engine options for this rung (dtype, max_model_len, gpu_memory_utilization, ...)
    engine: dict[str, Any] = Field(default_factory=dict)

    _engine = field_validator("engine")(classmethod(lambda cls, opts: check_engine(opts)))

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
            raise ValueError("a rung name is 1-64 letters, digits, '.', '_' or '-' (it names a folder)")
        return name
    #: a model manifest (the Crossover zoo's ``models/zoo/<rung>/manifest.json``; relative paths are
    #: relative to the repo root): ``params``, ``non_embedding_params``, ``train_tokens``, ``flops`` and
    #: ``weights_sha256`` are read from it unless the rung gives them itself
    manifest: Optional[str] = None
    #: sha256 of the weight file (from the manifest): part of the run fingerprint, so a resumed run
    #: never mixes two trainings of the same rung
    weights_sha256: Optional[str] = None
    #: ``backend: openai``: the OpenAI-compatible base URLs serving this rung (replicas of one
    #: model; ``model`` is then the served model name), e.g. ``http://127.0.0.1:8001/v1``
    endpoints: Optional[list[str]] = None
    #: ``backend: openai``: a glob of files each holding one base URL (written by the servers of
    #: ``python -m toolkit launch slurm``), read when the rung starts
    endpoints_file: Optional[str] = None
    #: ``backend: vllm-serve``: ``vllm serve`` processes for this rung (the ladder's when unset)
    replicas: Optional[int] = Field(None, ge=1)
    #: ``backend: vllm-serve``: fixed loopback ports, one per replica (free ones are chosen when unset)
    ports: Optional[list[int]] = None
    #: this rung's worker address-space cap in GiB (overrides the experiment's ``limits.memory_gib``)
    memory_gib: Optional[float] = Field(None, gt=0)

    @field_validator("endpoints")
    @classmethod
    def _http_urls(cls, urls: Optional[list[str]]) -> Optional[list[str]]:
        for url in urls or []:
            if not re.match(r"^https?://[^/\s]+", str(url)):
                raise ValueError(f"endpoint {url!r} is not an http(s) URL; give a base URL such as "
                                 "http://127.0.0.1:8000/v1")
        if urls is not None and not urls:
            raise ValueError("endpoints is empty; list at least one base URL such as http://127.0.0.1:8000/v1")
        return [str(u).rstrip("/") for u in urls] if urls else urls

    @model_validator(mode="before")
    @classmethod
    def _fill_from_manifest(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("manifest"):
            return data
        m = read_manifest(str(data["manifest"]))
        filled = {"params": m.get("params"), "non_embedding_params": m.get("non_embedding_params"),
                  "train_tokens": m.get("train_tokens"), "flops": m.get("flops"),
                  "weights_sha256": (m.get("weights") or {}).get("sha256")}
        return {**{k: v for k, v in filled.items() if v is not None}, **{k: v for k, v in data.items() if v is not None}}

    def training_flops(self) -> Optional[float]:
        if self.flops is not None:
            return self.flops
        return 6.0 * self.params * self.train_tokens if self.train_tokens else None


def read_manifest(spec: str) -> dict[str, Any]:
    """A rung's manifest JSON; a missing or unreadable one is a ValueError that says what to do."""
    path = Path(spec).expanduser()
    path = path if path.is_absolute() else ROOT / path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"cannot read the manifest {spec} ({e.strerror}); train the zoo (`make zoo`) "
                         "or give params in the ladder") from None
    except ValueError as e:
        raise ValueError(f"the manifest {spec} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"the manifest {spec} is not a JSON object")
    return data


class Ladder(Strict):
    """A model family ordered smallest first; the comparator assumes that order."""

    name: str
    family: str
    description: str = ""
    #: vllm: in-process engine · openai: OpenAI-compatible endpoints (``rungs[].endpoints``) ·
    #: vllm-serve: Crossover starts ``vllm serve`` replicas per rung and talks to them as ``openai``
    backend: Literal["vllm", "openai", "vllm-serve", "fake"] = "vllm"
    #: openai / vllm-serve: requests in flight per endpoint
    max_concurrency: int = Field(32, ge=1, le=4096)
    #: openai / vllm-serve: retries of a request after a connection error, timeout, 429 or 5xx
    retries: int = Field(3, ge=0, le=20)
    #: seconds before the first retry; doubled each time up to 30 s
    retry_backoff_s: float = Field(0.5, ge=0.0, le=30.0)
    #: seconds one request may take before it counts as timed out (and is retried)
    request_timeout_s: float = Field(600.0, gt=0)
    #: vllm-serve: replicas per rung (a rung's own ``replicas`` wins)
    replicas: int = Field(1, ge=1, le=64)
    #: vllm-serve: seconds a server may take to answer /health before the rung fails
    health_timeout_s: float = Field(600.0, gt=0)
    #: vllm-serve: extra ``vllm serve`` command-line arguments for every server
    serve_args: list[str] = Field(default_factory=list)
    #: a synthetic family (trained by Crossover) is labelled as such in every report
    synthetic: bool = False
    #: engine options applied to every rung (a rung's own ``engine`` wins)
    engine: dict[str, Any] = Field(default_factory=dict)
    #: scripted behaviour for the fake backend (tests only)
    fake: dict[str, Any] = Field(default_factory=dict)
    rungs: list[Rung] = Field(min_length=1)

    _engine = field_validator("engine")(classmethod(lambda cls, opts: check_engine(opts)))

    @field_validator("rungs")
    @classmethod
    def _unique(cls, rungs: list[Rung]) -> list[Rung]:
        names = [r.name for r in rungs]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"two rungs are named {dup!r}; give each rung its own name")
        return rungs


class Experiment(Strict):
    """What to run: tasks × strategies (plus the baseline) × a model ladder."""

    tasks: list[str] = Field(min_length=1)
    strategies: list[str] = Field(min_length=1)
    baseline: str = "few_shot"
    #: a ladder name under configs/models/, a YAML path, or ``auto``
    models: str = "auto"
    n: int = Field(50, gt=0, le=1_000_000, description="items per task")
    seed: int = 0
    shots: int = Field(8, ge=0, le=256)
    #: exemplar draws to average over (Wei et al. used 5 orders); None: just ``seed``
    exemplar_seeds: Optional[list[int]] = Field(None, min_length=1, max_length=100)
    sampling: Sampling = Sampling()
    bootstrap: Bootstrap = Bootstrap()
    limits: Limits = Limits()

    def exemplar_seed_list(self) -> list[int]:
        return list(self.exemplar_seeds) if self.exemplar_seeds else [self.seed]

    def all_strategies(self) -> list[str]:
        """The baseline first, then each augmented strategy once."""
        return [self.baseline] + [s for s in self.strategies if s != self.baseline]


#: values an experiment or ladder may expand to through YAML aliases (an alias bomb stops here)
MAX_YAML_VALUES = 100_000


def read_yaml(path: Path) -> Any:
    """An experiment or ladder YAML: a regular file under the size cap, parsed with the task specs'
    safe loader (no tags, no duplicate keys, bounded nesting). Anchors and aliases, which ladders use
    to share engine options, are allowed here, up to :data:`MAX_YAML_VALUES` expanded values."""
    import yaml

    from toolkit.core.files import MAX_CONFIG_BYTES
    from toolkit.core.yamlsafe import loads, read_text

    text = read_text(Path(path), str(path), MAX_CONFIG_BYTES)
    if not text.strip():
        return None
    try:
        return loads(text, str(path))[0]
    except UserError as e:
        if "aliases" not in e.hint:
            raise
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as e:
        raise UserError(str(path), type(e).__name__, "not valid YAML; fix the syntax") from None
    _count_values(data, [MAX_YAML_VALUES], str(path))
    return data


def _count_values(value: Any, budget: list[int], where: str, depth: int = 0) -> None:
    budget[0] -= 1
    if budget[0] < 0 or depth > 64:
        raise UserError(where, "aliases", f"the YAML expands to more than {MAX_YAML_VALUES} values or 64 "
                        "levels (an alias bomb?); write the values out")
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        _count_values(child, budget, where, depth + 1)


def validate(model: type[Strict], data: Any, source: str) -> Any:
    """Build ``model`` from plain data, turning the first pydantic error into a UserError."""
    if not isinstance(data, dict):
        raise UserError(source, type(data).__name__, "expected a YAML mapping of keys to values")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise _user_error(model, e, source) from None


def _user_error(model: type[Strict], e: ValidationError, source: str) -> UserError:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    field = f"{source}: {loc}" if loc else source
    if err["type"] == "extra_forbidden":
        parent = submodel(model, err["loc"][:-1])
        known = list(parent.model_fields) if parent else []
        return UserError(field, err["loc"][-1], f"unknown key; {did_you_mean(str(err['loc'][-1]), known)}")
    if err["type"] == "missing":
        return UserError(field, None, "this key is required; add it")
    return UserError(field, err.get("input"), err["msg"])


def submodel(model: type[BaseModel], loc: tuple) -> Optional[type[BaseModel]]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        f = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if f is None:
            return None
        ann = f.annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if current is None:
            return None
    return current


def load_experiment(path: Path, overrides: dict[str, Any] | None = None) -> Experiment:
    data = read_yaml(path) or {}
    if isinstance(data, dict):
        data = dict(data)
        for key, value in (overrides or {}).items():
            if key == "sampling" and isinstance(value, dict):  # field by field: the file's others stay
                given = {k: v for k, v in value.items() if v is not None}
                if given:
                    base = data.get("sampling")
                    data["sampling"] = {**(base if isinstance(base, dict) else {}), **given}
            elif value is not None:
                data[key] = value
    return validate(Experiment, data, str(path))


def ladder_names() -> list[str]:
    return sorted(p.stem for p in LADDERS.glob("*.yaml"))


def default_ladder() -> str:
    """``auto``: Crossover's own bundled zoo (a real ladder that runs on a laptop CPU) when its weights
    are present, else the single bundled SmolLM2 rung. GPU users name a hub ladder (MODELS=qwen2.5)."""
    if (LADDERS / "zoo.yaml").exists() and (ROOT / "models" / "zoo").is_dir():
        return "zoo"
    return "embedded"


def ladder_path(name: str) -> Path:
    """A ladder by name (configs/models/<name>.yaml) or by path; ``auto`` is the embedded default."""
    if name == "auto":
        name = default_ladder()
    if name.endswith((".yaml", ".yml")) or "/" in name:
        p = Path(name)
        if not p.exists():
            raise UserError("models", name, "no such ladder file; give a path to a YAML ladder or a ladder name")
        return p
    p = LADDERS / f"{name}.yaml"
    if not p.exists():
        raise UserError("models", name, f"unknown model ladder; {did_you_mean(name, ladder_names())}")
    return p


def load_ladder(name: str) -> Ladder:
    path = ladder_path(name)
    return validate(Ladder, read_yaml(path), str(path))
