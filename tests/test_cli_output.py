"""What the CLI prints on an 80-column terminal: nothing cut, and commands never broken across lines."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, columns=80):
    env = {**os.environ, "COLUMNS": str(columns), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


def test_a_ladder_listing_folds_names_instead_of_cutting_them():
    p = cli("models", "embedded")
    assert p.returncode == 0 and "…" not in p.stdout
    flat = "".join(line.split("│")[2].strip() for line in p.stdout.splitlines() if line.count("│") > 2)
    assert "bundled:smollm2-135m-instruct" in flat


def test_printed_commands_stay_on_one_line(tmp_path):
    p = cli("--runs-dir", str(tmp_path), "run", "--tasks", "addition", "--n", "2", "--prepare", columns=40)
    assert p.returncode == 0, p.stderr
    (run,) = [d.name for d in tmp_path.iterdir() if d.is_dir()]
    assert any(f"make run RUN={run} RUNG=<rung>" in line for line in p.stdout.splitlines())
    assert any(f"`make report RUN={run}`" in line for line in p.stdout.splitlines())
    q = cli("tasks", "new", "mytask", "--dir", str(tmp_path), columns=40)
    assert q.returncode == 0, q.stderr
    assert any("`python -m toolkit tasks validate " in line and "task.yaml`" in line for line in q.stdout.splitlines())
