"""Rows from a task's data: JSONL, JSON, CSV, parquet, a local Hugging Face ``datasets`` directory,
or (online, with ``datasets`` installed) a hub dataset.

Every reader returns :class:`Rows`: plain dicts, each with the number a user finds it by — its line
(JSONL, CSV; a CSV header is line 1) or its 1-based row (JSON arrays, parquet, arrow, hub). A problem
is reported as ``file:number``. Malformed JSONL lines are all collected (up to
:data:`MAX_PROBLEMS`) before anything is raised, so one ``tasks validate`` lists them all.

No heavy dependency: parquet and ``datasets.save_to_disk`` directories (Arrow IPC streams) are read
with pyarrow; the ``datasets`` package is only used for a hub name, and only when it is installed
and the machine is online.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from toolkit.core.errors import UserError
from toolkit.core.yamlsafe import display, read_text

#: a data file larger than this is refused (tasks are evaluation sets, not corpora)
MAX_DATA_BYTES = 512 * 1024 * 1024
#: one JSONL line (one item): a prompt of more than this is not a task item
MAX_RECORD_BYTES = 1024 * 1024
#: problems collected from one file before reading stops
MAX_PROBLEMS = 20
FORMATS = ("jsonl", "json", "csv", "parquet", "arrow")
_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet",
           ".arrow": "arrow"}


class Problems:
    """Problems found so far (each a one-line UserError); ``raise_if_any`` raises them together."""

    def __init__(self) -> None:
        self.items: list[UserError] = []

    def add(self, where: str, value: object, hint: str) -> None:
        self.extend([UserError(where, value, hint)])

    def extend(self, errors: list[UserError]) -> None:
        seen = {e.line() for e in self.items}
        for e in errors:  # one report per distinct problem
            if e.line() not in seen:
                seen.add(e.line())
                self.items.append(e)

    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(self.items)


class SpecError(UserError):
    """Several problems at once. Its one line is the first problem plus how many more there are;
    ``problems`` holds all of them (``tasks validate`` prints each)."""

    def __init__(self, problems: list[UserError]):
        self.problems = list(problems)
        first = self.problems[0]
        more = len(self.problems) - 1
        hint = first.hint + (f" (and {more} more problem{'s' if more > 1 else ''}: `python -m toolkit tasks "
                             "validate FILE` lists them all)" if more else "")
        super().__init__(first.field, first.value, hint)


@dataclass
class Rows:
    """Rows of one source: ``numbers[i]`` is how a user finds ``rows[i]`` in ``name``."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # in first-seen order
    sha256: Optional[str] = None
    path: Optional[str] = None
    split: Optional[str] = None  # the split of a datasets directory or hub dataset these rows are
    #: lines that could not be read (malformed JSON, wrong field counts): reported by the caller,
    #: which goes on checking the good rows so that one `tasks validate` lists every problem
    problems: list[UserError] = field(default_factory=list)

    def same_source(self, other: "Rows") -> bool:
        """Rows of one file (or one split of a dataset): their ids share one namespace."""
        return self.path is not None and (self.path, self.split) == (other.path, other.split)

    def where(self, i: int) -> str:
        return f"{self.name}:{self.numbers[i]}"

    def add(self, row: dict[str, Any], number: int) -> None:
        self.rows.append(row)
        self.numbers.append(number)
        for k in row:
            if k not in self._seen:
                self._seen.add(k)
                self.columns.append(k)

    def __post_init__(self) -> None:
        self._seen: set[str] = set(self.columns)

    def select(self, keep: list[int]) -> "Rows":
        out = Rows(self.name, sha256=self.sha256, path=self.path, split=self.split)
        for i in keep:
            out.add(self.rows[i], self.numbers[i])
        return out


def file_format(path: Path, fmt: Optional[str]) -> str:
    if fmt:
        return fmt
    got = _SUFFIX.get(path.suffix.lower())
    if got is None:
        raise UserError(display(path), path.suffix or path.name, "unknown data file type; use .jsonl, .json, .csv, "
                        ".parquet or .arrow, or set data.format")
    return got


