"""Records every AWS call each function makes, as IAM would authorise it.

moto checks no IAM, so a role missing a grant passes every other test. This records
(function, action, resource) for each call made while a handler runs (the function is
`backorders_local.functions.CURRENT_FUNCTION`); tests/infra/test_iam_calls.py checks
the records against the roles of the synthesised template.

The hook is a botocore `provide-client-params` handler added to botocore's built-in
handlers, as moto adds its own: every session made afterwards, and so every client
(including the ones cached at module level and reused across tests), carries it.
Calls made outside a handler (test code, the local pumps standing in for Lambda's
event source mappings and EventBridge) belong to no function and are not recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import pytest
from botocore.handlers import BUILTIN_HANDLERS

from backorders_local.functions import CURRENT_FUNCTION


class Call(NamedTuple):
    function: str
    action: str  # as IAM names it, e.g. "dynamodb:PutItem"
    resource: str | None  # table name, queue URL, bus name, secret id or stream ARN, as the code gave it


# Per-item authorisation: IAM checks each item of a transaction as its own action.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def authorised(prefix: str, operation: str, params: dict) -> list[tuple[str, str | None]]:
    """The (action, resource) pairs IAM authorises for one API call."""
    if prefix == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        pairs = []
        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                pairs.append((f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", body.get("TableName")))
        return pairs
    if prefix == "dynamodb" and operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table) for table in params.get("RequestItems", {})]
    if prefix == "events" and operation == "PutEvents":
        return [("events:PutEvents", e.get("EventBusName", "default")) for e in params.get("Entries", [])]
    if prefix == "dynamodb" and "IndexName" in params:  # IAM authorises an index on its own ARN
        return [(f"dynamodb:{operation}", f"{params['TableName']}/index/{params['IndexName']}")]
    for key in ("TableName", "StreamArn", "QueueUrl", "SecretId", "EventBusName"):
        if key in params:
            return [(f"{prefix}:{operation}", params[key])]
    return [(f"{prefix}:{operation}", None)]  # unknown shape: no grant will match it


class Recorder:
    def __init__(self) -> None:
        self.calls: set[Call] = set()
        self.count = 0

    def by_function(self) -> dict[str, set[Call]]:
        out: dict[str, set[Call]] = {}
        for call in self.calls:
            out.setdefault(call.function, set()).add(call)
        return out


_recording: list[Recorder] = []


def _on_call(params: dict, model, **_kwargs) -> None:
    function = CURRENT_FUNCTION.get()
    if function is None or not _recording:
        return
    # The IAM prefix is the signing name: DynamoDB Streams' actions are dynamodb:*.
    prefix = model.service_model.signing_name
    for action, resource in authorised(prefix, model.name, params):
        for recorder in _recording:
            recorder.calls.add(Call(function, action, resource))
            recorder.count += 1
    return  # the params stay as they are


def install() -> None:
    """Add the hook to every botocore session made from now on (call before any is made)."""
    if ("provide-client-params", _on_call) not in BUILTIN_HANDLERS:
        BUILTIN_HANDLERS.append(("provide-client-params", _on_call))


@contextmanager
def recording() -> Iterator[Recorder]:
    install()
    recorder = Recorder()
    _recording.append(recorder)
    try:
        yield recorder
    finally:
        _recording.remove(recorder)


@pytest.fixture
def iam_calls() -> Iterator[Recorder]:
    """Every AWS call the functions make during the test."""
    with recording() as recorder:
        yield recorder
