"""Seeded bad inputs, each run through the command line as a user would: experiment and ladder YAMLs,
CLI values, task specs and their data files, Jinja templates, answer regexes and corrupt run folders.

Every case says what it expects: exit 2 with one stderr line ``field: got value — fix`` (no traceback,
within the time limit, nothing executed, nothing written outside the case's folder), or, for damage
Crossover repairs by design (a torn last record, garbage lines moved to records.quarantine), exit 0.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: a file a payload would create if anything it holds were executed
MARK = "PWNED"


@dataclass
class Case:
    id: str
    kind: str
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    expect: int = 2
    #: a run folder to copy in before the case runs (corrupt-run cases)
    run_fixture: Optional[str] = None


def fake_ladder() -> dict[str, Any]:
    return {"name": "fz", "family": "Fuzz", "backend": "fake", "fake": {"replies": {"a": {"default": "The answer is 4."}}},
            "rungs": [{"name": "a", "model": "a", "params": 1000}]}


def base_experiment() -> dict[str, Any]:
    return {"tasks": ["addition"], "strategies": ["cot"], "n": 3, "shots": 2, "models": "ladder.yaml",
            "exemplar_seeds": [0], "bootstrap": {"resamples": 100}}


def dump(obj: Any) -> bytes:
    return yaml.safe_dump(obj, sort_keys=False).encode()


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 2:
        return word * 2
    i = rng.randrange(len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:] if word[i] != word[i + 1] else word + "s"


BAD_VALUES = {
    "tasks": [[], ["nope"], [""], [123], "addition", ["/dev/zero"], ["../../etc/passwd.yaml"], None],
    "strategies": [[], ["nope"], [""], ["cot", "nope"], [1], {"cot": 1}],
    "baseline": ["nope", "", 5],
    "models": ["nope", "", "/dev/zero", "/nonexistent/ladder.yaml", 3],
    "n": [0, -5, "ten", 10**12, 2**70, [3], 1.5],
    "seed": ["x", [1], 1.5, {"a": 1}],
    "shots": [-1, "eight", 10**9],
    "exemplar_seeds": [["a"], [], "0,1", [[0]], list(range(1000))],
    "sampling": [{"temperature": -1}, {"max_tokens": 0}, {"top_p": 1}, "greedy", {"temperature": "hot"}],
    "bootstrap": [{"resamples": 5}, {"confidence": 1.5}, {"seed": "x"}, {"resampels": 500}],
    "limits": [{"load_s": -1}, {"stall_s": 0}, {"memory_gib": 0}, {"total": 5}],
}


def experiment_cases(rng: random.Random) -> list[Case]:
    out = []
    ladder = dump(fake_ladder())

    def case(name: str, exp: Any, raw: Optional[bytes] = None) -> None:
        out.append(Case(f"experiment/{name}", "experiment", ["run", "--config", "exp.yaml"],
                        {"exp.yaml": raw if raw is not None else dump(exp), "ladder.yaml": ladder}))

    for key in base_experiment():
        case(f"typo-{key}", {**{k: v for k, v in base_experiment().items() if k != key},
                             typo(key, rng): base_experiment()[key]})
    for key, values in BAD_VALUES.items():
        for i, v in enumerate(values):
            case(f"{key}-{i}", {**base_experiment(), key: v})
    case("unknown-top-key", {**base_experiment(), "rungs": 3})
    for name, raw in file_damage(rng).items():
        case(name, None, raw)
    return out


def file_damage(rng: random.Random) -> dict[str, bytes]:
    """Broken YAML files: the same set for experiments, ladders and task specs."""
    nest = "a:\n" + "".join("  " * i + " b:\n" for i in range(1, 200))
    laughs = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    return {
        "top-list": b"- 1\n- 2\n", "top-string": b"just words\n", "binary": bytes(rng.randrange(256) for _ in range(4096)),
        "invalid-utf8": b"tasks: [addition]\nn: \xff\xfe\n", "nul-bytes": b"tasks: [addition]\x00\n",
        "tabs": b"tasks:\n\t- addition\n", "unclosed": b"tasks: [addition\n", "duplicate-key": b"n: 3\nn: 4\ntasks: [addition]\n",
        "python-tag": f"!!python/object/apply:os.system ['touch {MARK}']\n".encode(),
        "python-tag-value": f"tasks: !!python/object/apply:os.system ['touch {MARK}']\n".encode(),
        "custom-tag": b"tasks: !function utils.process\n", "billion-laughs": laughs.encode(),
        "deep-nesting": nest.encode(), "deep-flow": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "huge-file": b"# " + b"x" * (9 * 1024 * 1024) + b"\n", "empty": b"",
    }


def ladder_cases(rng: random.Random) -> list[Case]:
    out = []
    exp = dump(base_experiment())

    def case(name: str, lad: Any, raw: Optional[bytes] = None) -> None:
        out.append(Case(f"ladder/{name}", "ladder", ["run", "--config", "exp.yaml"],
                        {"exp.yaml": exp, "ladder.yaml": raw if raw is not None else dump(lad)}))

    zoo = {"name": "z", "family": "Z", "backend": "vllm", "rungs": [
        {"name": "xs", "model": "models/zoo/zoo-xs", "manifest": "models/zoo/zoo-xs/manifest.json"}]}
    base = fake_ladder()
    for key in ("name", "family", "backend", "rungs"):
        case(f"typo-{key}", {**{k: v for k, v in base.items() if k != key}, typo(key, rng): base[key]})
        case(f"missing-{key}", {k: v for k, v in base.items() if k != key})
    rung = base["rungs"][0]
    bad_rungs = {"no-model": {"name": "a", "params": 1}, "params-0": {**rung, "params": 0},
                 "params-neg": {**rung, "params": -1}, "params-str": {**rung, "params": "big"},
                 "name-slash": {**rung, "name": "../../x"}, "name-empty": {**rung, "name": ""},
                 "rung-typo": {**rung, "paramz": 5}, "endpoints-ftp": {**rung, "endpoints": ["ftp://x/v1"]},
                 "replicas-0": {**rung, "replicas": 0}}
    for name, r in bad_rungs.items():
        case(f"rung-{name}", {**base, "rungs": [r]})
    case("rungs-empty", {**base, "rungs": []})
    case("rungs-duplicate", {**base, "rungs": [rung, rung]})
    case("backend-unknown", {**base, "backend": "tensorrt"})
    for name, engine in {"dtype": {"dtype": "float33"}, "max-model-len-0": {"max_model_len": 0},
                         "max-model-len-str": {"max_model_len": "long"}, "gpu-util-2": {"gpu_memory_utilization": 2},
                         "tp-0": {"tensor_parallel_size": 0}, "eager-str": {"enforce_eager": "yes"}}.items():
        case(f"engine-{name}", {**zoo, "engine": engine})
        case(f"rung-engine-{name}", {**zoo, "rungs": [{**zoo["rungs"][0], "engine": engine}]})
    case("missing-checkpoint", {**zoo, "rungs": [{"name": "xs", "model": "models/zoo/zoo-xxl", "params": 5}]})
    case("checkpoint-no-config", {**zoo, "rungs": [{"name": "xs", "model": "configs", "params": 5}]})
    case("bundled-unknown", {**zoo, "rungs": [{"name": "xs", "model": "bundled:gpt5", "params": 5}]})
    case("manifest-missing", {**zoo, "rungs": [{"name": "xs", "model": "models/zoo/zoo-xs", "manifest": "nope.json"}]})
    case("hub-offline", {**zoo, "rungs": [{"name": "xs", "model": "acme/never-heard-of-it", "params": 5}]})
    case("openai-no-endpoints", {**base, "backend": "openai"})
    case("openai-unreachable", {**base, "backend": "openai", "rungs": [{**rung, "endpoints": ["http://127.0.0.1:9/v1"]}]})
    for name, raw in file_damage(rng).items():
        case(name, None, raw)
    return out


def cli_cases() -> list[Case]:
    exp, lad = dump(base_experiment()), dump(fake_ladder())
    files = {"exp.yaml": exp, "ladder.yaml": lad}
    run = ["run", "--config", "exp.yaml"]
    argvs = {
        "n-0": run + ["--n", "0"], "n-neg": run + ["--n", "-1"], "n-word": run + ["--n", "ten"],
        "n-absurd": run + ["--n", "99999999999"], "strategy-empty": run + ["--strategy", ""],
        "strategy-comma": run + ["--strategy", ","], "strategy-unknown": run + ["--strategy", "cott"],
        "strategy-one-unknown": run + ["--strategy", "cot,nope"], "baseline-unknown": run + ["--baseline", "few"],
        "models-unknown": run + ["--models", "zooo"], "models-empty": run + ["--models", "/"],
        "tasks-unknown": run + ["--tasks", "additon"], "tasks-empty": run + ["--tasks", ""],
        "seed-word": run + ["--seed", "x"], "exemplar-seeds-words": run + ["--exemplar-seeds", "a,b"],
        "exemplar-seeds-empty": run + ["--exemplar-seeds", ""], "run-unknown": run + ["--run", "nope"],
        "rung-without-run": run + ["--rung", "a"], "config-dev-zero": ["run", "--config", "/dev/zero"],
        "config-missing": ["run", "--config", "nope.yaml"], "config-dir": ["run", "--config", "."],
        "report-unknown": ["report", "nope"], "report-axis": ["report", "--axis", "size"],
        "report-png": ["report", "--png", "/nonexistent/x.png"], "compare-unknown": ["compare", "a", "b"],
        "render-task": ["render", "--task", "nope", "--strategy", "cot"],
        "render-strategy": ["render", "--task", "addition", "--strategy", "nope"],
        "render-n": ["render", "--task", "addition", "--strategy", "cot", "--n", "0"],
        "render-shots": ["render", "--task", "addition", "--strategy", "cot", "--shots", "-3"],
        "validate-dev-zero": ["tasks", "validate", "/dev/zero"], "models-ladder": ["models", "nope"],
        "launch-ladder": ["launch", "slurm", "nope", "--out", "out"], "launch-fake": ["launch", "slurm", "ladder.yaml", "--out", "out"],
        "unknown-command": ["frobnicate"], "unknown-flag": ["run", "--bogus"], "no-command": [],
    }
    return [Case(f"cli/{k}", "cli", v, dict(files)) for k, v in argvs.items()]


GOOD_ROWS = [{"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(1, 13)]


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def task_spec(**over: Any) -> dict[str, Any]:
    return {"name": "fz_task", "data": "data.jsonl", "fields": {"id": "id", "input": "question", "target": "answer"},
            "answer_type": "number", "exemplars": {"rows": [{"question": "What is 10 + 10?", "answer": "20"}]}, **over}


def task_cases(rng: random.Random) -> list[Case]:
    out = []

    def case(name: str, spec: Any, data: bytes = jsonl(GOOD_ROWS), raw: Optional[bytes] = None,
             extra: Optional[dict[str, bytes]] = None, argv: Optional[list[str]] = None) -> None:
        files = {"task.yaml": raw if raw is not None else dump(spec), "data.jsonl": data, **(extra or {})}
        out.append(Case(f"task/{name}", "task", argv or ["tasks", "validate", "task.yaml"], files))

    for key in ("name", "data", "fields", "answer_type"):
        case(f"missing-{key}", {k: v for k, v in task_spec().items() if k != key})
        case(f"typo-{key}", {**{k: v for k, v in task_spec().items() if k != key}, typo(key, rng): task_spec()[key]})
    case("answer-type", task_spec(answer_type="numbr"))
    case("fields-unknown-column", task_spec(fields={"input": "questoin", "target": "answer"}))
    case("fields-not-mapping", task_spec(fields=["question", "answer"]))
    case("name-builtin", task_spec(name="addition"))
    case("name-bad", task_spec(name="../x"))
    case("data-missing", task_spec(data="nope.jsonl"))
    case("data-dir", task_spec(data="."))
    case("data-dev-zero", task_spec(data="/dev/zero"))
    case("data-empty", task_spec(), data=b"")
    case("data-binary", task_spec(), data=bytes(rng.randrange(256) for _ in range(2048)))
    case("data-invalid-utf8", task_spec(), data=jsonl(GOOD_ROWS[:3]) + b'{"id": "x", "question": "\xff", "answer": "1"}\n')
    case("data-nul", task_spec(), data=jsonl(GOOD_ROWS[:3]).replace(b"What", b"Wh\x00at", 1))
    case("data-50mb-line", task_spec(), data=jsonl(GOOD_ROWS[:3]) + b'{"id": "big", "question": "' + b"x" * (50 * 2**20) + b'", "answer": "1"}\n')
    case("data-duplicate-ids", task_spec(), data=jsonl(GOOD_ROWS + [GOOD_ROWS[0]]))
    case("data-missing-field", task_spec(), data=jsonl(GOOD_ROWS[:4] + [{"id": "z", "question": "Q?"}]))
    case("data-not-object", task_spec(), data=b"[1, 2, 3]\n")
    case("data-malformed-line", task_spec(), data=jsonl(GOOD_ROWS[:4]) + b"{not json\n")
    case("data-target-not-number", task_spec(), data=jsonl(GOOD_ROWS[:4] + [{"id": "w", "question": "Q?", "answer": "many"}]))
    case("data-nan", task_spec(), data=jsonl(GOOD_ROWS[:4]) + b'{"id": "n", "question": "Q?", "answer": NaN}\n')
    csv_spec = task_spec(data="data.csv")
    case("csv-ragged", csv_spec, extra={"data.csv": b"id,question,answer\nq1,What is 1 + 1?,2\nq2,What is 2 + 2?\n"})
    case("csv-missing-column", csv_spec, extra={"data.csv": b"id,q,answer\nq1,What is 1 + 1?,2\n"})
    case("csv-empty", csv_spec, extra={"data.csv": b""})
    case("csv-header-only", csv_spec, extra={"data.csv": b"id,question,answer\n"})
    case("format-unknown", task_spec(data="data.xlsx"), extra={"data.xlsx": b"PK\x03\x04"})
    case("parquet-garbage", task_spec(data="data.parquet"), extra={"data.parquet": b"PAR1 not really"})
    case("exemplars-typo", task_spec(exemplars={"rowz": []}))
    case("exemplars-empty-rows", task_spec(exemplars={"rows": []}))
    case("choices-without-type", task_spec(fields={"input": "question", "target": "answer", "choices": "opts"}))
    for name, raw in file_damage(rng).items():
        case(f"yaml-{name}", None, raw=raw)
    return out


TEMPLATES = {
    "globals-os": "{{ cycler.__init__.__globals__.os.system('touch " + MARK + "') }}",
    "mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "lipsum": "{{ lipsum.__globals__['os'].popen('touch " + MARK + "').read() }}",
    "self": "{{ self.__init__.__globals__ }}",
    "config": "{{ config.items() }}",
    "request": "{{ request.application.__globals__ }}",
    "attr-filter": "{{ ''|attr('__class__')|attr('__mro__') }}",
    "format": "{{ '{0.__class__}'.format('') }}",
    "huge-range": "{{ range(10**9) | list | length }}",
    "nested-loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "string-bomb": "{{ 'a' * 10**9 }}",
    "power-bomb": "{{ 9 ** 9 ** 9 }}",
    "recursive-macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "include-etc": "{% include '/etc/passwd' %}",
    "include-parent": "{% include '../../../etc/passwd' %}",
    "import": "{% import 'nope.j2' as x %}{{ x }}",
    "undefined": "{{ question }} {{ no_such_variable }}",
    "syntax": "{{ question ",
    "unclosed-block": "{% for e in exemplars %}{{ e }}",
    "list-append": "{% set l = [] %}{{ l.append(1) }}",
    "dict-update": "{% set d = {} %}{{ d.update({'a': 1}) }}",
}


def template_cases() -> list[Case]:
    spec = dump(task_spec(templates={"cot": "my.j2"}))
    return [Case(f"template/{k}", "template", ["render", "--task", "task.yaml", "--strategy", "cot", "--n", "1"],
                 {"task.yaml": spec, "data.jsonl": jsonl(GOOD_ROWS), "my.j2": v.encode()}) for k, v in TEMPLATES.items()]


REGEXES = {"nested-plus": "((?:[0-9]+)+)", "alternation-star": "((a|a)*b)", "star-star": "((.*)*x)",
           "triple": "(((a*)*)*)", "overlap": "((x+x+)+y)", "unclosed-class": "([0-9", "bad-group": "(?P<",
           "huge-repeat": "(a{1000000000})", "no-group": "[0-9]+", "empty": "", "backref": "((a)\\2)",
           "lookbehind-var": "((?<=a+)b)"}


def regex_cases() -> list[Case]:
    out = []
    for k, pattern in REGEXES.items():
        spec = task_spec(answer_type="regex", answer_regex=pattern, exemplars="none",
                         fields={"input": "question", "target": "answer"})
        out.append(Case(f"regex/{k}", "regex", ["tasks", "validate", "task.yaml"],
                        {"task.yaml": dump(spec), "data.jsonl": jsonl(GOOD_ROWS)}))
    return out


RUN_DAMAGE = {
    # (what is done to the finished run folder, expected exit of `report`, expected exit of a resume)
    "config-deleted": ("rm config.yaml", 2, 2), "config-garbage": ("garbage config.yaml", 2, 2),
    "config-binary": ("binary config.yaml", 2, 2), "config-empty": ("empty config.yaml", 2, 2),
    "config-no-experiment": ("noexp config.yaml", 2, 2), "config-dev-zero": ("devzero config.yaml", 2, 2),
    "fingerprint-edited": ("fingerprint", 0, 2), "records-dir": ("dir records.jsonl", 2, 2),
    "records-dev-zero": ("devzero records.jsonl", 2, 2), "records-torn-tail": ("torn records.jsonl", 0, 0),
    "records-garbage-lines": ("garbage-lines records.jsonl", 0, 0), "rungs-garbage": ("garbage rungs.json", 0, 0),
    "report-garbage": ("garbage report.json", 0, 0), "tasks-deleted": ("rm-dir tasks", 0, 0),
}


def run_cases() -> list[Case]:
    out = []
    for k, (action, report_rc, resume_rc) in RUN_DAMAGE.items():
        out.append(Case(f"run/{k}/report", "run_dir", ["report", "RUNDIR"], expect=report_rc, run_fixture=action))
        out.append(Case(f"run/{k}/resume", "run_dir", ["run", "--run", "RUNDIR"], expect=resume_rc, run_fixture=action))
    return out


def all_cases(seed: int) -> list[Case]:
    rng = random.Random(seed)
    return (experiment_cases(rng) + ladder_cases(rng) + cli_cases() + task_cases(rng) + template_cases()
            + regex_cases() + run_cases())


# --- running ------------------------------------------------------------------------------------
def damage(run: Path, action: str) -> None:
    verb, _, target = action.partition(" ")
    path = run / target
    if verb == "rm":
        path.unlink()
    elif verb == "rm-dir":
        import shutil
        shutil.rmtree(path)
    elif verb == "garbage":
        path.write_bytes(b"{{{ not yaml or json ::: [\n")
    elif verb == "binary":
        path.write_bytes(bytes(range(256)) * 8)
    elif verb == "empty":
        path.write_bytes(b"")
    elif verb == "noexp":
        path.write_text("ladder: {}\n")
    elif verb in ("devzero", "dir"):
        path.unlink()
        if verb == "dir":
            path.mkdir()
        else:
            path.symlink_to("/dev/zero")
    elif verb == "fingerprint":
        cfg = yaml.safe_load(path.read_text()) if path.suffix else None
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["fingerprint"]["templates"] = "0" * 16
        (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    elif verb == "torn":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 37])
    elif verb == "garbage-lines":
        lines = path.read_bytes().split(b"\n")
        lines[2:2] = [b"{half a record", b"\xff\xfe binary", b"[1, 2]"]
        path.write_bytes(b"\n".join(lines))


def make_fixture_run(work: Path) -> Path:
    """One finished run on the fake ladder: the corrupt-run cases start from copies of it."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "exp.yaml").write_bytes(dump(base_experiment()))
    (work / "ladder.yaml").write_bytes(dump(fake_ladder()))
    p = subprocess.run([sys.executable, "-m", "toolkit", "--runs-dir", str(work / "runs"), "run", "--config",
                        "exp.yaml"], cwd=work, capture_output=True, text=True, timeout=300, env=_env())
    if p.returncode != 0:
        raise RuntimeError(f"the fixture run failed: {p.stderr[-2000:]}")
    (run,) = list((work / "runs").iterdir())
    return run


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def _snapshot(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


def run_case(case: Case, work: Path, fixture: Optional[Path], timeout: float) -> dict[str, Any]:
    import shutil
    import time

    d = work / case.id.replace("/", "__")
    d.mkdir(parents=True)
    for rel, data in case.files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(data)
    argv = list(case.argv)
    if case.run_fixture:
        run = d / "runs" / fixture.name
        shutil.copytree(fixture, run, symlinks=True)
        for rel in ("exp.yaml", "ladder.yaml"):
            shutil.copy(fixture.parent.parent / rel, d / rel)
        damage(run, case.run_fixture)
        argv = [str(run) if a == "RUNDIR" else a for a in argv]
    before = _snapshot(d)
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "toolkit", "--runs-dir", str(d / "runs"), *argv], cwd=d,
                           capture_output=True, timeout=timeout, env=_env())
        rc, out, err, hung = p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), False
    except subprocess.TimeoutExpired as e:
        rc, out, err, hung = None, (e.stdout or b"").decode("utf-8", "replace"), (e.stderr or b"").decode("utf-8", "replace"), True
    secs = time.monotonic() - t0
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note: ")]
    new = sorted(p for p in _snapshot(d) - before if not p.startswith("runs") and "__pycache__" not in p)
    executed = (d / MARK).exists() or Path(MARK).exists()
    res = {"id": case.id, "kind": case.kind, "expect": case.expect, "rc": rc, "seconds": round(secs, 2),
           "hung": hung, "traceback": "Traceback" in out + err, "executed": executed, "written": new,
           "stderr": lines[-1][:300] if lines else ""}
    if case.expect == 2:
        wrote_run = case.kind != "run_dir" and (d / "runs").exists() and any((d / "runs").iterdir())
        res["clean"] = (rc == 2 and len(lines) == 1 and ": got " in lines[0] and not res["traceback"]
                        and not executed and not new and not wrote_run and not hung)
        res["wrongly_accepted"] = rc == 0
    else:
        res["clean"] = rc == case.expect and not res["traceback"] and not executed and not hung
        res["wrongly_accepted"] = False
    shutil.rmtree(d, ignore_errors=True)
    return res


def fuzz(seed: int, work: Path, sample: Optional[int] = None, timeout: float = 60.0, jobs: int = 2) -> dict[str, Any]:
    cases = all_cases(seed)
    if sample:
        cases = random.Random(seed).sample(cases, min(sample, len(cases)))
    fixture = make_fixture_run(work / "fixture") if any(c.run_fixture for c in cases) else None
    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda c: run_case(c, work / "cases", fixture, timeout), cases))
    return {"seed": seed, "fuzz_cases": len(results), "clean_errors": sum(r["clean"] for r in results),
            "tracebacks": sum(r["traceback"] for r in results), "hangs": sum(r["hung"] for r in results),
            "wrongly_accepted": sum(r["wrongly_accepted"] for r in results),
            "executed": sum(r["executed"] for r in results), "wrote_outside": sum(bool(r["written"]) for r in results),
            "slowest_s": max((r["seconds"] for r in results), default=0.0),
            "failures": [r for r in results if not r["clean"]], "by_kind": _by_kind(results)}


def _by_kind(results: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for r in results:
        out.setdefault(r["kind"], [0, 0])
        out[r["kind"]][0] += 1
        out[r["kind"]][1] += r["clean"]
    return out
