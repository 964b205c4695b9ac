"""Task specs (bring your own data): loading, item ids, exemplars, answer types, errors, lm-eval import."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from toolkit.core.config import ROOT, Sampling
from toolkit.core.errors import UserError
from toolkit.core.scoring import AnswerRegex, extract
from toolkit.core.strategy import get_strategy, template_path
from toolkit.tasks import draw_exemplars, load_task, spec, task_fingerprint
from toolkit.tasks.loaders import SpecError
from toolkit.tasks.scaffold import import_lmeval, new_task, validate_file
from toolkit.core.types import Completion

CAPITALS = ROOT / "examples" / "capitals" / "task.yaml"
LMEVAL = ROOT / "examples" / "lmeval" / "task.yaml"


@pytest.fixture(autouse=True)
def _fresh_specs():
    spec.forget()
    yield
    spec.forget()


def write_task(folder: Path, data: list[dict] | str, exemplars: list[dict] | None = None, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else "".join(json.dumps(r) + "\n" for r in data)
    (folder / "data.jsonl").write_text(text)
    doc = {"name": fields.pop("name", "mytask"), "data": "data.jsonl",
           "fields": fields.pop("fields", {"input": "question", "target": "answer"}),
           "answer_type": fields.pop("answer_type", "number"), "exemplars": "none"}
    if exemplars is not None:
        (folder / "ex.jsonl").write_text("".join(json.dumps(r) + "\n" for r in exemplars))
        doc["exemplars"] = {"file": "ex.jsonl"}
    doc.update(fields)
    (folder / "task.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder / "task.yaml"


QA = [{"question": f"What is {a} + {b}?", "answer": str(a + b)} for a, b in [(1, 2), (3, 4), (5, 6), (7, 8)]]
EX = [{"question": "What is 10 + 10?", "answer": "20", "rationale": "10 + 10 = 20."}]


# --- the example and load_task --------------------------------------------------------------------
def test_example_loads_through_load_task():
    task = load_task(str(CAPITALS), 10, seed=0)
    assert task.name == "capitals" and task.answer_type == "text" and len(task.items) == 10
    assert all(it.id.startswith("q") for it in task.items)  # from the id column
    assert len(task.exemplars) == 8 and all(e.rationale for e in task.exemplars)
    assert not {i.input for i in task.items} & {e.input for e in task.exemplars}
    src = task.meta["source"]
    assert src["spec"] == str(CAPITALS) and all(len(d["sha256"]) == 64 for d in src["data"])


def test_relative_spec_path_from_repo_root():
    assert load_task("examples/capitals/task.yaml", 3, 0).name == "capitals"


def test_items_are_prefix_stable_and_seeded():
    small, big = load_task(str(CAPITALS), 5, 0), load_task(str(CAPITALS), 15, 0)
    assert small.items == big.items[:5]
    other = load_task(str(CAPITALS), 5, 1)
    assert [i.id for i in other.items] != [i.id for i in small.items]
    assert small.exemplars == other.exemplars  # the pool never depends on the seed


def test_n_larger_than_data_uses_all_items_with_a_note():
    task = load_task(str(CAPITALS), 500, 0)
    assert len(task.items) == 20 and task.meta["n_available"] == 20
    assert any("using all 20" in n for n in task.meta["notes"])


def test_notes_are_printed_after_a_successful_command():
    p = cli("render", "--task", "examples/capitals/task.yaml", "--strategy", "few_shot", "--n", "50")
    assert p.returncode == 0 and p.stderr.strip() == "note: task capitals: n=50 but the data has 20 items; using all 20"


def test_ids_default_to_line_numbers(tmp_path):
    path = write_task(tmp_path, "\n".join(json.dumps(r) for r in QA[:2]) + "\n\n" + json.dumps(QA[2]) + "\n")
    task = load_task(str(path), 10, 0)
    assert sorted(i.id for i in task.items) == ["1", "2", "4"]  # the blank line 3 is skipped, not renumbered


def test_csv_ids_are_line_numbers_with_header_as_line_1(tmp_path):
    (tmp_path / "d.csv").write_text('question,answer\n"What is 1 + 1?",2\n"What is\n2 + 2?",4\n"What is 3 + 3?",6\n')
    (tmp_path / "t.yaml").write_text("name: csvtask\ndata: d.csv\nfields: {input: question, target: answer}\n"
                                     "answer_type: number\nexemplars: none\n")
    task = load_task(str(tmp_path / "t.yaml"), 10, 0)
    assert sorted(i.id for i in task.items) == ["2", "3", "5"]  # a quoted newline spans lines 3-4


def test_data_change_changes_the_fingerprint(tmp_path):
    path = write_task(tmp_path, QA)
    before = task_fingerprint(load_task(str(path), 4, 0))
    spec.forget()
    write_task(tmp_path, QA[:3] + [{"question": "What is 7 + 8?", "answer": "16"}])
    assert task_fingerprint(load_task(str(path), 4, 0)) != before


def test_regex_is_part_of_the_fingerprint(tmp_path):
    path = write_task(tmp_path, QA, answer_type="regex", answer_regex="([0-9]+)")
    before = task_fingerprint(load_task(str(path), 4, 0))
    spec.forget()
    write_task(tmp_path, QA, answer_type="regex", answer_regex="(-?[0-9]+)")
    assert task_fingerprint(load_task(str(path), 4, 0)) != before


def test_builtin_fingerprints_are_unchanged_by_specs():
    assert "spec" not in load_task("arith_words", 2, 0).meta


# --- prompts ---------------------------------------------------------------------------------------
def test_cot_prompt_for_a_spec_task():
    task = load_task(str(CAPITALS), 3, 0)
    ex = draw_exemplars(task, 1, 0)
    prompt = get_strategy("cot", 1, Sampling()).build_request("k", task, task.items[0], ex).prompt
    assert prompt == (f"Q: {ex[0].input}\nA: {ex[0].rationale} The answer is {ex[0].target}.\n\n"
                      f"Q: {task.items[0].input}\nA:")


def test_choice_items_show_their_options(tmp_path):
    rows = [{"question": "Which is red?", "options": ["sky", "blood"], "answer": "blood"}]
    path = write_task(tmp_path, rows, answer_type="choice",
                      fields={"input": "question", "target": "answer", "choices": "options"})
    task = load_task(str(path), 1, 0)
    assert task.items[0].input == "Which is red? Answer Choices: (A) sky (B) blood"
    assert task.items[0].target == "B" and task.random_baseline == 0.5


@pytest.mark.parametrize("target,choices,mode,want", [
    ("blood", ["sky", "blood"], "auto", "B"),
    ("B", ["sky", "blood"], "auto", "B"),
    (1, ["sky", "blood"], "auto", "B"),
    ("1", ["sky", "blood"], "index", "B"),
    ("5", ["3", "5", "7"], "auto", "B"),    # numeric choices: a number is read as the text
    (2, ["3", "5", "7"], "index", "C"),
])
def test_choice_targets(tmp_path, target, choices, mode, want):
    rows = [{"question": "Pick one.", "options": choices, "answer": target}]
    path = write_task(tmp_path, rows, answer_type="choice", choice_target=mode,
                      fields={"input": "question", "target": "answer", "choices": "options"})
    assert load_task(str(path), 1, 0).items[0].target == want


def test_ambiguous_choice_target_is_an_error(tmp_path):
    rows = [{"question": "Pick one.", "options": ["B", "A"], "answer": "A"}]
    path = write_task(tmp_path, rows, answer_type="choice",
                      fields={"input": "question", "target": "answer", "choices": "options"})
    with pytest.raises(UserError, match="ambiguous.*choice_target"):
        load_task(str(path), 1, 0)


def test_template_override_is_used_and_fingerprinted(tmp_path):
    path = write_task(tmp_path, QA, EX, fields={"input": "question", "target": "answer", "rationale": "rationale"},
                      templates={"cot": "mine.j2"})
    (tmp_path / "mine.j2").write_text("{% for ex in exemplars %}P: {{ ex.input }} S: {{ ex.rationale }}\n"
                                      "{% endfor %}P: {{ item.input }} S:")
    task = load_task(str(path), 1, 0)
    strat = get_strategy("cot", 1, Sampling())
    assert strat.template_paths(task) == [(tmp_path / "mine.j2").resolve()]
    assert template_path("cot", "arith_words") == ROOT / "prompts" / "cot.j2"  # other tasks unaffected
    prompt = strat.build_request("k", task, task.items[0], draw_exemplars(task, 1, 0)).prompt
    assert prompt.startswith("P: What is 10 + 10? S: 10 + 10 = 20.\nP: ")


def test_instruction_field_feeds_the_instruction_strategy(tmp_path):
    path = write_task(tmp_path, QA, instruction="Add the two numbers.")
    task = load_task(str(path), 1, 0)
    prompt = get_strategy("instruction", 0, Sampling()).build_request("k", task, task.items[0], []).prompt
    assert prompt.startswith("Add the two numbers. End your reply with \"The answer is N.\"")
    assert prompt.endswith(task.items[0].input)


# --- strategies that cannot run ---------------------------------------------------------------------
def test_cot_without_rationales_is_a_one_line_error_naming_the_fix(tmp_path):
    path = write_task(tmp_path, QA, [{"question": "What is 9 + 9?", "answer": "18"}])
    task = load_task(str(path), 2, 0)
    with pytest.raises(UserError) as e:
        get_strategy("cot", 1, Sampling()).build_request("k", task, task.items[0], draw_exemplars(task, 1, 0))
    line = e.value.line()
    assert "mytask" in line and "'rationale'" in line and "fields: {rationale:" in line and "\n" not in line


def test_exemplars_none_refuses_few_shot_but_runs_zero_shot(tmp_path):
    path = write_task(tmp_path, QA)
    task = load_task(str(path), 2, 0)
    with pytest.raises(UserError, match="exemplars: none.*give the task exemplars"):
        get_strategy("few_shot", 8, Sampling()).build_request("k", task, task.items[0], draw_exemplars(task, 8, 0))
    prompt = get_strategy("zero_shot_cot_stage1", 8, Sampling()).build_request(
        "k", task, task.items[0], draw_exemplars(task, 8, 0)).prompt
    assert prompt.endswith("Let's think step by step.")


def test_validate_reports_strategies_that_cannot_run(tmp_path):
    check = validate_file(str(write_task(tmp_path, QA)))
    ready = {name: ok for name, ok, _ in check.strategies}
    assert ready["zero_shot_cot"] and ready["instruction"] and not ready["few_shot"] and not ready["cot"]


# --- answer types ----------------------------------------------------------------------------------
def test_regex_answer_type_scores_through_the_strategy(tmp_path):
    rows = [{"question": "When? (YYYY-MM-DD)", "answer": "1969-07-20"}]
    path = write_task(tmp_path, rows, answer_type="regex", answer_regex=r"([0-9]{4}-[0-9]{2}-[0-9]{2})")
    task = load_task(str(path), 1, 0)
    assert isinstance(task.answer_type, AnswerRegex) and task.answer_type == "regex"
    strat = get_strategy("zero_shot_cot_stage1", 0, Sampling())
    good = strat.score(task, task.items[0], Completion("It was in July. The answer is on 1969-07-20, a Sunday."))
    bad = strat.score(task, task.items[0], Completion("The answer is 1970-01-01."))
    assert (good.correct, good.extracted, bad.correct) == (True, "1969-07-20", False)


def test_regex_search_is_bounded():
    t = AnswerRegex(r"([0-9]+)")
    assert extract("The answer is " + "x" * 100 + " 42", t) == ("42", "answer_is")
    assert extract("The answer is " + "x" * 300 + " 42", t)[0] is None  # beyond the answer span


# --- problems are collected with lines -------------------------------------------------------------
def test_malformed_lines_are_all_reported(tmp_path):
    text = json.dumps(QA[0]) + "\n{bad\n" + json.dumps(QA[1]) + "\n[1, 2]\n" + json.dumps({"question": "x"}) + "\n"
    path = write_task(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load_task(str(path), 4, 0)
    fields = [p.field for p in e.value.problems]
    assert [f.split(":")[1] for f in fields] == ["2", "4"]  # reading stops at malformed lines, then reports
    assert "2 more problem" not in e.value.line() and "1 more problem" in e.value.line()


def test_two_specs_with_one_name_in_one_run(tmp_path):
    a = write_task(tmp_path / "a", QA)
    b = write_task(tmp_path / "b", QA)
    load_task(str(a), 1, 0)
    with pytest.raises(UserError, match="already uses this name"):
        load_task(str(b), 1, 0)


@pytest.mark.parametrize("text,needle", [
    ("name: !!python/object/new:os.system [ls]\n", "Python object tags"),
    ("a: &x {b: 1}\nc:\n  <<: *x\n", "merge keys are not supported"),
    ("name: " + "[" * 5000 + "\n", "nested too deeply"),
    ("\xef\xbb\xbfname: x\n", "data"),  # a BOM is fine; the missing keys are the problem
])
def test_yaml_traps_are_one_line_errors(tmp_path, text, needle):
    (tmp_path / "t.yaml").write_text(text, encoding="latin-1" if "\xef" in text else "utf-8")
    with pytest.raises(UserError) as e:
        load_task(str(tmp_path / "t.yaml"), 1, 0)
    assert needle in e.value.line() and "\n" not in e.value.line()


def test_hub_dataset_offline_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "t.yaml").write_text("name: hubtask\ndata: {hub: openai/gsm8k, config: main}\n"
                                     "fields: {input: question, target: answer}\nanswer_type: text\nexemplars: none\n")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):
        load_task(str(tmp_path / "t.yaml"), 1, 0)


def test_unknown_task_name_keeps_did_you_mean():
    with pytest.raises(UserError, match="did you mean 'arith_words'"):
        load_task("arith_word", 1, 0)
    with pytest.raises(UserError, match="no such task file"):
        load_task("nowhere/task.yaml", 1, 0)


# --- scaffold and lm-eval import -------------------------------------------------------------------
def test_tasks_new_scaffold_validates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = new_task("mine", None)
    assert [f.name for f in files] == ["task.yaml", "data.jsonl", "exemplars.jsonl"]
    assert len((tmp_path / "mine" / "data.jsonl").read_text().splitlines()) == 2
    check = validate_file("mine/task.yaml")
    assert "task 'mine'" in check.summary and ("cot", True, "") in check.strategies
    with pytest.raises(UserError, match="already exists"):
        new_task("mine", None)


def test_lmeval_example_direct():
    task = load_task(str(LMEVAL), 24, 0)
    assert task.name == "toy_gsm" and task.answer_type == "number" and len(task.items) == 24
    assert not task.items[0].input.startswith("Question:")  # lm-eval's own frame is dropped
    assert all(e.rationale and "####" not in e.rationale for e in task.exemplars)
    assert task.meta["source"]["origin"]["num_fewshot"] == 4
    assert any("ignored" in n and "num_fewshot 4" in n for n in task.meta["notes"])


def test_lmeval_import_writes_an_equivalent_spec(tmp_path):
    out = tmp_path / "sub" / "toy.yaml"
    import_lmeval(str(LMEVAL), str(out))
    doc = yaml.safe_load(out.read_text())
    assert doc["answer_type"] == "number" and doc["fields"]["input"] == {"template": "{{question}}"}
    assert doc["origin"]["format"] == "lm-eval" and not Path(doc["data"]["files"]["test"]).is_absolute()
    # the converted file is native: its notes name native keys, not the lm-eval file's metadata.crossover.*
    notes = " ".join(doc["origin"]["notes"])
    assert "set answer_type to override" in notes and "metadata.crossover" not in notes
    spec.forget()
    direct = load_task(str(LMEVAL), 24, 0)
    spec.forget()
    converted = load_task(str(out), 24, 0)
    assert [i.to_dict() for i in converted.items] == [i.to_dict() for i in direct.items]


def test_lmeval_multiple_choice_with_label_index(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"q": "Which barks?", "opts": ["cat", "dog"], "label": 1}) + "\n")
    (tmp_path / "t.yaml").write_text("task: mc\ndataset_path: json\ndataset_kwargs: {data_files: {test: d.jsonl}}\n"
                                     "test_split: test\noutput_type: multiple_choice\ndoc_to_text: \"{{q}}\"\n"
                                     "doc_to_choice: \"{{opts}}\"\ndoc_to_target: label\n")
    task = load_task(str(tmp_path / "t.yaml"), 1, 0)
    assert task.answer_type == "choice" and task.items[0].target == "B"
    assert task.items[0].input == "Which barks? Answer Choices: (A) cat (B) dog"
    assert task.exemplars == []  # no few-shot split: zero-shot only


# --- the CLI ---------------------------------------------------------------------------------------
def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_render_a_spec_task():
    p = cli("render", "--task", "examples/capitals/task.yaml", "--strategy", "cot", "--n", "1", "--shots", "2")
    assert p.returncode == 0, p.stderr
    assert "capitals · item" in p.stdout and "The answer is" in p.stdout


def test_run_refuses_few_shot_on_a_zero_shot_task_before_any_run(tmp_path):
    path = write_task(tmp_path / "t", QA)
    p = cli("--runs-dir", str(tmp_path / "runs"), "run", "--strategy", "cot", "--tasks", str(path))
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and "exemplars: none" in lines[0] and "mytask" in lines[0]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_tasks_listing_still_works():
    for args in (("tasks",), ("tasks", "list")):
        p = cli(*args)
        assert p.returncode == 0 and "arith_words" in p.stdout


def test_tasks_import_prints_a_spec():
    p = cli("tasks", "import", "examples/lmeval/task.yaml")
    assert p.returncode == 0, p.stderr
    assert yaml.safe_load(p.stdout)["name"] == "toy_gsm"


def test_copying_an_example_keeps_it_working(tmp_path):
    shutil.copytree(CAPITALS.parent, tmp_path / "capitals")
    assert load_task(str(tmp_path / "capitals" / "task.yaml"), 3, 0).name == "capitals"


def test_one_data_set_under_two_names_gives_the_same_items_and_exemplars(tmp_path):
    """Two prompt variants of one data set compare item for item: the draws follow the data, not the name."""
    rows = "".join(json.dumps({"q": f"What is {a} + 1?", "a": a + 1, "r": f"{a} + 1 = {a + 1}."}) + "\n"
                   for a in range(40))
    exs = "".join(json.dumps({"q": f"What is {a} + 2?", "a": a + 2, "r": f"{a} + 2 = {a + 2}."}) + "\n"
                  for a in range(100, 140))
    (tmp_path / "d.jsonl").write_text(rows)
    (tmp_path / "e.jsonl").write_text(exs)
    tasks = []
    for name in ("variant_a", "variant_b"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(
            {"name": name, "data": "d.jsonl", "answer_type": "number", "exemplars": {"file": "e.jsonl", "pool_size": 16},
             "fields": {"input": "q", "target": "a", "rationale": "r"}}))
        tasks.append(load_task(str(tmp_path / f"{name}.yaml"), 10, 3))
    a, b = tasks
    assert [i.input for i in a.items] == [i.input for i in b.items]
    assert [e.input for e in a.exemplars] == [e.input for e in b.exemplars]
    assert [e.input for e in draw_exemplars(a, 4, 1)] == [e.input for e in draw_exemplars(b, 4, 1)]
    other = load_task(str(tmp_path / "variant_a.yaml"), 10, 4)
    assert [i.input for i in other.items] != [i.input for i in a.items]  # SEED still decides


def _gsm_files(tmp_path, target):
    def rows(r):
        return "".join(json.dumps({"question": f"What is {i} + 1?", "num": i + 1,
                                   "answer": f"{i} plus 1 is <<{i}+1={i + 1}>>{i + 1}\n#### {i + 1}"}) + "\n" for i in r)
    (tmp_path / "test.jsonl").write_text(rows(range(6)))
    (tmp_path / "train.jsonl").write_text(rows(range(10, 16)))
    (tmp_path / "t.yaml").write_text(
        "task: gsm\ndataset_path: json\ndataset_kwargs: {data_files: {test: test.jsonl, train: train.jsonl}}\n"
        "test_split: test\nfewshot_split: train\noutput_type: generate_until\n"
        f"doc_to_text: \"Question: {{{{question}}}}\\nAnswer:\"\ndoc_to_target: {json.dumps(target)}\n")
    return tmp_path / "t.yaml"


def test_lmeval_gsm8k_target_after_hashes_offers_the_worked_solution(tmp_path):
    spec.forget()
    task = load_task(str(_gsm_files(tmp_path, "{{answer.split('####')[-1].strip()}}")), 3, 0)
    assert all(e.rationale == f"{int(e.target) - 1} plus 1 is <<{int(e.target) - 1}+1={e.target}>>{e.target}"
               for e in task.exemplars)
    assert any("part of the answer before '####'" in n for n in task.meta["notes"])


def test_cot_on_an_lmeval_file_without_rationale_names_the_files_own_key(tmp_path):
    spec.forget()
    path = _gsm_files(tmp_path, "num")
    p = cli("render", "--task", str(path), "--strategy", "cot", "--n", "1")
    assert p.returncode == 2 and "metadata: {crossover: {rationale:" in p.stderr and "fields:" not in p.stderr


def test_regex_replace_strips_calculator_annotations_within_the_regex_limits():
    from toolkit.core.errors import UserError
    from toolkit.core.prompting import render_string
    out = render_string("{{ r | regex_replace('<<[^>]*>>', '') }}", r="3 * 4 = <<3*4=12>>12 apples")
    assert out == "3 * 4 = 12 apples"
    for bad in ("'(a+)+b', ''", "'x' * 300, ''"):
        with pytest.raises(UserError) as e:
            render_string("{{ r | regex_replace(" + bad + ") }}", r="aaa")
        assert "\n" not in str(e.value)
