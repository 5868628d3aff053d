"""Outbound webhooks (Standard Webhooks): which changes become which events, how each
is signed, when a failed delivery is tried again, and which URLs may receive them.

Pure: the standard library and pydantic; no network (the sender resolves and connects,
see `backorders.adapters.outbound`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

SELLER_EVENTS = ("order.backordered", "purchase_order.created", "goods.received", "order.ready", "order.cancelled")
VENDOR_EVENTS = ("vendor_order.created", "vendor_order.updated")
EVENTS = {"seller": SELLER_EVENTS, "vendor": VENDOR_EVENTS}
AccountKind = Literal["seller", "vendor"]

# Attempt n+1 waits SCHEDULE_S[n-1] after attempt n fails: 8 attempts over about 28 hours.
DEFAULT_SCHEDULE_S = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
TIMEOUT_S = 15
MAX_URL = 2000


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=1, max_length=MAX_URL, description="Where events are posted (https).")]
    events: Annotated[list[str], Field(min_length=1, max_length=10, description="The event types to send.")]

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        known = (*SELLER_EVENTS, *VENDOR_EVENTS)
        unknown = [e for e in events if e not in known]
        if unknown:
            raise ValueError(f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(known)}")
        if len(set(events)) != len(events):
            raise ValueError("an event type appears more than once")
        return events


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secret: str, webhook_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "backorders-webhooks/1",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
    }


def schedule(text: str | None) -> tuple[int, ...]:
    """The retry schedule: comma-separated seconds, or the default."""
    if not text:
        return DEFAULT_SCHEDULE_S
    try:
        delays = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"a retry schedule is comma-separated seconds, not {text!r}") from None
    if not delays or any(d < 0 or d > 24 * 3600 for d in delays):
        raise ValueError(f"each retry delay is 0 to 86400 seconds: {text!r}")
    return delays


# --- which changes are events -------------------------------------------------------


@dataclass(frozen=True)
class Event:
    account: AccountKind
    account_id: str
    type: str
    webhook_id: str  # from its cause: the same change always gives the same id
    body: str  # exactly what is posted (and signed), on every attempt


def _event(account: AccountKind, account_id: str, type_: str, cause: str, at: str, data: dict) -> Event:
    webhook_id = "msg_" + hashlib.sha256(f"{type_}|{cause}".encode()).hexdigest()[:32]
    body = json.dumps({"type": type_, "timestamp": at, "data": data}, separators=(",", ":"), sort_keys=True, default=str)
    return Event(account, account_id, type_, webhook_id, body)


ORDER_STATUS_EVENTS = {"backordered": "order.backordered", "ready": "order.ready", "cancelled": "order.cancelled"}


def order_event_type(old: dict | None, new: dict) -> str | None:
    """The event of an order's change: it became backordered, ready or cancelled."""
    status = new.get("status")
    type_ = ORDER_STATUS_EVENTS.get(str(status))
    if type_ is None or (old is not None and old.get("status") == status):
        return None
    return type_


def order_events(old: dict | None, new: dict, public: Callable[[], dict]) -> list[Event]:
    """The events of an order's change (`public`: the order as the API shows it, made only
    when there is an event: most changes of a big order are steps with none)."""
    type_ = order_event_type(old, new)
    if type_ is None:
        return []
    cause = f"{new['pk']}|{new.get('status')}|{new.get('version', '')}"
    at = str(new.get("updated_at") or new.get("created_at") or "")
    return [_event("seller", str(new["seller_id"]), type_, cause, at, {"order": public()})]


