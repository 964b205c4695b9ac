"""The endpoints contract, checked before any work: each base URL answers ``GET <root>/health`` with
200 and ``GET <base>/models`` lists the rung's served model name.

Any OpenAI-compatible deployment that honours this contract can serve a rung: ``vllm serve``
replicas, a Ray Serve LLM or production-stack router (one URL, many replicas behind it), a Slurm
array whose tasks write their URLs into files (``endpoints_file``). This module uses httpx only
(no torch, no vLLM): the parent process calls it.
"""
from __future__ import annotations

import glob
import socket
from pathlib import Path
from typing import Any, Optional

from toolkit.core.errors import UserError, did_you_mean

#: seconds a start-up check waits for one endpoint
CHECK_TIMEOUT_S = 5.0


def health_url(base: str) -> str:
    """vLLM serves /health at the root, beside /v1."""
    root = base.rstrip("/")
    return (root[:-3] if root.endswith("/v1") else root) + "/health"


def served_models(base: str, timeout: float = CHECK_TIMEOUT_S) -> list[str]:
    import httpx

    r = httpx.get(base.rstrip("/") + "/models", timeout=timeout)
    r.raise_for_status()
    return [m.get("id") for m in (r.json().get("data") or []) if isinstance(m, dict)]


def check_endpoint(base: str, model: Optional[str], timeout: float = CHECK_TIMEOUT_S) -> Optional[str]:
    """None when ``base`` is healthy (and serves ``model``, if given), else what was wrong."""
    import httpx

    try:
        r = httpx.get(health_url(base), timeout=timeout)
        if r.status_code != 200:
            return f"answered /health with HTTP {r.status_code}"
        if model is None:
            return None
        names = served_models(base, timeout)
    except httpx.HTTPError as e:
        return f"is not reachable ({type(e).__name__}: {' '.join(str(e).split()) or 'no answer'})"
    except ValueError as e:
        return f"answered /models with something that is not the OpenAI model list ({e})"
    if model not in names:
        return f"serves {names or 'no model'}, not {model!r}; {did_you_mean(model, names)}"
    return None


def resolve_endpoints(rung: Any, field: str) -> list[str]:
    """The rung's base URLs: ``endpoints``, then the URLs in the files ``endpoints_file`` matches."""
    urls = list(rung.endpoints or [])
    if rung.endpoints_file:
        files = sorted(glob.glob(str(Path(rung.endpoints_file).expanduser())))
        for f in files:
            urls += [ln.strip().rstrip("/") for ln in Path(f).read_text().splitlines() if ln.strip()]
        if not files:
            raise UserError(f"{field}.endpoints_file", rung.endpoints_file,
                            "no endpoint files there yet; start the servers (sbatch the launcher's "
                            "script) and wait until they write their URLs (squeue shows them running)")
    if not urls:
        raise UserError(f"{field}.endpoints", None, "backend openai needs the rung's endpoints: list base URLs "
                        "(endpoints: [http://127.0.0.1:8000/v1]) or endpoints_file")
    return urls


def check_ladder(ladder: Any) -> None:
    """Everything about a served ladder that can be known before work starts (one-line UserErrors)."""
    for rung in ladder.rungs:
        field = f"models.rungs[{rung.name}]"
        if ladder.backend == "openai":
            if rung.replicas or rung.ports:
                raise UserError(f"{field}.replicas", rung.replicas or rung.ports,
                                "replicas and ports are for backend vllm-serve; backend openai uses the "
                                "servers listed in endpoints")
            for url in resolve_endpoints(rung, field):
                problem = check_endpoint(url, rung.model)
                if problem:
                    raise UserError(f"{field}.endpoints", url, f"{problem}; start the server or fix the URL")
                if rung.instruct_model and rung.instruct_model != rung.model:
                    problem = check_endpoint(url, rung.instruct_model)
                    if problem:
                        raise UserError(f"{field}.instruct_model", rung.instruct_model, problem)
        elif ladder.backend == "vllm-serve":
            if rung.endpoints or rung.endpoints_file:
                raise UserError(f"{field}.endpoints", rung.endpoints or rung.endpoints_file,
                                "backend vllm-serve starts its own servers; use backend openai for "
                                "servers you run yourself")
            check_ports(rung, field, rung.replicas or ladder.replicas)


def check_ports(rung: Any, field: str, replicas: int) -> None:
    if not rung.ports:
        return
    if len(rung.ports) != replicas:
        raise UserError(f"{field}.ports", rung.ports, f"give one port per replica ({replicas}), or drop "
                        "ports to let Crossover choose free ones")
    for port in rung.ports:
        if not port_free(port):
            raise UserError(f"{field}.ports", port, "already in use on 127.0.0.1; choose a free port, "
                            "or drop ports to let Crossover choose free ones")


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
