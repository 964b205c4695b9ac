from pathlib import Path

import pytest

from toolkit.core.config import Experiment, Ladder, load_experiment, load_ladder, validate, ladder_names
from toolkit.core.errors import UserError


def test_default_config_loads():
    exp = load_experiment("configs/default.yaml")
    assert exp.baseline == "few_shot" and exp.all_strategies()[0] == "few_shot"


def test_unknown_key_names_key_and_suggests(tmp_path):
    p = tmp_path / "exp.yaml"
    p.write_text("tasks: [arith_words]\nstrategies: [cot]\nsampling:\n  temprature: 0.5\n")
    with pytest.raises(UserError) as e:
        load_experiment(p)
    line = e.value.line()
    assert "sampling.temprature" in line and "temperature" in line and "\n" not in line


def test_bad_value_names_field_and_value(tmp_path):
    p = tmp_path / "exp.yaml"
    p.write_text("tasks: [arith_words]\nstrategies: [cot]\nn: -3\n")
    with pytest.raises(UserError) as e:
        load_experiment(p)
    assert "n" in e.value.field and e.value.value == -3


def test_bad_yaml_syntax_is_user_error(tmp_path):
    p = tmp_path / "exp.yaml"
    p.write_text("tasks: [arith_words\n")
    with pytest.raises(UserError):
        load_experiment(p)


def test_overrides_win_and_none_is_ignored():
    exp = load_experiment("configs/default.yaml", {"n": 7, "seed": None, "strategies": ["cot"]})
    assert exp.n == 7 and exp.seed == 0


@pytest.mark.parametrize("name", ladder_names())
def test_every_shipped_ladder_validates_and_is_ordered(name):
    lad = load_ladder(name)
    params = [r.params for r in lad.rungs]
    assert params == sorted(params), "rungs must be smallest first"
    assert len({r.name for r in lad.rungs}) == len(lad.rungs)


def test_unknown_ladder_did_you_mean():
    with pytest.raises(UserError) as e:
        load_ladder("pythai")
    assert "pythia" in e.value.line()


def test_flops_from_6nd():
    lad = validate(Ladder, {"name": "x", "family": "f", "rungs": [
        {"name": "a", "model": "m", "params": 10, "train_tokens": 100}]}, "x")
    assert lad.rungs[0].training_flops() == 6000


def test_shots_temperature_and_max_tokens_override_the_file_field_by_field(tmp_path):
    from toolkit.core.config import load_experiment
    path = tmp_path / "exp.yaml"
    path.write_text("tasks: [addition]\nstrategies: [cot]\nsampling: {temperature: 0.3, max_tokens: 50}\n")
    exp = load_experiment(path, {"shots": 4, "sampling": {"temperature": None, "max_tokens": 33}})
    assert (exp.shots, exp.sampling.temperature, exp.sampling.max_tokens) == (4, 0.3, 33)
    assert load_experiment(path, {"sampling": {"temperature": None, "max_tokens": None}}).sampling.max_tokens == 50


def test_run_flags_reach_the_stored_config_and_a_resume_must_match(tmp_path):
    import subprocess
    import sys

    import yaml
    root = Path(__file__).resolve().parent.parent
    base = [sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path), "run", "--tasks", "addition", "--n", "3"]
    p = subprocess.run(base + ["--shots", "2", "--temperature", "0.5", "--max-tokens", "40", "--prepare"],
                       capture_output=True, text=True, cwd=root, timeout=120)
    assert p.returncode == 0, p.stderr
    (run,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    exp = yaml.safe_load((run / "config.yaml").read_text())["experiment"]
    assert (exp["shots"], exp["sampling"]["temperature"], exp["sampling"]["max_tokens"]) == (2, 0.5, 40)
    q = subprocess.run([sys.executable, "-m", "toolkit", "--runs-dir", str(tmp_path), "run", "--run", run.name,
                        "--temperature", "0.9", "--prepare"], capture_output=True, text=True, cwd=root, timeout=120)
    assert q.returncode == 2 and "TEMPERATURE" in q.stderr and "0.5" in q.stderr and len(q.stderr.strip().splitlines()) == 1
