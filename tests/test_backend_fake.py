"""The scripted backends: reply rules, shaping (stop, max_tokens, logprobs) and failures on demand."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from toolkit.backends import BackendLoadError, make_backend
from toolkit.backends.fake import FakeBackend, ScriptedBackend
from toolkit.core.config import Ladder, Rung
from toolkit.core.errors import UserError
from toolkit.core.types import Completion, Request

ROOT = Path(__file__).resolve().parent.parent
RUNG = Rung(name="small", model="unused", params=1)


def ladder(fake: dict, names=("small", "large")) -> Ladder:
    rungs = [{"name": n, "model": "unused", "params": i + 1} for i, n in enumerate(names)]
    return Ladder(name="t", family="t", backend="fake", fake=fake, rungs=rungs)


def req(key: str, prompt: str, **kw) -> Request:
    return Request(key=key, prompt=prompt, max_tokens=kw.pop("max_tokens", 32), **kw)


def run(backend, requests) -> dict[str, Completion]:
    got: dict[str, Completion] = {}

    def on_result(r: Request, c: Completion) -> None:
        assert r.key not in got, "on_result called twice for one request"
        got[r.key] = c

    backend.generate(requests, on_result)
    return got


REPLIES = {"replies": {
    "small": {"default": "The answer is 0.",
              "by_prompt_suffix": {"2 + 2?\nA:": "The answer is 4."},
              "by_prompt_contains": {"apples": "The answer is 7."}},
    "*": {"default": "I do not know."},
}}


def test_reply_rules_per_rung_and_prompt():
    lad = ladder(REPLIES)
    small = make_backend(lad, lad.rungs[0])
    got = run(small, [req("a", "Q: 2 + 2?\nA: "), req("b", "Q: 3 apples?\nA:"), req("c", "Q: x?\nA:")])
    assert [got[k].text for k in "abc"] == ["The answer is 4.", "The answer is 7.", "The answer is 0."]
    assert all(c.status == "ok" and c.finish_reason == "stop" for c in got.values())
    assert got["a"].prompt == "Q: 2 + 2?\nA: " and got["a"].n_tokens == 4
    large = make_backend(lad, lad.rungs[1])  # not listed: the "*" rules
    assert run(large, [req("a", "Q: 2 + 2?\nA:")])["a"].text == "I do not know."


def test_stop_strings_and_max_tokens_shape_the_text():
    fb = FakeBackend({"replies": {"*": {"default": "one two three four\nQ: next"}}}, RUNG)
    got = run(fb, [req("stop", "p", stop=("\nQ:",)), req("cut", "p", max_tokens=2)])
    assert got["stop"].text == "one two three four" and got["stop"].finish_reason == "stop"
    assert got["cut"].text == "one two" and got["cut"].finish_reason == "length"
    assert got["cut"].n_tokens == 2


def test_logprobs_only_when_asked():
    fb = FakeBackend({"replies": {"*": {"default": {"text": "B", "logprob": -0.5}}}}, RUNG)
    got = run(fb, [req("lp", "p", top_logprobs=2), req("plain", "p")])
    assert got["lp"].token_logprobs == [-0.5]
    assert len(got["lp"].top_logprobs) == 1 and len(got["lp"].top_logprobs[0]) == 2
    assert got["lp"].top_logprobs[0]["B"] == -0.5
    assert got["plain"].token_logprobs is None and got["plain"].top_logprobs is None


def test_error_every_and_scripted_error_replies():
    fb = FakeBackend({"error_every": 3, "replies": {"*": {
        "default": "ok", "by_prompt_contains": {"bad": {"status": "engine_error", "error": "boom"}}}}}, RUNG)
    got = run(fb, [req(str(i), "bad" if i == 1 else "p") for i in range(1, 7)])
    statuses = [got[str(i)].status for i in range(1, 7)]
    assert statuses == ["engine_error", "ok", "engine_error", "ok", "ok", "engine_error"]
    assert got["1"].error == "boom" and "error_every" in got["3"].error


def test_chat_request_gets_a_template_but_rules_match_the_raw_prompt():
    fb = FakeBackend({"replies": {"*": {"by_prompt_suffix": {"hi": "hello"}}}}, RUNG)
    c = run(fb, [req("c", "hi", chat=True)])["c"]
    assert c.text == "hello" and c.prompt == "User: hi\nAssistant:"


def test_reverse_order_and_latency():
    fb = FakeBackend({"order": "reverse"}, RUNG)
    seen: list[str] = []
    fb.generate([req("a", "p"), req("b", "p")], lambda r, c: seen.append(r.key))
    assert seen == ["b", "a"]


def test_fail_load_is_per_rung():
    lad = ladder({"fail_load": {"large": "No available memory for the cache blocks"}})
    make_backend(lad, lad.rungs[0]).close()
    with pytest.raises(BackendLoadError, match="No available memory for the cache blocks"):
        make_backend(lad, lad.rungs[1])


def test_instruct_role_loads_the_instruct_checkpoint_or_says_why_not():
    lad = ladder({"replies": {"small": {"default": "base"}, "small:instruct": {"default": "tuned"}}})
    with pytest.raises(UserError, match="instruct_model"):
        make_backend(lad, lad.rungs[0], role="instruct")
    with pytest.raises(ValueError, match="unknown model role"):
        make_backend(lad, lad.rungs[0], role="chat")
    rung = Rung(name="small", model="x", instruct_model="y", params=1)
    tuned = make_backend(lad, rung, role="instruct")
    assert run(tuned, [req("i", "p", model_role="instruct")])["i"].text == "tuned"
    with pytest.raises(ValueError, match="one backend per model_role"):
        tuned.generate([req("b", "p")], lambda r, c: None)
    base = make_backend(lad, rung)
    assert run(base, [req("b", "p")])["b"].text == "base"
    with pytest.raises(ValueError, match="one backend per model_role"):
        base.generate([req("i", "p", model_role="instruct")], lambda r, c: None)


def test_scripted_backend():
    def fn(r: Request):
        if r.key == "boom":
            raise RuntimeError("engine died")
        return "The answer is 5." if r.key == "s" else Completion(text="raw", n_tokens=1)

    sb = ScriptedBackend(fn)
    got = run(sb, [req("s", "p", max_tokens=2), req("c", "q")])
    assert got["s"].text == "The answer" and got["s"].finish_reason == "length"
    assert got["c"].text == "raw" and got["c"].prompt == "q"
    with pytest.raises(RuntimeError, match="engine died"):
        sb.generate([req("boom", "p")], lambda r, c: None)
    sb.close()
    assert sb.closed and len(sb.calls) == 2


CHILD = textwrap.dedent("""
    import json, sys
    from toolkit.backends import make_backend
    from toolkit.core.config import Ladder
    from toolkit.core.types import Request
    lad = Ladder(name="t", family="t", backend="fake", fake=json.loads(sys.argv[1]),
                 rungs=[{"name": "small", "model": "unused", "params": 1}])
    b = make_backend(lad, lad.rungs[0])
    reqs = [Request(key=str(i), prompt="p", max_tokens=8) for i in range(10)]
    b.generate(reqs, lambda r, c: print(r.key, flush=True))
    print("finished", sorted(k for k in ("torch", "vllm") if k in sys.modules), flush=True)
""")


def child(fake: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(fake)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("how,rc", [(None, -9), ("exit", 1)])
def test_crash_after_kills_the_process_after_n_results(how, rc):
    fake = {"crash_after": {"small": 3}, **({"crash_how": how} if how else {})}
    p = child(fake)
    out, err = p.communicate(timeout=60)
    assert p.returncode == rc
    assert out.split() == ["0", "1", "2"] and "crash_after=3" in err


def test_hang_after_never_returns():
    p = child({"hang_after": 2})
    try:
        lines = [p.stdout.readline().strip() for _ in range(2)]
        assert lines == ["0", "1"]
        time.sleep(0.5)
        assert p.poll() is None  # still alive, producing nothing: a watchdog's job
    finally:
        p.kill()
        p.wait(timeout=10)


def test_fake_runs_without_torch_or_vllm():
    p = child({})
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.splitlines()[-1] == "finished []"
