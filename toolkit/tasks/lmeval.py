"""lm-evaluation-harness task YAML -> Crossover task spec, so existing tasks get the strategy axis.

Supported: ``task``; data from ``dataset_path: json|csv|parquet|arrow`` with ``dataset_kwargs.data_files``
(paths relative to the YAML, else to the working directory), a local directory (``data_files`` inside
it, or a ``save_to_disk`` directory), or a hub name (online, ``datasets`` installed);
``test_split``/``validation_split`` (evaluated: the first set), ``fewshot_split``/``training_split``/
``validation_split`` or ``fewshot_config.samples`` (exemplars: the first that differs from the evaluated
split); ``doc_to_text``/``doc_to_target``/``doc_to_choice`` as a column name, a Jinja template
(rendered per document in Crossover's sandbox), an int or a list, with lm-eval's reading (a column
if the data has one of that name, else a template; a target rendering digits is a choice index);
``output_type`` ``multiple_choice`` (answer type choice, options shown as (A) (B) ...) or
``generate_until`` (number when every target is a number, else text); ``include``.

Crossover-only settings (a rationale for chain of thought, an answer type, ...) go under
``metadata: {crossover: {...}}``, which lm-eval ignores, so the file still runs there.

Refused with a one-line error: ``!function`` anywhere (configuration never runs code: see
:mod:`toolkit.core.yamlsafe`), loglikelihood output types, promptsource prompts. Recorded but not
used, since Crossover's strategies build the prompts: ``num_fewshot``, delimiters, ``description``,
``generation_kwargs``, filters and metrics (listed in the spec's ``origin.notes``). A ``doc_to_text``
that frames the question itself ("Question: ... Answer:") loses that frame, since every strategy
writes its own "Q: ... A:".
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from toolkit.core.errors import UserError, did_you_mean
from toolkit.core.prompting import UndefinedVariable, compile_string
from toolkit.core.scoring import normalize_number
from toolkit.core import yamlsafe
from toolkit.tasks import spec
from toolkit.tasks.loaders import Rows, read_cached, read_dataset_dir, read_hub
from toolkit.core.yamlsafe import Lines, display, line_of

#: keys that mark a YAML as an lm-evaluation-harness task
MARKERS = ("doc_to_text", "doc_to_target", "dataset_path", "output_type")
USED = {"task", "dataset_path", "dataset_name", "dataset_kwargs", "test_split", "validation_split",
        "training_split", "fewshot_split", "doc_to_text", "doc_to_target", "doc_to_choice", "output_type",
        "fewshot_config", "include", "metadata", "num_fewshot", "description"}
IGNORED = {"task_alias", "tag", "group", "target_delimiter", "fewshot_delimiter", "generation_kwargs",
           "filter_list", "metric_list", "repeats", "should_decontaminate", "doc_to_decontamination_query",
           "gen_prefix", "dataset_name", "doc_to_image", "doc_to_audio", "unsafe_code"}
REFUSED = {"process_docs": "preprocess the data file instead",
           "process_results": "Crossover scores answers itself (exact match after 'The answer is')",
           "custom_dataset": "export the data to JSONL/CSV/parquet",
           "use_prompt": "promptsource prompts are not supported; write doc_to_text/doc_to_target"}
CROSSOVER_KEYS = ("name", "answer_type", "answer_regex", "rationale", "scratch", "instruction", "decomposition", "choice_target",
                  "append_choices", "random_baseline", "pool_size")
FILE_TYPES = {"json": None, "csv": "csv", "parquet": "parquet", "arrow": "arrow"}
MAX_INCLUDES = 5
#: the question frame lm-eval prompts write themselves; Crossover's strategies write "Q: ... A:"
_LEAD = re.compile(r"^\s*(?:Question|Q)\s*:[ \t]*")
_TRAIL = re.compile(r"\s*(?:Answer|A)\s*:\s*$")
_LISTED = re.compile(r"(?m)^\s*\(?([A-H])[.):]\s")


#: doc_to_target templates that keep what follows "####" (GSM8K's final answer after its worked solution)
_AFTER_HASHES = re.compile(r"""^\{\{\s*(\w+)\.split\(\s*(['"])####\2\s*\)\s*\[\s*-1\s*\](\.strip\(\))?\s*\}\}$""")


def worked_solution(doc_to_target: Any) -> Optional[str]:
    """For a target that is the part of a column after "####" (GSM8K), the template of the part before
    it: the worked solution a chain-of-thought exemplar shows. None otherwise."""
    m = _AFTER_HASHES.match(doc_to_target.strip()) if isinstance(doc_to_target, str) else None
    return "{{ " + m.group(1) + ".split('####')[0].strip() }}" if m else None


def is_lmeval(data: Any) -> bool:
    return isinstance(data, dict) and "fields" not in data and any(k in data for k in MARKERS)


def _merge_includes(data: dict[str, Any], lines: Lines, path: Path, depth: int = 0,
                    chain: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Path]]:
    """lm-eval's ``include: other.yaml`` (relative to the including file): its keys, overridden by
    ours; and for each key, the folder of the file that set it (its data_files are relative to it)."""
    inc = data.get("include")
    if inc is None:
        return data, {k: path.parent for k in data}
    where = f"{display(path)}:{line_of(lines, ('include',))}"
    if not isinstance(inc, str):
        raise UserError(where, inc, "include must be one file name")
    target = (path.parent / inc).resolve()
    if depth >= MAX_INCLUDES or str(target) in chain:
        raise UserError(where, inc, "include chain too deep or circular")
    if not target.is_file():
        raise UserError(where, inc, f"no such file to include ({display(target)}); includes are resolved "
                        "relative to the including file")
    base, base_lines = yamlsafe.load(target)
    if not isinstance(base, dict):
        raise UserError(display(target), type(base).__name__, "an included file must be a YAML mapping")
    base, dirs = _merge_includes(base, base_lines, target, depth + 1, chain + (str(path.resolve()),))
    line = line_of(lines, ("include",))
    for key in base:
        lines.setdefault((key,), line or 1)  # an inherited key is reported at the include line
    own = {k: v for k, v in data.items() if k != "include"}
    return {**base, **own}, {**dirs, **{k: path.parent for k in own}}


def convert(data: dict[str, Any], lines: Lines, path: Path) -> tuple[dict[str, Any], Lines, list[str], dict[str, str]]:
    """``(spec dict, spec lines, notes, labels)``: labels name spec keys by the lm-eval keys they came from."""
    return _Converter(data, lines, Path(path)).run()


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")
    return s[:64] or "task"


class _Converter:
    def __init__(self, data: dict[str, Any], lines: Lines, path: Path):
        self.lines, self.path, self.name = lines, path, display(path)
        self.data, self.dirs = _merge_includes(data, lines, path)
        self.notes: list[str] = []
        self.spec_lines: Lines = {(): 1}
        self.labels: dict[str, str] = {}

    def where(self, *key: Any) -> str:
        line = line_of(self.lines, key)
        return f"{self.name}:{line}: {'.'.join(map(str, key))}" if line else f"{self.name}: {'.'.join(map(str, key))}"

    def link(self, spec_loc: tuple, lm_loc: tuple) -> None:
        line = line_of(self.lines, lm_loc)
        if line:
            self.spec_lines[spec_loc] = line
        self.labels[".".join(map(str, spec_loc))] = ".".join(map(str, lm_loc))

    def run(self) -> tuple[dict[str, Any], Lines, list[str], dict[str, str]]:
        d = self.data
        self.check_keys()
        task = d.get("task")
        if not isinstance(task, str) or not task.strip():
            raise UserError(self.where("task"), task, "an lm-eval task needs a task name (task: ...)")
        cx = self.crossover()
        output = d.get("output_type", "generate_until")
        if output in ("loglikelihood", "loglikelihood_rolling"):
            raise UserError(self.where("output_type"), output, "Crossover's strategies generate answers; only "
                            "generate_until and multiple_choice tasks can be imported")
        if output not in ("generate_until", "multiple_choice"):
            raise UserError(self.where("output_type"), output, f"unknown output_type; "
                            f"{did_you_mean(str(output), ['generate_until', 'multiple_choice'])}")
        data_spec, eval_split, splits = self.source()
        rows = self.peek(data_spec)
        spec: dict[str, Any] = {"name": cx.pop("name", None) or slug(task),
                                "description": self.description(task), "data": data_spec}
        self.link(("name",), ("task",))
        self.link(("data",), ("dataset_path",))
        fields = self.fields(rows, cx)
        spec["fields"] = fields
        spec["answer_type"] = cx.pop("answer_type", None) or self.answer_type(output, rows, fields)
        self.link(("answer_type",), ("metadata", "crossover", "answer_type") if ("metadata", "crossover",
                  "answer_type") in self.lines else ("output_type",))
        if spec["answer_type"] == "choice" and "choice_target" not in cx:
            spec["choice_target"] = self.choice_target(rows, fields)
        if spec["answer_type"] == "choice" and "append_choices" not in cx:
            spec["append_choices"] = not self.lists_choices(rows, fields)
        spec["exemplars"] = self.exemplars(eval_split, splits, cx.pop("pool_size", None))
        for key in ("answer_regex", "choice_target", "append_choices", "random_baseline", "instruction"):
            if key in cx:
                spec[key] = cx.pop(key)
                self.link((key,), ("metadata", "crossover", key))
        spec["origin"] = {"format": "lm-eval", "file": self.name, "task": task,
                          "num_fewshot": d.get("num_fewshot") if isinstance(d.get("num_fewshot"), int) else None,
                          "notes": list(self.notes)}
        summary = f"task {spec['name']} (lm-eval {self.name}): " + "; ".join(self.notes) if self.notes else None
        return spec, self.spec_lines, [summary] if summary else [], self.labels

    def check_keys(self) -> None:
        for key, value in self.data.items():
            if key in REFUSED:
                raise UserError(self.where(key), key, f"not supported: {REFUSED[key]}")
            if key not in USED | IGNORED:
                raise UserError(self.where(key), key, f"unknown lm-eval task key; "
                                f"{did_you_mean(key, sorted(USED | IGNORED | set(REFUSED)))}")

        ignored = [k for k in self.data if k in IGNORED and k not in ("dataset_name", "unsafe_code")]
        if ignored:
            self.notes.append(f"ignored {', '.join(ignored)}: Crossover's strategies build the prompts, stop "
                              "strings and scoring")
        if self.data.get("unsafe_code"):
            raise UserError(self.where("unsafe_code"), True, "tasks that run code are not supported")
        if "num_fewshot" in self.data:
            self.notes.append(f"num_fewshot {self.data['num_fewshot']} recorded, not used: the experiment's "
                              "`shots` sets how many exemplars few-shot strategies show")

    def crossover(self) -> dict[str, Any]:
        meta = self.data.get("metadata") or {}
        if not isinstance(meta, dict):
            raise UserError(self.where("metadata"), type(meta).__name__, "metadata must be a mapping")
        cx = meta.get("crossover") or {}
        if not isinstance(cx, dict):
            raise UserError(self.where("metadata", "crossover"), type(cx).__name__, "metadata.crossover must be a "
                            "mapping of Crossover settings")
        for key in cx:
            if key not in CROSSOVER_KEYS:
                raise UserError(self.where("metadata", "crossover", key), key, f"unknown Crossover setting; "
                                f"{did_you_mean(key, CROSSOVER_KEYS)}")
        return dict(cx)

    def description(self, task: str) -> str:
        desc = self.data.get("description")
        if isinstance(desc, str) and desc.strip():
            self.notes.append("description kept as the task's description, not shown in prompts")
            return desc.strip()
        return f"lm-evaluation-harness task {task}"

    # -- data --
    def resolve(self, rel: str, base: Optional[Path] = None, key: str = "dataset_kwargs") -> str:
        """A data path: inside ``base`` (a local dataset folder) if given, else relative to the YAML that
        set ``key``, then to the task YAML, then to the working directory (where lm-eval resolves them)."""
        p = Path(rel).expanduser()
        if p.is_absolute():
            return str(p)
        roots = [base] if base else list(dict.fromkeys([self.dirs.get(key, self.path.parent), self.path.parent,
                                                        Path.cwd()]))
        for root in roots:
            if (root / p).exists():
                return str((root / p).resolve())
        return str((roots[0] / p).resolve())

    def source(self) -> tuple[dict[str, Any], str, list[str]]:
        d = self.data
        dp = d.get("dataset_path")
        if not isinstance(dp, str) or not dp:
            raise UserError(self.where("dataset_path"), dp, "an lm-eval task needs dataset_path")
        kwargs = d.get("dataset_kwargs") or {}
        if not isinstance(kwargs, dict):
            raise UserError(self.where("dataset_kwargs"), type(kwargs).__name__, "dataset_kwargs must be a mapping")
        for k in kwargs:
            if k != "data_files":
                self.notes.append(f"dataset_kwargs.{k} ignored")
        eval_split = d.get("test_split") or d.get("validation_split")
        if not isinstance(eval_split, str):
            raise UserError(self.where("test_split"), eval_split, "give test_split (or validation_split): the split "
                            "Crossover evaluates")
        split_key = "test_split" if d.get("test_split") else "validation_split"
        local_dir = None
        if dp not in FILE_TYPES:
            cand = Path(self.resolve(dp, key="dataset_path"))
            local_dir = cand if cand.is_dir() else None
        files = kwargs.get("data_files")
        if dp in FILE_TYPES or (local_dir is not None and files is not None):
            if files is None:
                raise UserError(self.where("dataset_path"), dp, "a local dataset needs dataset_kwargs.data_files")
            by_split = self.data_files(files, local_dir)
            if eval_split not in by_split:
                raise UserError(self.where(split_key), eval_split, f"no data_files for this split; "
                                f"{did_you_mean(eval_split, list(by_split))}")
            spec: dict[str, Any] = {"files": by_split, "split": eval_split}
            if FILE_TYPES.get(dp):
                spec["format"] = FILE_TYPES[dp]
            self.link(("data", "files"), ("dataset_kwargs", "data_files"))
            self.link(("data", "split"), (split_key,))
            return spec, eval_split, list(by_split)
        if local_dir is not None:
            self.link(("data", "dir"), ("dataset_path",))
            return {"dir": str(local_dir), "split": eval_split}, eval_split, self.dir_splits(local_dir)
        out = {"hub": dp, "split": eval_split}
        if d.get("dataset_name"):
            out["config"] = d["dataset_name"]
        return out, eval_split, []

    def data_files(self, files: Any, base: Optional[Path]) -> dict[str, Any]:
        if isinstance(files, (str, list)):
            files = {"train": files}  # datasets' reading of a bare data_files
        if not isinstance(files, dict):
            raise UserError(self.where("dataset_kwargs", "data_files"), type(files).__name__,
                            "data_files must be a file, a list of files or a mapping split -> file(s)")
        out: dict[str, Any] = {}
        for split, value in files.items():
            paths = [value] if isinstance(value, str) else value
            if not isinstance(paths, list) or not paths or not all(isinstance(v, str) for v in paths):
                raise UserError(self.where("dataset_kwargs", "data_files", split), value,
                                "give a file or a list of files")
            resolved = [self.resolve(v, base) for v in paths]
            out[str(split)] = resolved[0] if len(resolved) == 1 else resolved
        return out

    @staticmethod
    def dir_splits(path: Path) -> list[str]:
        import json
        try:
            return [str(s) for s in json.loads((path / "dataset_dict.json").read_text())["splits"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def peek(self, data_spec: dict[str, Any]) -> Rows:
        """The evaluated split's rows (the spec reads them again from a cache)."""
        if "files" in data_spec:
            value = data_spec["files"][data_spec["split"]]
            first = value if isinstance(value, str) else value[0]
            try:
                return read_cached(Path(first), data_spec.get("format"))
            except UserError as e:
                if "no such data file" in e.hint:
                    raise UserError(self.where("dataset_kwargs", "data_files"), first, "no such data file; data_files "
                                    "are resolved relative to the YAML, then the working directory") from None
                raise
        if "dir" in data_spec:
            return read_dataset_dir(Path(data_spec["dir"]), data_spec["split"])[0]
        return read_hub(data_spec["hub"], data_spec.get("config"), data_spec["split"])

    # -- fields --
    def ref(self, value: Any, columns: list[str], key: str, lm_key: tuple) -> Any:
        """lm-eval's reading of a doc_to_* value: a column if the data has it, else a Jinja template."""
        if isinstance(value, bool) or value is None:
            raise UserError(self.where(*lm_key), value, "give a column name or a Jinja template")
        if isinstance(value, int):
            if key == "target":
                return {"template": str(value)}
            raise UserError(self.where(*lm_key), value, "an integer is only meaningful for doc_to_target")
        if not isinstance(value, str):
            raise UserError(self.where(*lm_key), type(value).__name__, "give a column name or a Jinja template")
        return value if value in columns else {"template": value}

    def fields(self, rows: Rows, cx: dict[str, Any]) -> dict[str, Any]:
        d = self.data
        for key in ("doc_to_text", "doc_to_target"):
            if key not in d:
                raise UserError(self.where(key), None, f"an lm-eval task needs {key}")
        f: dict[str, Any] = {"input": self.frame_stripped(self.ref(d["doc_to_text"], rows.columns, "input",
                                                                    ("doc_to_text",))),
                             "target": self.ref(d["doc_to_target"], rows.columns, "target", ("doc_to_target",))}
        self.link(("fields", "input"), ("doc_to_text",))
        self.link(("fields", "target"), ("doc_to_target",))
        if "doc_to_choice" in d:
            choice = d["doc_to_choice"]
            if isinstance(choice, list):
                f["choices"] = {"values": choice}
            elif isinstance(choice, dict):
                f["choices"] = {"values": list(choice.values())}
            else:
                f["choices"] = self.ref(choice, rows.columns, "choices", ("doc_to_choice",))
            self.link(("fields", "choices"), ("doc_to_choice",))
        for key in ("rationale", "scratch", "instruction", "decomposition"):
            if key in cx:
                f[key] = self.ref(cx.pop(key), rows.columns, key, ("metadata", "crossover", key))
                self.link(("fields", key), ("metadata", "crossover", key))
        if "rationale" not in f:
            offered = worked_solution(d["doc_to_target"])
            if offered:
                f["rationale"] = {"template": offered}
                self.link(("fields", "rationale"), ("doc_to_target",))
                self.notes.append(f"rationale: the part of the answer before '####' ({offered}), GSM8K's worked "
                                  "solution, for chain of thought; set metadata.crossover.rationale to choose another")
        return f

    def frame_stripped(self, ref: Any) -> Any:
        if not isinstance(ref, dict):
            return ref
        text = ref["template"]
        stripped = _TRAIL.sub("", _LEAD.sub("", text, count=1))
        if stripped != text and stripped.strip():
            self.notes.append("doc_to_text's own 'Question:'/'Answer:' frame dropped: strategies write 'Q: ... A:'")
            return {"template": stripped}
        return ref

    def render_all(self, ref: Any, rows: Rows, limit: int = 200) -> list[Any]:
        """The values ``ref`` gives on the first rows (rows it fails on are skipped: the spec reports them)."""
        out: list[Any] = []
        if isinstance(ref, str):
            return [r.get(ref) for r in rows.rows[:limit]]
        try:
            run = compile_string(ref["template"], "peek")
        except UserError:
            return out
        for r in rows.rows[:limit]:
            try:
                out.append(run({str(k): v for k, v in r.items()}))
            except (UserError, UndefinedVariable):
                continue
        return out

    def answer_type(self, output: str, rows: Rows, fields: dict[str, Any]) -> str:
        if output == "multiple_choice":
            return "choice"
        targets = [t for t in self.render_all(fields["target"], rows, limit=len(rows.rows)) if t is not None]
        if targets and all(normalize_number(str(t)) is not None for t in targets):
            self.notes.append("answer type number: every target is a number (set metadata.crossover.answer_type "
                              "to override)")
            return "number"
        self.notes.append("answer type text (set metadata.crossover.answer_type to override)")
        return "text"

    def choice_target(self, rows: Rows, fields: dict[str, Any]) -> str:
        values = [v for v in self.render_all(fields["target"], rows) if v is not None]
        digits = all((isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v.strip().isdigit())
                     for v in values)
        return "index" if values and digits else "text"

    def lists_choices(self, rows: Rows, fields: dict[str, Any]) -> bool:
        """Whether doc_to_text already writes the options as A. / (A) / A) lines."""
        texts = [t for t in self.render_all(fields["input"], rows, limit=1) if isinstance(t, str)]
        if not texts:
            return False
        letters = set(_LISTED.findall(texts[0]))
        listed = {"A", "B"} <= letters
        if listed:
            self.notes.append("doc_to_text lists the options itself, so they are not appended again")
        return listed

    def exemplars(self, eval_split: str, splits: list[str], pool_size: Optional[int]) -> Any:
        d = self.data
        extra = {"pool_size": pool_size} if pool_size else {}
        cfg = d.get("fewshot_config") or {}
        if not isinstance(cfg, dict):
            raise UserError(self.where("fewshot_config"), type(cfg).__name__, "fewshot_config must be a mapping")
        if cfg.get("sampler"):
            self.notes.append(f"fewshot_config.sampler {cfg['sampler']} ignored: exemplars are drawn per exemplar seed")
        if "samples" in cfg:
            samples = cfg["samples"]
            if not isinstance(samples, list) or not samples or not all(isinstance(s, dict) for s in samples):
                raise UserError(self.where("fewshot_config", "samples"), type(samples).__name__, "samples must be a "
                                "list of documents (mappings)")
            self.link(("exemplars",), ("fewshot_config", "samples"))
            for i in range(len(samples)):
                line = line_of(self.lines, ("fewshot_config", "samples", i))
                if line:
                    self.spec_lines[("exemplars", "rows", i)] = line
            return {"rows": samples, **extra}
        for key in ("fewshot_split", "training_split", "validation_split"):
            split = d.get(key)
            if not isinstance(split, str) or split == eval_split:
                continue
            if splits and split not in splits:
                raise UserError(self.where(key), split, f"no such split in the data; {did_you_mean(split, splits)}")
            self.link(("exemplars",), (key,))
            self.link(("exemplars", "split"), (key,))
            return {"split": split, **extra}
        self.notes.append("no few-shot split apart from the evaluated one: exemplars none, so only zero-shot "
                          "strategies run (add fewshot_split or training_split)")
        return "none"


spec.register_converter(is_lmeval, convert)
