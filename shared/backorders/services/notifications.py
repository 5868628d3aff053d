"""Outbound webhooks: endpoints, the events the chain's changes become, their delivery.

- `announce`: a change's events, one message per subscribed endpoint, stored once (the
  event id comes from its cause, so a redelivered stream record adds nothing) and queued.
- `deliver`: one attempt of one message, signed, to the endpoint; the result recorded;
  the next attempt queued on the schedule. At most `SLOTS` attempts per endpoint run at
  once, so a slow receiver holds up only itself, never the chain (which only queues).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from backorders.adapters.dynamo import WriteRefused, with_retries
from backorders.adapters.store import ATTEMPT, Store, now
from backorders.domain import webhooks
from backorders.domain.errors import BusinessRuleViolation, InvalidRequest, NotFound
from backorders.domain.webhooks import AccountKind, EndpointIn, Event
from backorders.services import pages

SLOTS = 2  # attempts to one endpoint at once
MAX_ENDPOINTS = 10  # per account: each event is one message per endpoint
SLOT_LEASE_S = 40  # a sender that stopped mid-attempt frees its slot after this
BUSY_RETRY_S = 5


class Queue(Protocol):
    def send(self, message: dict, delay_s: int = 0) -> None: ...


class Answer(Protocol):
    @property
    def status_code(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...


Post = Callable[[str, str, dict[str, str]], Answer]


class Message(BaseModel):
    """What the queue carries: which attempt of which message, and not before when."""

    account: AccountKind
    account_id: str
    endpoint_id: str
    generation: str  # of the endpoint the message was made for
    webhook_id: str
    attempt: int
    not_before: float = 0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


# --- endpoints ----------------------------------------------------------------------


def public_endpoint(item: dict) -> dict:
    fields = ("endpoint_id", "url", "events", "status", "disabled_reason", "created_at", "updated_at")
    return {k: item.get(k) for k in fields}


def put_endpoint(
    store: Store, kind: AccountKind, account_id: str, endpoint_id: str, body: EndpointIn, check_url: Callable[[str], None]
) -> tuple[int, dict]:
    """Create (201, with the secret, shown this once) or update (200) an endpoint; an
    update enables it again after it was disabled."""
    wrong = [e for e in body.events if e not in webhooks.EVENTS[kind]]
    if wrong:
        raise InvalidRequest(
            f"a {kind} cannot receive {', '.join(wrong)}; its event types: {', '.join(webhooks.EVENTS[kind])}",
            details=[{"field": "events", "value": wrong}],
        )
    check_url(body.url)

    def attempt() -> tuple[int, dict]:
        found = store.endpoint(kind, account_id, endpoint_id)
        if found is None and len(store.endpoints(kind, account_id)) >= MAX_ENDPOINTS:
            raise BusinessRuleViolation(
                f"a {kind} has at most {MAX_ENDPOINTS} webhook endpoints; delete one first", code="too_many_endpoints"
            )
        stamp = now()
        data = {
            "url": body.url,
            "events": body.events,
            "status": "enabled",
            "disabled_reason": None,
            "secret": found["secret"] if found else webhooks.new_secret(),
            "generation": found["generation"] if found else uuid.uuid4().hex[:12],
            "created_at": found["created_at"] if found else stamp,
            "updated_at": stamp,
        }
        store.commit([store.put_endpoint(kind, account_id, endpoint_id, data, create=found is None)])
        answer = public_endpoint({"endpoint_id": endpoint_id, **data})
        if found:
            return 200, answer
        return 201, {**answer, "secret": data["secret"]}

    return with_retries(attempt)


def list_endpoints(store: Store, kind: AccountKind, account_id: str) -> dict:
    return {"items": [public_endpoint(e) for e in store.endpoints(kind, account_id)]}


def delete_endpoint(store: Store, kind: AccountKind, account_id: str, endpoint_id: str) -> None:
    try:
        store.write(store.delete_endpoint(kind, account_id, endpoint_id))
    except WriteRefused:
        raise NotFound(f"webhook endpoint {endpoint_id} not found") from None


def attempts(store: Store, kind: AccountKind, account_id: str, endpoint_id: str, limit: int, cursor: str | None) -> dict:
    endpoint = store.endpoint(kind, account_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    items, last = store.attempts(kind, account_id, endpoint_id, endpoint["generation"], limit, pages.after(cursor, ATTEMPT))
    def shown(item: dict) -> dict:
        code = item.get("status_code")
        return {
            **{k: item.get(k) for k in ("webhook_id", "type", "at", "next_attempt_at", "error")},
            "attempt": int(item["attempt"]),
            "status_code": int(code) if code is not None else None,
        }

    return {"items": [shown(i) for i in items], "next_cursor": pages.cursor(last)}


# --- events -------------------------------------------------------------------------


def announce(store: Store, queue: Queue, events: list[Event]) -> int:
    """Queue each event for each endpoint that wants it; returns the messages queued."""
    queued = 0
    for event in events:
        for endpoint in store.endpoints(event.account, event.account_id):
            if endpoint.get("status") != "enabled" or event.type not in endpoint.get("events", []):
                continue
            endpoint_id, generation = endpoint["endpoint_id"], endpoint["generation"]
            record = {"webhook_id": event.webhook_id, "type": event.type, "body": event.body, "attempts": 0, "done": 0}
            try:
                pending = {**record, "status": "pending", "created_at": now()}
                store.write(store.put_webhook_message(event.account, event.account_id, endpoint_id, generation, pending))
            except WriteRefused:
                stored = store.webhook_message(event.account, event.account_id, endpoint_id, generation, event.webhook_id)
                if stored is None or stored.get("attempts") or stored.get("status") != "pending":
                    continue  # on its way already: a redelivered change sends nothing twice
            # (stored but never attempted: queued again; the sender makes attempt 1 once)
            first = Message(
                account=event.account,
                account_id=event.account_id,
                endpoint_id=endpoint_id,
                generation=generation,
                webhook_id=event.webhook_id,
                attempt=1,
            )
            queue.send(first.model_dump())
            queued += 1
    return queued


# --- delivery -----------------------------------------------------------------------


def deliver(store: Store, queue: Queue, raw: dict[str, Any], post: Post, schedule: tuple[int, ...], clock: Callable[[], float] = time.time) -> str:
    """One attempt of one message. Returns what happened, for the log."""
    try:
        message = Message.model_validate(raw)
    except ValidationError:
        return "unreadable"
    at = clock()
    if at < message.not_before:  # a wait longer than a queue delay: hop again
        queue.send(message.model_dump(), delay_s=int(message.not_before - at) + 1)
        return "waiting"
    who = (message.account, message.account_id, message.endpoint_id)
    mine = (*who, message.generation)
    endpoint = store.endpoint(*who)
    stored = store.webhook_message(*mine, message.webhook_id)
    if stored is None or stored.get("status") != "pending" or int(stored.get("done", 0)) >= message.attempt:
        return "duplicate"
    if endpoint is None or endpoint.get("status") != "enabled" or endpoint.get("generation") != message.generation:
        # deleted (perhaps made again under its id: a new endpoint, not this message's), or disabled
        with suppress(WriteRefused):
            store.write(store.claim_webhook_attempt(*mine, message.webhook_id, message.attempt, int(at), int(at) + SLOT_LEASE_S))
            store.write(store.finish_webhook_attempt(*mine, message.webhook_id, message.attempt, "abandoned", None))
        return "abandoned"
    slot = _take_slot(store, who, int(at))
    if slot is None:
        queue.send(message.model_dump(), delay_s=BUSY_RETRY_S)
        return "busy"
    number, until = slot
    try:
        try:
            store.write(store.claim_webhook_attempt(*mine, message.webhook_id, message.attempt, int(at), until))
        except WriteRefused:
            return "duplicate"  # another copy of this message is making (or made) this attempt
        return _attempt(store, queue, message, endpoint, stored, post, schedule, clock)
    finally:
        with suppress(WriteRefused):
            store.write(store.release_endpoint_slot(*who, number, until))


def _take_slot(store: Store, who: tuple[AccountKind, str, str], at: int) -> tuple[int, int] | None:
    until = at + SLOT_LEASE_S
    for number in random.sample(range(SLOTS), SLOTS):
        try:
            store.write(store.take_endpoint_slot(*who, number, until, at))
        except WriteRefused:
            continue
        return number, until
    return None


def _attempt(
    store: Store, queue: Queue, message: Message, endpoint: dict, stored: dict, post: Post, schedule: tuple[int, ...], clock: Callable[[], float]
) -> str:
    who = (message.account, message.account_id, message.endpoint_id)
    mine = (*who, message.generation)
    sent_at = clock()
    body = str(stored["body"])
    answer = post(endpoint["url"], body, webhooks.headers(endpoint["secret"], message.webhook_id, int(sent_at), body))
    code = answer.status_code
    delivered = code is not None and 200 <= code < 300
    gone = code == 410
    delay = None if delivered or gone or message.attempt > len(schedule) else schedule[message.attempt - 1]
    outcome = "delivered" if delivered else "pending" if delay is not None else "failed"
    next_at = _iso(sent_at + delay) if delay is not None else None
    record = webhooks.attempt_record(message.webhook_id, str(stored["type"]), message.attempt, code, _iso(sent_at), next_at, answer.error)
    writes = [store.finish_webhook_attempt(*mine, message.webhook_id, message.attempt, outcome, next_at), store.put_attempt(*mine, record)]
    if gone:
        writes.append(store.disable_endpoint(*who, f"answered 410 Gone at {_iso(sent_at)}"))
    store.commit(writes)
    if delay is not None:
        following = message.model_copy(update={"attempt": message.attempt + 1, "not_before": sent_at + delay})
        queue.send(following.model_dump(), delay_s=delay)
    return "gone" if gone else outcome
