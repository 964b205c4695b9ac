"""The openai backend's own logic over real HTTP, against a scripted local server (pure logic:
retries, least-outstanding spread, explicit sampling fields, failures that are not scored and are
redone on resume, start-up checks). The real ``vllm serve`` path is tests/test_serving.py."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from toolkit.backends.base import BackendLoadError
from toolkit.backends.endpoints import check_endpoint, check_ladder, free_port, health_url
from toolkit.backends.openai_api import OpenAIBackend, FleetDown, backoff, sampling_fields
from toolkit.core.config import Ladder
from toolkit.core.errors import UserError
from toolkit.run.store import RunStore
from toolkit.core.types import STATUS_REQUEST_FAILED, Request


class Scripted(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fail_first=0, status=500, delay=0.0, model="m"):
        super().__init__(("127.0.0.1", 0), Handler)
        self.fail_first, self.status, self.delay, self.model = fail_first, status, delay, model
        self.bodies, self.lock, self.in_flight, self.peak = [], threading.Lock(), 0, 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self._send(200, {})
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.model, "object": "model"}]})
        else:
            self._send(404, {"error": "no"})

    def do_POST(self):
        s = self.server
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with s.lock:
            s.bodies.append(body)
            fail = len(s.bodies) <= s.fail_first
            s.in_flight += 1
            s.peak = max(s.peak, s.in_flight)
        try:
            time.sleep(s.delay)
            if fail:
                return self._send(s.status, {"error": {"message": "scripted failure"}})
            k = body.get("logprobs")
            lp = ({"tokens": [" 4"], "token_logprobs": [-0.1], "text_offset": [0],
                   "top_logprobs": [{" 4": -0.1, " 5": -2.5, " 6": -3.0}]} if k else None)
            self._send(200, {"id": "c", "object": "text_completion", "created": 0, "model": s.model,
                             "choices": [{"index": 0, "text": " 4", "finish_reason": "stop", "logprobs": lp}],
                             "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}})
        finally:
            with s.lock:
                s.in_flight -= 1


def ladder(urls, **knobs):
    return Ladder.model_validate({"name": "served", "family": "F", "backend": "openai", "retry_backoff_s": 0.01,
                                  **knobs, "rungs": [{"name": "r", "model": "m", "params": 10, "endpoints": urls}]})


def reqs(n, **kw):
    return [Request(key=f"t/{i}/few_shot/s0/r", prompt=f"Q: {i}\nA:", max_tokens=8, stop=("\n",), **kw)
            for i in range(n)]


def collect(backend, requests):
    out = {}
    backend.generate(requests, lambda r, c: out.__setitem__(r.key, c))
    return out


@pytest.fixture
def server():
    s = Scripted()
    yield s
    s.shutdown()


def test_every_sampling_field_is_sent(server):
    lad = ladder([server.url])
    backend = OpenAIBackend(lad, lad.rungs[0])
    out = collect(backend, reqs(1, top_logprobs=2))
    (body,) = server.bodies
    for key in ("temperature", "top_p", "top_k", "min_p", "max_tokens", "stop", "seed", "logprobs",
                "repetition_penalty", "presence_penalty", "frequency_penalty"):
        assert key in body, key
    assert body["temperature"] == 0.0 and body["top_k"] == 0 and body["stop"] == ["\n"] and body["logprobs"] == 2
    (c,) = out.values()
    assert c.status == "ok" and c.text == " 4" and c.n_tokens == 1 and c.n_prompt_tokens == 7
    assert c.top_logprobs == [{" 4": -0.1, " 5": -2.5}]  # the API's k+1 entries cut to k


def test_5xx_is_retried_then_succeeds():
    s = Scripted(fail_first=2, status=503)
    lad = ladder([s.url], retries=3)
    out = collect(OpenAIBackend(lad, lad.rungs[0]), reqs(1))
    assert len(s.bodies) == 3 and list(out.values())[0].status == "ok"
    s.shutdown()


def test_a_request_that_keeps_failing_is_a_failure_not_a_wrong_answer():
    s = Scripted(fail_first=100, status=500)
    lad = ladder([s.url], retries=2)
    out = collect(OpenAIBackend(lad, lad.rungs[0]), reqs(2))
    assert len(s.bodies) == 2 * 3  # one try and two retries each
    assert {c.status for c in out.values()} == {STATUS_REQUEST_FAILED}
    assert all("InternalServerError 500" in c.error for c in out.values())
    s.shutdown()


def test_a_4xx_is_not_retried_and_is_final():
    s = Scripted(fail_first=100, status=400)
    lad = ladder([s.url], retries=3)
    out = collect(OpenAIBackend(lad, lad.rungs[0]), reqs(1))
    assert len(s.bodies) == 1 and list(out.values())[0].status == "engine_error"
    s.shutdown()


def test_requests_spread_over_replicas_within_the_concurrency_bound():
    a, b = Scripted(delay=0.05), Scripted(delay=0.05)
    lad = ladder([a.url, b.url], max_concurrency=4)
    backend = OpenAIBackend(lad, lad.rungs[0])
    out = collect(backend, reqs(40))
    assert len(out) == 40 and all(c.status == "ok" for c in out.values())
    assert len(a.bodies) + len(b.bodies) == 40 and min(len(a.bodies), len(b.bodies)) >= 15
    assert max(a.peak, b.peak) <= 4 and min(a.peak, b.peak) >= 2
    assert backend.sent == {a.url: len(a.bodies), b.url: len(b.bodies)}
    a.shutdown()
    b.shutdown()


def test_a_fleet_that_goes_away_fails_the_rung():
    s = Scripted()
    url = s.url
    s.shutdown()
    s.server_close()
    lad = ladder([url], retries=1)
    backend = OpenAIBackend.__new__(OpenAIBackend)  # the start-up check would refuse it: skip it here
    backend.ladder, backend.rung, backend.role, backend.served, backend.urls = lad, lad.rungs[0], "base", "m", [url]
    backend.tokenizer_dir, backend._tokenizer, backend.seed, backend.sent = None, None, 0, {}
    with pytest.raises(FleetDown, match="every endpoint stopped answering"):
        collect(backend, reqs(3))


def test_start_up_checks_name_the_url_and_what_it_got(server):
    assert check_endpoint(server.url, "m") is None
    assert "serves ['m'], not 'x'" in check_endpoint(server.url, "x")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    assert "is not reachable" in check_endpoint(dead, "m")
    with pytest.raises(BackendLoadError, match="not reachable"):
        OpenAIBackend(ladder([dead]), ladder([dead]).rungs[0])
    with pytest.raises(UserError) as e:
        check_ladder(ladder([server.url, dead]))
    assert dead in e.value.line() and "models.rungs[r].endpoints" in e.value.line()
    assert health_url("http://h:1/v1") == "http://h:1/health"


@pytest.mark.parametrize("bad, match", [
    ({"endpoints": ["ftp://x/v1"]}, "not an http"), ({"endpoints": []}, "empty"),
    ({"endpoints": ["localhost:8000"]}, "not an http"), ({"replicas": 0}, "greater than or equal to 1"),
])
def test_bad_rung_serving_fields_are_refused(tmp_path, bad, match):
    from toolkit.core.config import validate
    rung = {"name": "r", "model": "m", "params": 10, **bad}
    with pytest.raises(UserError, match=match):
        validate(Ladder, {"name": "s", "family": "F", "backend": "openai", "rungs": [rung]}, "ladder.yaml")


def test_endpoints_file_is_read_and_its_absence_is_a_user_error(tmp_path, server):
    lad = Ladder.model_validate({"name": "s", "family": "F", "backend": "openai", "rungs": [
        {"name": "r", "model": "m", "params": 10, "endpoints_file": str(tmp_path / "ep" / "*.url")}]})
    with pytest.raises(UserError, match="no endpoint files there yet"):
        check_ladder(lad)
    (tmp_path / "ep").mkdir()
    (tmp_path / "ep" / "0.url").write_text(server.url + "\n")
    check_ladder(lad)
    assert OpenAIBackend(lad, lad.rungs[0]).urls == [server.url]


def test_request_failures_are_redone_on_resume(tmp_path):
    store = RunStore(tmp_path)
    with store.writer() as w:
        w.append({"key": "a", "status": STATUS_REQUEST_FAILED})
        w.append({"key": "b", "status": "ok"})
        w.append({"key": "c", "status": "dependency_failed", "prior_key": "a"})
        w.append({"key": "d", "status": "engine_error"})
    assert store.done_keys() == {"b", "d"}  # an engine rejection is final, a transport failure is not
    with store.writer() as w:
        w.append({"key": "a", "status": "ok", "n": 2})
        w.append({"key": "b", "status": "ok", "n": 2})  # a duplicate of a success never replaces it
    recs = {r["key"]: r for r in store.records()}
    assert recs["a"].get("n") == 2 and "n" not in recs["b"]
    assert store.done_keys() == {"a", "b", "d"}


def test_backoff_doubles_and_is_bounded():
    assert [backoff(k, 0.5) for k in range(4)] == [0.5, 1.0, 2.0, 4.0] and backoff(20, 0.5) == 30.0


def test_sampling_fields_match_vllm_defaults():
    std, extra = sampling_fields(Request(key="k", prompt="p", max_tokens=3, temperature=0.7), seed=11)
    assert std["seed"] == 11 and std["temperature"] == 0.7 and "logprobs" not in std
    assert extra == {"top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0, "min_tokens": 0,
                     "skip_special_tokens": True, "include_stop_str_in_output": False, "ignore_eos": False}


class ChatHandler(Handler):
    def do_POST(self):
        if self.path != "/v1/chat/completions":
            return super().do_POST()
        s = self.server
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with s.lock:
            s.bodies.append(body)
        lp = {"content": [{"token": " 4", "logprob": -0.2, "bytes": None,
                           "top_logprobs": [{"token": " 4", "logprob": -0.2, "bytes": None},
                                            {"token": " 5", "logprob": -1.9, "bytes": None}]}]}
        self._send(200, {"id": "c", "object": "chat.completion", "created": 0, "model": s.model,
                         "choices": [{"index": 0, "finish_reason": "stop", "logprobs": lp,
                                      "message": {"role": "assistant", "content": " 4"}}],
                         "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}})


def test_a_chat_request_for_a_remote_checkpoint_goes_to_the_chat_endpoint():
    s = Scripted()
    s.RequestHandlerClass = ChatHandler
    lad = ladder([s.url])
    out = collect(OpenAIBackend(lad, lad.rungs[0]), reqs(1, chat=True, top_logprobs=1))
    (body,) = s.bodies
    assert body["messages"] == [{"role": "user", "content": "Q: 0\nA:"}] and body["top_logprobs"] == 1
    assert body["logprobs"] is True and body["top_k"] == 0 and "add_special_tokens" not in body
    (c,) = out.values()
    assert c.text == " 4" and c.token_logprobs == [-0.2] and c.top_logprobs == [{" 4": -0.2}] and c.n_prompt_tokens == 9
    s.shutdown()


@pytest.mark.parametrize("strategy", ["few_shot", "cot", "scratchpad", "true_false"])
def test_a_failed_request_keeps_its_status_through_scoring(strategy):
    from toolkit.core.config import Sampling
    from toolkit.core.strategy import get_strategy
    from toolkit.tasks import load_task
    from toolkit.core.types import Completion

    task = load_task("addition", 2, 0)
    s = get_strategy(strategy, 2, Sampling())
    prior = {"completion": "The answer is 3.", "extracted": "3", "status": "ok", "correct": False}
    for status in (STATUS_REQUEST_FAILED, "engine_error"):
        score = s.score(task, task.items[0], Completion(text="", status=status, error="x"),
                        prior=prior if strategy == "true_false" else None)
        assert score.status == status and score.correct is None
