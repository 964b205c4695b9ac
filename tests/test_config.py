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