def purchasing_events(old: dict | None, new: dict, public: dict) -> list[Event]:
    """A PO raised, a GRN recorded (seller); a vendor order created or changed (vendor)."""
    entity = new.get("entity")
    at = str(new.get("updated_at") or new.get("created_at") or "")
    key = f"{new['pk']}|{new['sk']}"
    if entity == "PO" and old is None:
        return [_event("seller", str(new["seller_id"]), "purchase_order.created", key, at, {"purchase_order": public})]
    if entity == "GRN" and old is None and not new.get("handover_id"):  # a handover's: see handed_over_grns
        return [_event("seller", str(new["seller_id"]), "goods.received", key, at, {"grn": public})]
    if entity == "VENDOR_ORDER":
        if old is None:
            return [_event("vendor", str(new["vendor_id"]), "vendor_order.created", key, at, {"vendor_order": public})]
        if _told_to_vendor(old, new):
            cause = f"{key}|{new.get('version', '')}"
            return [_event("vendor", str(new["vendor_id"]), "vendor_order.updated", cause, at, {"vendor_order": public})]
    return []


def handed_over_grns(old: dict | None, new: dict) -> list[tuple[str, str]]:
    """(GRN id, handover id) of the GRNs a vendor order's change made: its new handovers,
    inwarded as they were recorded (auto GRN). Their `goods.received` is announced from
    this change, since most have no item of their own (their PO keeps them)."""
    if new.get("entity") != "VENDOR_ORDER" or old is None:
        return []
    before = {h.get("handover_id") for h in old.get("handovers") or [] if isinstance(h, dict)}
    return [
        (str(h["grn_id"]), str(h["handover_id"]))
        for h in new.get("handovers") or []
        if isinstance(h, dict) and h.get("grn_id") and h.get("handover_id") not in before
    ]


def goods_received(seller_id: str, grn_id: str, at: str, public: dict) -> Event:
    """`goods.received` for a handover's GRN (its webhook id as if announced from its item)."""
    return _event("seller", seller_id, "goods.received", f"SELLER#{seller_id}|GRN#{grn_id}", at, {"grn": public})


VENDOR_STATUS_NEWS = ("approved", "cancelled", "declined")


def _told_to_vendor(old: dict, new: dict) -> bool:
    """A change the vendor did not make: approved, cancelled, declined, or a quantity
    asked for shrunk (a cancellation). Handovers are the vendor's own and not announced back."""
    status = new.get("status")
    if status != old.get("status") and status in VENDOR_STATUS_NEWS:
        return True
    return _asked(old) != _asked(new)


def _asked(image: dict) -> list:
    return [(line.get("sku"), line.get("qty"), line.get("cancelled_qty", 0)) for line in image.get("lines") or [] if isinstance(line, dict)]


# --- where events may go ------------------------------------------------------------


def url_problem(url: str, *, allow_local: bool) -> str | None:
    """Why `url` cannot receive webhooks, judged on its text (the sender checks again
    what the host resolves to, at every connection); None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return f"not a URL: {e}"
    host = (parts.hostname or "").lower()
    if not host:
        return "the URL has no host"
    if parts.username or parts.password:
        return "the URL must not carry a user or password"
    if parts.fragment:
        return "the URL must not have a #fragment"
    local = host in ("127.0.0.1", "localhost")
    if parts.scheme == "http" and local and allow_local:
        return None
    if parts.scheme != "https":
        return "the URL must be https"
    if port is not None and port == 0:
        return "port 0 is not a port"
    if local and allow_local:
        return None
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None and not is_public(literal):
        return f"{host} is not a public address"
    if literal is None and (host == "localhost" or host.endswith((".localhost", ".local", ".internal"))):
        return f"{host} is not a public host"
    return None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable: no private, loopback, link-local (the metadata service), shared,
    multicast or reserved address, nor an IPv6 form of one."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if address.teredo is not None:
            return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def attempt_record(webhook_id: str, type_: str, attempt: int, status_code: int | None, at: str, next_at: str | None, error: str | None) -> dict[str, Any]:
    return {
        "webhook_id": webhook_id,
        "type": type_,
        "attempt": attempt,
        "status_code": status_code,
        "at": at,
        "next_attempt_at": next_at,
        "error": error,
    }
