"""A test driver for the whole chain on moto: HTTP requests become API Gateway events,
stream records and rule events are pumped into the next handler in Lambda's shapes."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
from moto import mock_aws

from backorders import topology
from backorders.domain import security
from backorders_local import functions, moto_fixes, provision, pumps, shapes

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextmanager
def receipts_given_later():
    """GRNs made meanwhile leave their goods `reserved` for the purchasing stream
    (on_goods_received) to give out, as a GRN with goods for more orders than its own
    transaction takes does."""
    from unittest import mock

    from backorders.services import purchasing

    with mock.patch.object(purchasing, "GIVE_AT_ONCE", 0):
        yield


class _Clients:
    """The clients the driver uses (and provisions with), made once per process. moto gives
    each mock a new default session, which parses the endpoint and service models again
    for every client: 0.1-0.25 s a test. A client keeps no data, and moto intercepts
    every client while a mock is active, so each test still starts from empty backends."""

    @staticmethod
    @cache
    def client(service: str):
        return _session().client(service)


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict = field(default_factory=dict)

    @property
    def error(self) -> dict:
        return self.body["error"]


class Chain:
    def __init__(self, resources: provision.Resources):
        self.handlers = functions.load_all()
        sqs = _Clients.client("sqs")
        streams = _Clients.client("dynamodbstreams")
        self.resources = resources
        self.stream_pumps = [
            pumps.StreamPump(
                fn,
                self.handlers[fn.name],
                resources.stream_arns[fn.stream.table.name],
                streams,
                sqs,
                resources.on_failure_queue_urls[fn.name],
            )
            for fn in topology.FUNCTIONS
            if fn.stream
        ]
        self.rule_pumps = [
            pumps.RulePump(rq.function, self.handlers[rq.function.name], sqs, rq.queue_url, rq.handler_failures_url)
            for rq in resources.rules
        ]
        # The webhook sender is off the chain (its own queue and concurrency, as on AWS):
        # `drain` never waits for it; `send_webhooks` runs it.
        self.queue_pumps = [
            pumps.QueuePump(fn, self.handlers[fn.name], sqs, resources.queue_urls[fn.queue.name])
            for fn in topology.FUNCTIONS
            if fn.queue
        ]
        self.sellers: dict[str, dict] = {}
        self.vendors: dict[str, dict] = {}

    @classmethod
    @contextmanager
    def started(cls):
        moto_fixes.apply()
        with mock_aws():
            resources = provision.provision(_Clients)
            for q in topology.QUEUES:  # the functions take the URL from their environment, as deployed
                assert resources.queue_urls[q.name] == os.environ[q.env_var], q.env_var
            yield cls(resources)

    # --- HTTP --------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None, raw: bytes | None = None) -> Answer:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        path, _, query = path.partition("?")
        event, fn = shapes.api_event(method, path, headers or {}, data, query)
        handler = self.handlers[fn.name if fn else "api"]
        out = handler(event, functions.context_for(fn or topology.function("api")))
        headers = {k: v[-1] for k, v in (out.get("multiValueHeaders") or {}).items()} | (out.get("headers") or {})
        return Answer(out["statusCode"], json.loads(out["body"]) if out.get("body") else None, headers)

    def admin(self, method: str, path: str, body: Any = None) -> Answer:
        return self.call(method, path, body, ADMIN)

    def signed(self, seller_id: str, path: str, body: Any, secret: str | None = None) -> Answer:
        raw = json.dumps(body).encode()
        secret = secret or self.sellers[seller_id]["webhook_secret"]
        return self.call("POST", path, headers={"X-Signature": security.sign(raw, secret)}, raw=raw)

    def as_seller(self, seller_id: str, method: str, path: str, body: Any = None) -> Answer:
        return self.call(method, path, body, {"X-Api-Key": self.sellers[seller_id]["api_key"]})

    def as_vendor(self, vendor_id: str, method: str, path: str, body: Any = None) -> Answer:
        return self.call(method, path, body, {"X-Api-Key": self.vendors[vendor_id]["api_key"]})

    # --- the seller's and vendor's words ------------------------------------------------

    def seller(self, seller_id: str = "s1", **flags) -> dict:
        body = {
            "name": f"Seller {seller_id}",
            "allow_backorders": True,
            "auto_po_vendor_level": True,
            "auto_grn_through_backorder": True,
            **flags,
        }
        answer = self.admin("PUT", f"/v1/sellers/{seller_id}", body)
        assert answer.status in (200, 201), answer
        if answer.status == 201:
            self.sellers[seller_id] = answer.body
        return answer.body

    def vendor(self, vendor_id: str = "v1", **flags) -> dict:
        body = {
            "name": f"Vendor {vendor_id}",
            "is_b2b_new": True,
            "vendor_panel_type": 2,
            "is_warehouse_location": False,
            "approval_required": False,
            **flags,
        }
        answer = self.admin("PUT", f"/v1/vendors/{vendor_id}", body)
        assert answer.status in (200, 201), answer
        if answer.status == 201:
            self.vendors[vendor_id] = answer.body
        return answer.body

    def map_sku(self, seller_id: str, sku: str, vendor_id: str | None) -> Answer:
        return self.admin("PUT", f"/v1/sellers/{seller_id}/skus/{sku}", {"vendor_id": vendor_id})

    def stock(self, seller_id: str, sku: str, qty: int, adjustment_id: str | None = None, **where) -> Answer:
        body = {"adjustment_id": adjustment_id or f"adj-{sku}-{qty}-{len(where)}", "sku": sku, "qty": qty, **where}
        return self.admin("POST", f"/v1/sellers/{seller_id}/inventory/adjustments", body)

    def order(self, seller_id: str, order_id: str, *lines: tuple[str, int]) -> Answer:
        body = {
            "order_id": order_id,
            "lines": [{"line_id": f"L{i + 1}", "sku": sku, "qty": qty} for i, (sku, qty) in enumerate(lines)],
        }
        return self.signed(seller_id, f"/v1/sellers/{seller_id}/orders", body)

    def get_order(self, seller_id: str, order_id: str) -> dict:
        answer = self.admin("GET", f"/v1/sellers/{seller_id}/orders/{order_id}")
        assert answer.status == 200, answer
        return answer.body

    def purchase_orders(self, seller_id: str) -> list[dict]:
        return self.admin("GET", f"/v1/sellers/{seller_id}/purchase-orders").body["items"]

    def vendor_orders(self, vendor_id: str) -> list[dict]:
        return self.as_vendor(vendor_id, "GET", f"/v1/vendors/{vendor_id}/orders").body["items"]

    def hand_over(self, vendor_id: str, vendor_order_id: str, handover_id: str, *lines: tuple[str, int]) -> Answer:
        body = {"handover_id": handover_id, "lines": [{"sku": s, "qty": q} for s, q in lines]}
        return self.as_vendor(vendor_id, "POST", f"/v1/vendors/{vendor_id}/orders/{vendor_order_id}/handovers", body)

    def bins(self, seller_id: str, sku: str) -> dict[tuple[str, str], dict]:
        from backorders.adapters.store import Store

        return {(b.location, b.bin): b.model_dump(exclude={"offer_when_received", "received_on_pos"}) for b in Store().bins(seller_id, sku)}

    # --- the asynchronous part ----------------------------------------------------------

    @property
    def pumps(self) -> list:
        return [*self.stream_pumps, *self.rule_pumps]

    def drain(self) -> int:
        return pumps.drain(self.pumps)

    def send_webhooks(self) -> int:
        """Deliver what the webhook queue holds now (and the retries that become due at
        once), until nothing is left to send."""
        return pumps.drain([p for p in self.queue_pumps if p.function.queue == topology.WEBHOOK_DELIVERIES])

    def close_po_windows(self, drain: bool = True) -> int:
        """Every open PO's consolidation window closes, as if its time had come (see
        `windows_due_now`); the closing function takes their messages, as deployed.
        Returns how many POs are no longer open."""
        from backorders.adapters.store import Store

        due = self.windows_due_now()
        self.pump_po_windows()
        if drain:
            self.drain()
        store = Store()
        return sum(1 for item in due if (found := store.purchase_order(item["seller_id"], item["po_id"])) and found[0].status != "open")

    def windows_due_now(self) -> list[dict]:
        """Time passes: each open PO's closing time moves to now, and its message (the one
        the stream sent is minutes away) is put on the windows queue, due now."""
        from backorders.adapters import dynamo
        from backorders.adapters.store import Store, po_key

        due = Store().overdue_windows("9999")
        sqs, url = _Clients.client("sqs"), self.resources.queue_urls[topology.PO_WINDOWS.name]
        for item in due:
            past = (datetime.now(UTC) - timedelta(milliseconds=1)).isoformat(timespec="milliseconds")
            dynamo.client().update_item(
                TableName=topology.PURCHASING.name,
                Key=dynamo.to_item(po_key(item["seller_id"], item["po_id"])),
                UpdateExpression=f"SET closes_at = :past, {topology.WORK.sort_key} = :past",  # and when it is due
                ExpressionAttributeValues={":past": {"S": past}},
            )
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"seller_id": item["seller_id"], "po_id": item["po_id"]}))
        return due

    def pump_po_windows(self) -> int:
        return pumps.drain([p for p in self.queue_pumps if p.function.queue == topology.PO_WINDOWS])
