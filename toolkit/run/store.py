"""The run store: ``runs/<run_id>/`` with an append-only, fsynced ``records.jsonl``.

Durability rules (see shared/design/reliability-notes.md §1): one writer per file at a time (the rung
worker), each record is one ``os.write`` of one JSON line followed by ``fsync``; small JSON files are
written to a temp file, fsynced and renamed into place. On read, a torn last line (a crash mid-write)
is truncated away and malformed interior lines are moved to ``records.quarantine``; the first record
of a key wins, except over a failure a resume redoes (``request_failed``), which a later record replaces.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from toolkit.core.perplexity import PERPLEXITY_STRATEGY
from toolkit.core.types import REDO_STATUSES, SCORED_STATUSES, STATUS_DEPENDENCY_FAILED

RECORDS = "records.jsonl"
#: a rung's perplexity on the shipped passage (the perplexity axis), kept apart from answer records
PERPLEXITY = "perplexity.json"


def dumps_line(obj: dict[str, Any]) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, sort_keys=True)
    # Model output can hold lone surrogates, which UTF-8 cannot encode: replace them, keep the record.
    return (text + "\n").encode("utf-8", errors="replace")


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Write to a temp file and rename it into place; ``durable=False`` skips the fsyncs, for
    advisory files (progress) that a crash may leave stale but never torn."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_json(path: Path, obj: Any, durable: bool = True) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", durable)


#: the most a run's small JSON or YAML file may hold (rungs.json, status.json, config.yaml)
MAX_META_BYTES = 64 * 1024 * 1024
#: the most a records file may hold
MAX_RECORDS_BYTES = 16 * 1024**3


def read_json(path: Path, default: Any = None) -> Any:
    """An advisory JSON file of the run (status, progress, rungs.json): ``default`` when it is
    missing, damaged or not a regular file (it is rebuilt; records are the truth)."""
    from toolkit.core.errors import UserError
    from toolkit.core.files import read_capped

    try:
        return json.loads(read_capped(Path(path), str(path), MAX_META_BYTES).decode("utf-8"))
    except (UserError, ValueError):
        return default


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RecordWriter:
    """Appends records durably: a record counts as done only once ``append`` has returned."""

    def __init__(self, path: Path):
        new = not path.exists()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if new:
            _fsync_dir(path.parent)

    def append(self, record: dict[str, Any]) -> None:
        line = dumps_line(record)
        written = os.write(self.fd, line)
        if written != len(line):  # a short write leaves a torn line that the reader will drop
            raise OSError(f"short write to records: {written} of {len(line)} bytes")
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_records(path: Path) -> list[dict[str, Any]]:
    """Every complete record, first of each key; repairs a torn tail and quarantines bad lines."""
    from toolkit.core.files import read_capped

    if not path.exists() and not path.is_symlink():
        return []
    data = read_capped(path, f"run {path.parent.name}: {path.name}", MAX_RECORDS_BYTES)
    # Split on b"\n" only: str.splitlines() would also split inside strings at U+2028 and friends.
    parts = data.split(b"\n")
    tail, lines = parts[-1], parts[:-1]
    good_end = len(data) - len(tail)
    records, bad = _parse_lines(lines)
    if tail:  # no trailing newline: the last write was torn by a crash
        bad.append(tail)
        _truncate(path, good_end)
    if bad:
        _quarantine(path, bad)
        if len(bad) > (1 if tail else 0):
            _rewrite(path, records)
    return _dedupe(records)


def _parse_lines(lines: Iterable[bytes]) -> tuple[list[dict], list[bytes]]:
    records, bad = [], []
    for raw in lines:
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
            if not isinstance(obj, dict) or "key" not in obj:
                raise ValueError("not a record")
            records.append(obj)
        except ValueError:
            bad.append(raw)
    return records, bad


def _dedupe(records: list[dict]) -> list[dict]:
    """The first record of each key, unless it is a failure a resume redoes (then a later one wins)."""
    kept: dict[str, int] = {}
    out: list[dict] = []
    for r in records:
        i = kept.get(r["key"])
        if i is None:
            kept[r["key"]] = len(out)
            out.append(r)
        elif _redoable(out[i]):
            out[i] = r
    return out


def _final_failure(prior: Optional[str], status: dict[str, Any], done: set[str]) -> bool:
    """A prior that failed for good (kept by resume, not an answer): its dependants stay failed."""
    return prior in done and status.get(prior) not in SCORED_STATUSES


def _redoable(record: dict) -> bool:
    return record.get("status") in REDO_STATUSES or record.get("status") == STATUS_DEPENDENCY_FAILED


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())


def _quarantine(path: Path, bad: list[bytes]) -> None:
    with open(path.with_suffix(".quarantine"), "ab") as f:
        for raw in bad:
            f.write(raw + b"\n")
        f.flush()
        os.fsync(f.fileno())


def _rewrite(path: Path, records: list[dict]) -> None:
    write_atomic(path, b"".join(dumps_line(r) for r in records).decode("utf-8"))


class RunStore:
    """One run directory: config.yaml, records.jsonl, rungs.json, rungs/<rung>/, report.json."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.records_path = self.dir / RECORDS

    @property
    def run_id(self) -> str:
        return self.dir.name

    def exists(self) -> bool:
        return (self.dir / "config.yaml").exists()

    def write_config(self, config: dict[str, Any]) -> None:
        write_atomic(self.dir / "config.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True))

    def read_config(self) -> dict[str, Any]:
        """The run's config.yaml, checked: a damaged one is a one-line UserError, not a traceback."""
        from toolkit.core.config import Experiment, Ladder
        from toolkit.core.errors import UserError
        from toolkit.core.files import read_capped

        where = f"run {self.run_id}: config.yaml"
        fix = "the run folder is damaged; restore config.yaml from a backup or start a new run"
        if not (self.dir / "config.yaml").exists():
            raise UserError(where, None, f"missing; {fix}")
        try:
            cfg = yaml.safe_load(read_capped(self.dir / "config.yaml", where, MAX_META_BYTES).decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise UserError(where, type(e).__name__, f"not readable YAML; {fix}") from None
        if not isinstance(cfg, dict) or not isinstance(cfg.get("experiment"), dict) or not isinstance(cfg.get("ladder"), dict):
            raise UserError(where, type(cfg).__name__, f"has no experiment and ladder sections; {fix}")
        try:
            Experiment.model_validate(cfg["experiment"])
            Ladder.model_validate(cfg["ladder"])
        except ValueError as e:
            raise UserError(where, " ".join(str(e).split())[:120], fix) from None
        return cfg

    def record_files(self) -> list[Path]:
        """records.jsonl, then the per-rung files of rungs run on their own (``RUNG=``)."""
        return [self.records_path, *sorted(self.dir.glob(f"rungs/*/{RECORDS}"))]

    def records(self) -> list[dict[str, Any]]:
        """Every answer record of the run, from all its record files (each repaired on its own).
        Runs before perplexity.json kept the per-rung perplexity among the records: left out here,
        read by :meth:`perplexities`."""
        return [r for r in self._all_records() if r.get("strategy") != PERPLEXITY_STRATEGY]

    def _all_records(self) -> list[dict[str, Any]]:
        return _dedupe([r for path in self.record_files() for r in load_records(path)])

    def perplexity_path(self, rung: str) -> Path:
        return self.rung_dir(rung) / PERPLEXITY

    def write_perplexity(self, rung: str, measurement: dict[str, Any]) -> None:
        """The rung's perplexity measurement, written atomically (a resume measures it at most once)."""
        self.rung_dir(rung).mkdir(parents=True, exist_ok=True)
        write_json(self.perplexity_path(rung), measurement)

    def perplexities(self) -> list[dict[str, Any]]:
        """Every rung's perplexity measurement: rungs/<rung>/perplexity.json, and for older runs the
        ``__perplexity__`` records of records.jsonl (a file wins over a legacy record of its rung)."""
        found: dict[str, dict[str, Any]] = {}
        for r in self._all_records():
            if r.get("strategy") == PERPLEXITY_STRATEGY:
                found[str(r.get("model"))] = r
        for path in sorted(self.dir.glob(f"rungs/*/{PERPLEXITY}")):
            m = read_json(path)
            if isinstance(m, dict):
                found[path.parent.name] = m
        return list(found.values())

    def done_keys(self, records: Optional[list[dict[str, Any]]] = None) -> set[str]:
        """Keys a resume keeps: everything but requests that failed in transit (``request_failed``)
        and second-pass records of a failed prior that has since been redone or will be."""
        records = self.records() if records is None else records
        status = {r["key"]: r.get("status") for r in records}
        prior = {r["key"]: r.get("prior_key") for r in records}
        done = {k for k, s in status.items() if s not in REDO_STATUSES}
        return {k for k in done if status[k] != STATUS_DEPENDENCY_FAILED or _final_failure(prior[k], status, done)}

    def writer(self, rung: Optional[str] = None) -> RecordWriter:
        """The run's record file, or with ``rung`` that rung's own file: rungs running at the same
        time on other machines (a shared filesystem, where appends to one file are not safe) never
        write to the same file."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return RecordWriter(self.rung_dir(rung) / RECORDS if rung else self.records_path)

    def outcomes(self) -> list[dict[str, Any]]:
        """How each rung ended: rungs.json, updated by the ``outcome.json`` of rungs run on their own
        (the later of the two wins)."""
        merged = {o.get("name"): o for o in read_json(self.dir / "rungs.json", []) or []}
        for path in sorted(self.dir.glob("rungs/*/outcome.json")):
            o = read_json(path, None)
            if o and o.get("finished", 0) >= (merged.get(o.get("name")) or {}).get("finished", 0):
                merged[o["name"]] = o
        return list(merged.values())

    def rung_dir(self, rung: str) -> Path:
        d = self.dir / "rungs" / rung
        d.mkdir(parents=True, exist_ok=True)
        return d
