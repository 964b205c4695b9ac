"""Every user error: one line on stderr naming field, value and fix; exit code 2; no traceback;
no run directory created."""
import subprocess
import sys

import pytest

PY = sys.executable


def cli(*args, cwd=None, runs=None):
    cmd = [PY, "-m", "toolkit"] + (["--runs-dir", str(runs)] if runs else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)


def assert_user_error(p, *needles):
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("args,needles", [
    (["run", "--strategy", "cott"], ["strategies", "'cott'", "did you mean 'cot'"]),
    (["run", "--tasks", "arith_word"], ["tasks", "arith_word", "did you mean 'arith_words'"]),
    (["run", "--models", "pythai"], ["models", "pythai", "did you mean 'pythia'"]),
    (["run", "--baseline", "fewshot"], ["fewshot", "did you mean 'few_shot'"]),
    (["run", "--models", "no/such/ladder.yaml"], ["models", "no/such/ladder.yaml"]),
    (["run", "--n", "0"], ["n", "0"]),
    (["render", "--task", "last_leters", "--strategy", "cot"], ["last_leters", "last_letters"]),
    (["report", "no-such-run"], ["RUN", "no-such-run"]),
    (["run", "--run", "no-such-run"], ["RUN", "no-such-run"]),
    (["frobnicate"], ["arguments"]),
])
def test_user_errors_are_one_line(tmp_path, args, needles):
    p = cli(*args, runs=tmp_path)
    assert_user_error(p, *needles)
    assert list(tmp_path.iterdir()) == []  # nothing was started


def test_unknown_yaml_key(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("tasks: [arith_words]\nstrategies: [cot]\nshotz: 4\n")
    assert_user_error(cli("run", "--config", str(cfg), runs=tmp_path / "runs"), "shotz", "did you mean 'shots'")


def test_missing_model_path(tmp_path):
    lad = tmp_path / "ladder.yaml"
    lad.write_text("name: x\nfamily: f\nrungs:\n  - {name: a, model: /no/such/model, params: 10}\n")
    p = cli("run", "--models", str(lad), runs=tmp_path / "runs")
    assert_user_error(p, "/no/such/model")
