"""Pieces of the local runtime that the end-to-end tests cannot single out."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

from backorders import topology
from backorders_local import pumps, runtime


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


class OneMessageQueue:
    """SQS as the rule pump sees it, holding one event: each receive counts, as SQS's
    ApproximateReceiveCount does; what the pump sends elsewhere is kept."""

    def __init__(self, body: str):
        self.body, self.receives, self.deleted = body, 0, False
        self.visibility_timeouts: list[int] = []
        self.sent: list[tuple[str, dict]] = []

    def receive_message(self, QueueUrl, **_):
        if self.deleted:
            return {}
        self.receives += 1
        attributes = {"ApproximateReceiveCount": str(self.receives)}
        return {"Messages": [{"Body": self.body, "ReceiptHandle": "r", "Attributes": attributes}]}

    def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):
        self.visibility_timeouts.append(VisibilityTimeout)

    def delete_message(self, QueueUrl, ReceiptHandle):
        self.deleted = True

    def send_message(self, QueueUrl, MessageBody):
        self.sent.append((QueueUrl, json.loads(MessageBody)))


def test_a_rule_event_whose_handler_fails_is_retried_and_parked_as_lambda_parks_it():
    # given an event whose handler always fails, on a rule with Lambda's two async retries
    fn = topology.function("create_po")
    event = {"id": "e-1", "source": topology.EVENT_SOURCE, "detail-type": "OrderBackordered", "detail": {"order_id": "o1"}}
    queue = OneMessageQueue(json.dumps(event))
    invocations = []

    def handler(got, context):
        invocations.append(got)
        raise RuntimeError("vendor down")

    rule_pump = pumps.RulePump(fn, handler, queue, "target", "on-failure", retry_delay_s=1)

    # when it is pumped until nothing moves
    while rule_pump.pump():
        pass

    # then 1 + async_retry_attempts invocations, delayed 1x then 2x (Lambda: 1 then 2 minutes)
    assert len(invocations) == 1 + fn.rule.async_retry_attempts == 3
    assert queue.visibility_timeouts == [1, 2]
    assert invocations[0]["detail"] == {"order_id": "o1"} and invocations[0]["account"]
    # and Lambda's on-failure record, wrapping the event, went to the on-failure queue
    [(url, record)] = queue.sent
    assert url == "on-failure" and rule_pump.failed_to_destination == 1 and rule_pump.delivered == 0
    assert set(record) == {"version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"}
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(":function:create_po:$LATEST")
    assert record["requestPayload"] == invocations[-1]
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "vendor down"
    assert record["responsePayload"]["requestId"] == record["requestContext"]["requestId"]


def test_a_rule_event_that_succeeds_on_a_retry_is_not_parked():
    fn = topology.function("create_po")
    queue = OneMessageQueue(json.dumps({"id": "e-2", "source": "s", "detail-type": "d", "detail": {}}))
    calls = []

    def handler(event, context):
        calls.append(event)
        if len(calls) < 3:
            raise RuntimeError("not yet")

    rule_pump = pumps.RulePump(fn, handler, queue, "target", "on-failure")
    while rule_pump.pump():
        pass
    assert len(calls) == 3 and queue.sent == [] and rule_pump.delivered == 1 and queue.deleted