def sha256_of(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_file(path: Path, fmt: Optional[str] = None) -> Rows:
    """All rows of one data file (a UserError, or a SpecError listing several, on any problem)."""
    name = display(path)
    if not path.exists():
        raise UserError(name, str(path), "no such data file; check the path (relative paths are relative to "
                        "the task file)")
    if path.is_dir():
        raise UserError(name, str(path), "is a directory; for a Hugging Face datasets directory use data: {dir: ...}")
    if path.stat().st_size > MAX_DATA_BYTES:
        raise UserError(name, f"{path.stat().st_size} bytes", f"the data file is larger than {MAX_DATA_BYTES} bytes")
    kind = file_format(path, fmt)
    reader = {"jsonl": _jsonl, "json": _json, "csv": _csv, "parquet": _parquet, "arrow": _arrow}[kind]
    rows = reader(path, name)
    rows.sha256, rows.path = sha256_of(path), str(path.resolve())
    if not rows.rows:
        if rows.problems:
            raise SpecError(rows.problems)
        raise UserError(name, "0 rows", "the data file is empty; add at least one item")
    return rows


# --- JSON lines and JSON ---------------------------------------------------------------------------
def _reject_constant(c: str) -> Any:
    raise ValueError(f"{c} is not valid JSON (NaN and Infinity are not numbers)")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


def parse_json(text: str) -> Any:
    """json.loads without NaN/Infinity, duplicate keys or lone surrogates (ValueError on any)."""
    value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_pairs)
    if _has_surrogate(value):
        raise ValueError("a lone surrogate escape (\\ud800-\\udfff) is not text")
    return value


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _jsonl(path: Path, name: str) -> Rows:
    raw = _read_bytes(path, name)
    rows, problems = Rows(name), Problems()
    for number, line in enumerate(raw.split(b"\n"), 1):
        if problems.full():
            break
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            problems.add(f"{name}:{number}", _short(line.decode("utf-8", "replace")), "not valid UTF-8; save the "
                         "file as UTF-8")
            continue
        if not text.strip():
            continue  # blank lines (a trailing newline, spacing) are not items
        if len(line) > MAX_RECORD_BYTES:
            problems.add(f"{name}:{number}", f"{len(line)} bytes", f"a line may be at most {MAX_RECORD_BYTES} "
                         "bytes (one item); split or shorten it")
            continue
        try:
            value = parse_json(text)
        except RecursionError:
            problems.add(f"{name}:{number}", _short(text), "the JSON is nested too deeply")
            continue
        except ValueError as e:
            problems.add(f"{name}:{number}", _short(text.strip()), f"not a valid JSON line ({e}); fix the line "
                         "or remove it")
            continue
        if not isinstance(value, dict):
            problems.add(f"{name}:{number}", _short(text.strip()), "each line must be one JSON object "
                         "({\"field\": value, ...})")
            continue
        rows.add(value, number)
    rows.problems = problems.items
    return rows


def _json(path: Path, name: str) -> Rows:
    """A JSON array of objects, or JSON lines saved with a .json name (as Hugging Face accepts)."""
    text = read_text(path, name, MAX_DATA_BYTES)
    if not text.lstrip().startswith("["):
        return _jsonl(path, name)
    try:
        value = parse_json(text)
    except RecursionError:
        raise UserError(name, "nesting", "the JSON is nested too deeply") from None
    except ValueError as e:
        line = getattr(e, "lineno", None)
        raise UserError(f"{name}:{line}" if line else name, _short(str(e)), "not valid JSON; fix it") from None
    rows = Rows(name)
    for i, v in enumerate(value, 1):
        if not isinstance(v, dict):
            raise UserError(f"{name}:{i}", _short(json.dumps(v)), "each element must be a JSON object "
                            "(row numbers count array elements from 1)")
        rows.add(v, i)
    return rows


def _read_bytes(path: Path, name: str) -> bytes:
    from toolkit.core.files import read_capped
    return read_capped(path, name, MAX_DATA_BYTES)


