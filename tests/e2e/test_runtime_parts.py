"""Pieces of the local runtime that the end-to-end tests cannot single out."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

from backorders import topology
from backorders_local import runtime


def test_a_lambda_proxy_answer_becomes_http():
    status, headers, body = runtime.http_answer({
        "statusCode": 201,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": '{"ok": true}',
        "isBase64Encoded": False,
    })
    assert (status, body) == (201, b'{"ok": true}')
    assert headers == [("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert runtime.http_answer({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(),
                                "isBase64Encoded": True})[2] == b"\x00\x01"


def test_concurrent_invocations_get_separate_execution_environments(monkeypatch):
    # given a function whose handler module is loaded once per environment
    loaded: list[int] = []
    inside = threading.Barrier(3, timeout=5)

    class Module:
        def __init__(self, instance: int):
            self.instance = instance

        def handler(self, event, context):
            inside.wait()  # all three invocations are in flight at once
            return {"instance": self.instance}

    def load_module(fn, instance=0):
        loaded.append(instance)
        module = Module(instance)
        return type("M", (), {"handler": staticmethod(module.handler)})

    monkeypatch.setattr(runtime.functions, "load_module", load_module)
    envs = runtime.Environments(topology.function("api"), limit=8).warm()

    # when three invocations run at the same time
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: envs({}, None), range(3)))

    # then each ran in its own environment, and they are kept for the next ones
    assert sorted(a["instance"] for a in answers) == [0, 1, 2]
    assert envs.size == 3
    inside.reset()
    assert sorted(loaded) == [0, 1, 2]


def test_a_scheduled_function_gets_eventbridge_scheduled_events(monkeypatch):
    runs = []
    stopping = threading.Event()
    done = threading.Event()

    def handler(event, context):
        runs.append(event)
        if len(runs) == 2:
            done.set()
        if len(runs) == 1:
            raise RuntimeError("a failed run is tried again")
        return {}

    schedule = runtime.ScheduleThread(topology.function("api"), handler, 0.01, stopping).start()
    assert done.wait(5)
    stopping.set()
    assert schedule.join(5)
    assert runs[0]["detail-type"] == "Scheduled Event" and runs[0]["source"] == "aws.events"
    assert runs[0]["detail"] == {} and runs[0]["resources"][0].startswith("arn:aws:events:us-east-1:")
    assert schedule.runs >= 1
