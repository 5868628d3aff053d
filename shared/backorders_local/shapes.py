"""The shapes Lambda delivers: API Gateway proxy events, stream records, EventBridge
events, and the filter matching of event source mappings. Pure functions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from backorders import topology
from backorders.domain import routing

REGION = "us-east-1"
ACCOUNT = "123456789012"


# --- API Gateway (REST, Lambda proxy) ---------------------------------------------------


def _multi(query: str) -> dict[str, list[str]] | None:
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query):
        values.setdefault(key, []).append(value)
    return values or None


def api_event(method: str, path: str, headers: dict[str, str], body: bytes, query: str = "") -> tuple[dict, topology.Function | None]:
    """The event API Gateway sends for this request (`path` as received, still
    percent-encoded), and the function it goes to: the one route table decides, and a
    request that matches no route goes to the api function, whose gate refuses it."""
    found = routing.match(method, path)
    route, fn, params = (found.route, found.function, found.params) if isinstance(found, routing.Match) else (None, None, {})
    text: str | None
    try:
        text, b64 = (body.decode(), False) if body else (None, False)
    except UnicodeDecodeError:
        import base64

        text, b64 = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    event = {
        "resource": route.path if route else path,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(parse_qsl(query)) or None,
        "multiValueQueryStringParameters": _multi(query),
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path if route else path,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "accountId": ACCOUNT,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent")},
        },
        "body": text,
        "isBase64Encoded": b64,
    }
    return event, fn


# --- DynamoDB streams ----------------------------------------------------------------------


def stream_record(record: dict, stream_arn: str) -> dict:
    """A record from GetRecords as Lambda delivers it: with its source ARN and region,
    and the creation time in epoch seconds."""
    out = dict(record)
    dynamodb = dict(out.get("dynamodb", {}))
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    out["dynamodb"] = dynamodb
    out["eventSourceARN"] = stream_arn
    out.setdefault("awsRegion", REGION)
    out.setdefault("eventSource", "aws:dynamodb")
    out.setdefault("eventVersion", "1.1")
    return out


def matches(pattern: Any, value: Any) -> bool:
    """Lambda / EventBridge content filtering, for the rules the topology uses."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(_matches_field(p, value.get(k), k in value) for k, p in pattern.items())
    return _matches_field(pattern, value, value is not None)


def _matches_field(pattern: Any, value: Any, present: bool) -> bool:
    if isinstance(pattern, dict):
        return present and matches(pattern, value)
    values = value if isinstance(value, list) else [value]
    for option in pattern:
        if isinstance(option, dict):
            if "exists" in option:
                if option["exists"] == present:
                    return True
            elif "prefix" in option:
                if present and any(isinstance(v, str) and v.startswith(option["prefix"]) for v in values):
                    return True
            elif "anything-but" in option:
                banned = option["anything-but"]
                banned = banned if isinstance(banned, list) else [banned]
                if present and all(v not in banned for v in values):
                    return True
            else:
                raise ValueError(f"filter rule not supported here: {option}")
        elif present and option in values:
            return True
    return False


def passes(filters: tuple[dict, ...], record: dict) -> bool:
    return not filters or any(matches(f, record) for f in filters)


# --- EventBridge ----------------------------------------------------------------------------


def eventbridge_event(message_body: str) -> dict:
    """An event as a rule's SQS target received it, as a Lambda target would get it
    (the SQS copy lacks `account`)."""
    event = json.loads(message_body)
    event.setdefault("account", ACCOUNT)
    event.setdefault("region", REGION)
    event.setdefault("resources", [])
    event.setdefault("version", "0")
    return event


def scheduled_event(rule_name: str, now: datetime | None = None, detail: dict | None = None) -> dict:
    """What an EventBridge schedule (rate) rule delivers to its Lambda target (`detail`:
    what an operator invoking it by hand may add)."""
    now = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
        "detail": detail or {},
    }