# --- CSV -----------------------------------------------------------------------------------------
def _csv(path: Path, name: str) -> Rows:
    text = read_text(path, name, MAX_DATA_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, problems = Rows(name), Problems()
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise UserError(name, "no header", "the CSV file is empty; its first line must name the columns")
        header = [h.strip() for h in header]
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup or "" in header:
            raise UserError(f"{name}:1", ",".join(header), f"the header must name each column once "
                            f"({'duplicated: ' + ', '.join(dup) if dup else 'an empty column name'})")
        rows.columns.extend(header)
        rows._seen.update(header)
        start = reader.line_num + 1
        for record in reader:
            if problems.full():
                break
            if not any(c.strip() for c in record):
                start = reader.line_num + 1
                continue
            if len(record) != len(header):
                problems.add(f"{name}:{start}", _short(",".join(record)),
                             f"has {len(record)} fields but the header has {len(header)}; quote values that "
                             "hold commas")
            else:
                rows.add(dict(zip(header, record)), start)
            start = reader.line_num + 1
    except csv.Error as e:
        raise UserError(f"{name}:{reader.line_num}", str(e), "not valid CSV; fix the quoting there") from None
    rows.problems = problems.items
    return rows


# --- columnar: parquet, arrow, datasets directories ------------------------------------------------
def _plain(value: Any) -> Any:
    """pyarrow's Python values as JSON-like data (dates, decimals, bytes become text)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _table_rows(table: Any, name: str) -> Rows:
    rows = Rows(name)
    rows.columns.extend(table.column_names)
    rows._seen.update(table.column_names)
    for i, row in enumerate(table.to_pylist(), 1):
        rows.add({k: _plain(v) for k, v in row.items()}, i)
    return rows


def _parquet(path: Path, name: str) -> Rows:
    import pyarrow.parquet as pq
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise UserError(name, _short(str(e).split("\n")[0], 80), "cannot read the parquet file; is it a parquet "
                        "file? (re-export it, or use JSONL or CSV)") from None
    return _table_rows(table, name)


def _arrow_table(path: Path, name: str) -> Any:
    import pyarrow as pa
    errors = []
    for opener in (pa.ipc.open_stream, pa.ipc.open_file):  # datasets writes streams; Arrow files also work
        try:
            with pa.memory_map(str(path)) as source:
                return opener(source).read_all()
        except Exception as e:  # noqa: BLE001
            errors.append(str(e).split("\n")[0])
    raise UserError(name, _short(errors[-1], 80), "cannot read the Arrow file; is it an Arrow IPC file?")


def _arrow(path: Path, name: str) -> Rows:
    return _table_rows(_arrow_table(path, name), name)


def read_dataset_dir(path: Path, split: Optional[str]) -> tuple[Rows, list[str]]:
    """One split of a directory written by ``datasets``' ``save_to_disk`` (a Dataset or a
    DatasetDict), read with pyarrow: ``(rows, available splits)``. ``split`` None takes the only one."""
    import pyarrow as pa
    name = display(path)
    if not path.is_dir():
        raise UserError(name, str(path), "no such directory; data.dir must be a directory written by "
                        "datasets' save_to_disk")
    splits_file = path / "dataset_dict.json"
    if splits_file.is_file():
        try:
            splits = [str(s) for s in parse_json(read_text(splits_file))["splits"]]
        except (ValueError, KeyError, TypeError):
            raise UserError(display(splits_file), "splits", "not a valid dataset_dict.json") from None
        if split is None:
            if len(splits) != 1:
                raise UserError(name, ", ".join(splits), "the dataset has several splits; name one with data.split")
            split = splits[0]
        if split not in splits:
            from toolkit.core.errors import did_you_mean
            raise UserError(f"{name}: split", split, f"no such split; {did_you_mean(split, splits)}")
        sub = path / split
    else:
        splits, sub = [], path
    state = sub / "state.json"
    if not state.is_file():
        raise UserError(name, str(sub), "not a datasets directory (no state.json); save it with "
                        "Dataset.save_to_disk, or export JSONL/parquet")
    try:
        files = [f["filename"] for f in parse_json(read_text(state))["_data_files"]]
    except (ValueError, KeyError, TypeError):
        raise UserError(display(state), "_data_files", "not a valid datasets state.json") from None
    tables = []
    for f in files:
        p = sub / f
        if Path(f).is_absolute() or ".." in Path(f).parts or not p.is_file():
            raise UserError(display(state), f, "names a data file that is not in the directory")
        tables.append(_arrow_table(p, display(p)))
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    label = f"{name}[{split}]" if split else name
    rows = _table_rows(table, label)
    rows.path, rows.split = str(path.resolve()), split
    rows.sha256 = _dir_digest([sub / f for f in files])
    if not rows.rows:
        raise UserError(label, "0 rows", "the dataset split is empty")
    return rows, splits


def _dir_digest(files: list[Path]) -> str:
    import hashlib
    h = hashlib.sha256()
    for f in files:
        h.update(sha256_of(f).encode())
    return h.hexdigest()


def read_hub(name: str, config: Optional[str], split: str) -> Rows:
    """A hub dataset split, through ``datasets`` — only when it is installed and the machine is online."""
    label = f"hub:{name}" + (f"/{config}" if config else "")
    offline = any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
                  for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if offline:
        raise UserError("data.hub", name, "hub datasets need network access, and HF_HUB_OFFLINE is set; download "
                        "the split and point data: at a local JSONL/CSV/parquet file or a save_to_disk directory")
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise UserError("data.hub", name, "reading a hub dataset needs the `datasets` package, which is not "
                        "installed; export the split to JSONL/parquet and use data: {file: ...}") from None
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # noqa: BLE001 - network, missing dataset, bad split
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError("data.hub", name, f"cannot load it ({_short(why, 100)})") from None
    rows = Rows(f"{label}[{split}]")
    for i, row in enumerate(ds, 1):
        rows.add({k: _plain(v) for k, v in dict(row).items()}, i)
    rows.path, rows.split = label, split
    rows.sha256 = getattr(ds, "_fingerprint", None)
    return rows


_CACHE: dict[tuple, Rows] = {}


def read_cached(path: Path, fmt: Optional[str]) -> Rows:
    """read_file, remembered per (path, size, mtime): a spec read twice (lm-eval conversion, then
    the spec) parses its data once."""
    try:
        st = path.stat()
        key: Optional[tuple] = (str(path.resolve()), st.st_size, st.st_mtime_ns, fmt)
    except OSError:
        key = None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    rows = read_file(path, fmt)
    if key is not None:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = rows
    return rows
