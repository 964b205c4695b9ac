"""The task-spec corpus (tests/corpus/tasks/README.md): every bad file fails `tasks validate` with one
stderr line naming the problem, exit code 2 and no traceback; every good file passes."""
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "corpus" / "tasks"
BAD = sorted((CORPUS / "bad").glob("*.yaml"))
GOOD = sorted((CORPUS / "good").glob("*.yaml"))


def validate(path: Path) -> subprocess.CompletedProcess:
    # run from the file's folder, so messages name it as a user would (relative paths)
    return subprocess.run([sys.executable, "-m", "toolkit", "tasks", "validate", path.name], cwd=path.parent,
                          capture_output=True, text=True, timeout=120)


def expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <substring>'"
    return first[len("# expect: "):].strip()


def test_corpus_is_big_enough():
    assert len(BAD) >= 15 and len(GOOD) >= 5


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_task_file_is_one_line_error(path):
    p = validate(path)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, p.stdout + p.stderr
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert expected(path) in lines[0], lines[0]


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_task_file_validates(path):
    p = validate(path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert ": ok — task '" in p.stdout
