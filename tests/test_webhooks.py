"""Outbound webhooks end to end: the chain's changes reach a real receiver on 127.0.0.1,
signed as Standard Webhooks says (checked with the `standardwebhooks` library and by hand),
retried with one webhook-id, disabled on 410, never holding up the chain."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from standardwebhooks import Webhook

from backorders.adapters import outbound
from backorders.domain import webhooks
from backorders_local import pumps


@dataclass
class Receiver:
    """An HTTP receiver: answers each POST with the next status of `answers` (then 200)."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    hold: threading.Event | None = None  # while set to wait, every request hangs
    url: str = ""

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if receiver.hold is not None:
                receiver.hold.wait(30)
            receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = receiver.answers.pop(0) if receiver.answers else 200
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", receiver.url + "/elsewhere")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()


def endpoint(chain, kind: str, account_id: str, endpoint_id: str, url: str, events: list[str]) -> dict:
    account = "sellers" if kind == "seller" else "vendors"
    call = chain.as_seller if kind == "seller" else chain.as_vendor
    answer = call(account_id, "PUT", f"/v1/{account}/{account_id}/webhook-endpoints/{endpoint_id}", {"url": url, "events": events})
    assert answer.status == 201, answer
    return answer.body


def shop(chain, stock: int = 3) -> None:
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "MUG", "v1")
    chain.stock("s1", "MUG", stock)


def seed(chain) -> str:
    """Order 5 with 3 in stock: backordered, a PO for 2, two handovers: ready."""
    assert chain.order("s1", "o1", ("MUG", 5)).status == 201
    chain.drain()
    (vo,) = chain.vendor_orders("v1")
    chain.hand_over("v1", vo["vendor_order_id"], "h1", ("MUG", 1))
    chain.drain()
    chain.hand_over("v1", vo["vendor_order_id"], "h2", ("MUG", 1))
    chain.drain()
    return vo["vendor_order_id"]


def verify_by_hand(secret: str, headers: dict[str, str], body: bytes) -> None:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_the_seller_and_the_vendor_hear_of_the_seed_scenario_signed_as_standard_webhooks_say(chain):
    shop(chain)
    with receiving(Receiver()) as seller_side, receiving(Receiver()) as vendor_side:
        seller_endpoint = endpoint(chain, "seller", "s1", "erp", seller_side.url, list(webhooks.SELLER_EVENTS))
        vendor_endpoint = endpoint(chain, "vendor", "v1", "wms", vendor_side.url, ["vendor_order.created"])
        for created in (seller_endpoint, vendor_endpoint):
            assert created["secret"].startswith("whsec_") and len(base64.b64decode(created["secret"][6:])) >= 24
        vendor_order_id = seed(chain)
        chain.send_webhooks()

        # (no order is promised between events: each carries its own timestamp)
        assert sorted(seller_side.types()) == ["goods.received", "goods.received", "order.backordered", "order.ready", "purchase_order.created"]
        assert vendor_side.types() == ["vendor_order.created"]
        for side, secret in ((seller_side, seller_endpoint["secret"]), (vendor_side, vendor_endpoint["secret"])):
            for headers, body in side.received:
                Webhook(secret).verify(body, headers)  # raises when anything is off
                verify_by_hand(secret, headers, body)
        _, created = vendor_side.received[0]
        assert json.loads(created)["data"]["vendor_order"]["vendor_order_id"] == vendor_order_id
        (ready,) = [json.loads(body) for _, body in seller_side.received if json.loads(body)["type"] == "order.ready"]
        order = ready["data"]["order"]
        assert (order["order_id"], order["status"]) == ("o1", "ready")
        # each handover's GRN, as the PO keeps it: which goods, from which handover, for whom
        events = [json.loads(body) for _, body in seller_side.received]
        grns = sorted((e["data"]["grn"] for e in events if e["type"] == "goods.received"), key=lambda g: g["handover_id"])
        [po] = chain.purchase_orders("s1")
        assert [(g["handover_id"], g["grn_id"], g["po_id"], g["lines"]) for g in grns] == [
            (h, kept["grn_id"], po["po_id"], [{"sku": "MUG", "qty": 1}]) for h, kept in zip(("h1", "h2"), po["grns"], strict=True)
        ]
        assert all(g["shares"] == [{"order_id": "o1", "line_id": order["lines"][0]["line_id"], "sku": "MUG", "qty": 1}] for g in grns)
        assert all((g["location"], g["bin"], g["seller_id"]) == ("main", "default", "s1") and g["created_at"] for g in grns)
        assert not any("given_on_receipt" in g or "body_sha256" in g for g in grns)


def test_a_failing_receiver_gets_each_retry_with_the_same_webhook_id_and_the_attempts_are_listed(chain):
    shop(chain)
    with receiving(Receiver(answers=[500, 500, 200])) as side:
        endpoint(chain, "seller", "s1", "erp", side.url, ["order.backordered"])
        chain.order("s1", "o1", ("MUG", 5))
        chain.drain()
        chain.send_webhooks()
    assert len(side.received) == 3
    assert len({headers["webhook-id"] for headers, _ in side.received}) == 1
    assert len({body for _, body in side.received}) == 1, "the same body on every attempt"
    listed = chain.as_seller("s1", "GET", "/v1/sellers/s1/webhook-endpoints/erp/deliveries").body["items"]
    assert [(a["attempt"], a["status_code"]) for a in listed] == [(3, 200), (2, 500), (1, 500)]
    assert listed[1]["next_attempt_at"] is not None and listed[0]["next_attempt_at"] is None


def test_a_receiver_that_answers_410_disables_its_endpoint(chain):
    shop(chain)
    with receiving(Receiver(answers=[410])) as side:
        endpoint(chain, "seller", "s1", "erp", side.url, ["order.backordered", "order.ready"])
        seed(chain)
        chain.send_webhooks()
    assert side.types() == ["order.backordered"], "nothing more after the 410"
    (listed,) = chain.as_seller("s1", "GET", "/v1/sellers/s1/webhook-endpoints").body["items"]
    assert listed["status"] == "disabled" and "410" in listed["disabled_reason"]
    again = chain.as_seller("s1", "PUT", "/v1/sellers/s1/webhook-endpoints/erp", {"url": side.url, "events": ["order.ready"]})
    assert again.status == 200 and again.body["status"] == "enabled" and "secret" not in again.body


def test_a_redirect_is_not_followed_and_counts_as_a_failure(chain):
    shop(chain)
    with receiving(Receiver(answers=[302, 302, 302, 302, 302, 302, 302, 302])) as side:
        endpoint(chain, "seller", "s1", "erp", side.url, ["order.backordered"])
        chain.order("s1", "o1", ("MUG", 5))
        chain.drain()
        chain.send_webhooks()
    assert len(side.received) == 8, "each of the 8 attempts reached the endpoint itself, never the Location"
    (listed,) = chain.as_seller("s1", "GET", "/v1/sellers/s1/webhook-endpoints").body["items"]
    assert listed["status"] == "enabled"


def test_a_receiver_that_never_answers_holds_up_nothing(chain):
    shop(chain)
    hold = threading.Event()
    stop = threading.Event()
    with receiving(Receiver(hold=hold)) as slow, receiving(Receiver()) as fast:
        endpoint(chain, "seller", "s1", "slow", slow.url, list(webhooks.SELLER_EVENTS))
        endpoint(chain, "seller", "s1", "fast", fast.url, list(webhooks.SELLER_EVENTS))
        # three concurrent senders, as Lambda runs the queue's function; the slow receiver
        # can hold at most its endpoint's slots, the others go on with the fast one
        template = chain.queue_pumps[0]

        def sending() -> None:
            pump = pumps.QueuePump(template.function, template.handler, template.sqs, template.queue_url)
            while not stop.is_set():
                if not pump.pump():
                    stop.wait(0.05)

        senders = [threading.Thread(target=sending, daemon=True) for _ in range(3)]
        for sender in senders:
            sender.start()
        try:
            seed(chain)  # the whole chain, while the slow receiver hangs
            assert chain.get_order("s1", "o1")["status"] == "ready"
            for _ in range(400):
                if len(fast.types()) >= 5:
                    break
                stop.wait(0.05)
            assert sorted(fast.types()) == ["goods.received", "goods.received", "order.backordered", "order.ready", "purchase_order.created"]
            assert slow.received == [], "the slow receiver has answered nothing yet"
        finally:
            hold.set()
            stop.set()
            for sender in senders:
                sender.join(30)


def test_redelivered_stream_records_send_no_second_event(chain):
    shop(chain)
    with receiving(Receiver()) as side:
        endpoint(chain, "seller", "s1", "erp", side.url, list(webhooks.SELLER_EVENTS))
        endpoint(chain, "vendor", "v1", "wms", side.url, list(webhooks.VENDOR_EVENTS))
        seed(chain)
        chain.send_webhooks()
        sent = len(side.received)
        # every record of the orders and purchasing streams, delivered again from the start
        for pump in chain.stream_pumps:
            if pump.function.name.startswith("notify_"):
                again = pumps.StreamPump(pump.function, pump.handler, pump.stream_arn, pump.streams, pump.sqs, pump.on_failure_url)
                assert again.pump() > 0
        chain.send_webhooks()
    assert len(side.received) == sent
    assert len({headers["webhook-id"] for headers, _ in side.received}) == sent


def test_another_accounts_key_cannot_read_or_change_an_endpoint(chain):
    shop(chain)
    chain.seller("s2")
    chain.vendor("v2")
    endpoint(chain, "seller", "s1", "erp", "http://127.0.0.1:9/hooks", ["order.ready"])
    endpoint(chain, "vendor", "v1", "wms", "http://127.0.0.1:9/hooks", ["vendor_order.created"])
    body = {"url": "http://127.0.0.1:9/stolen", "events": ["order.ready"]}
    for call, path in (
        (lambda *a: chain.as_seller("s2", *a), "/v1/sellers/s1/webhook-endpoints"),
        (lambda *a: chain.as_vendor("v1", *a), "/v1/sellers/s1/webhook-endpoints"),
        (lambda *a: chain.as_vendor("v2", *a), "/v1/vendors/v1/webhook-endpoints"),
        (lambda *a: chain.as_seller("s1", *a), "/v1/vendors/v1/webhook-endpoints"),
    ):
        assert call("GET", path).status == 403
        assert call("PUT", path + "/erp", body).status == 403
        assert call("DELETE", path + "/erp").status == 403
        assert call("GET", path + "/erp/deliveries").status == 403
    assert chain.as_seller("s1", "GET", "/v1/sellers/s1/webhook-endpoints").body["items"][0]["url"] == "http://127.0.0.1:9/hooks"
    assert chain.as_seller("s1", "DELETE", "/v1/sellers/s1/webhook-endpoints/erp").status == 204
    assert chain.as_seller("s1", "DELETE", "/v1/sellers/s1/webhook-endpoints/erp").status == 404
    assert chain.admin("GET", "/v1/vendors/v1/webhook-endpoints").status == 200


def test_endpoints_take_only_their_accounts_events_and_urls_that_may_receive(chain):
    shop(chain)
    put = lambda url, events: chain.as_seller("s1", "PUT", "/v1/sellers/s1/webhook-endpoints/e1", {"url": url, "events": events})  # noqa: E731
    assert put("http://127.0.0.1:9/x", ["vendor_order.created"]).status == 400
    assert put("http://127.0.0.1:9/x", ["order.shipped"]).status == 400
    assert put("http://127.0.0.1:9/x", []).status == 400
    for url in ("https://10.0.0.8/x", "https://169.254.169.254/latest", "https://[::ffff:192.168.1.1]/x", "ftp://example.com/x", "http://user:pw@127.0.0.1/x"):
        answer = put(url, ["order.ready"])
        assert answer.status == 400 and answer.error["code"] == "invalid_url", url


DEPLOYED_REFUSED = (
    "http://127.0.0.1/x",
    "https://127.0.0.1/x",
    "https://localhost/x",
    "https://[::1]/x",
    "https://10.1.2.3/x",
    "https://172.16.0.1/x",
    "https://192.168.0.10/x",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/x",
    "https://0.0.0.0/x",
    "https://[fd00::1]/x",
    "https://[::ffff:10.0.0.1]/x",
    "https://[2002:a00:1::]/x",  # 6to4 of 10.0.0.1
    "http://example.com/x",
    "https://metadata.internal/x",
)


@pytest.mark.parametrize("url", DEPLOYED_REFUSED)
def test_deployed_urls_must_be_https_and_public(url):
    assert webhooks.url_problem(url, allow_local=False) is not None


def test_a_public_name_that_resolves_to_a_private_address_is_refused_at_set_up_and_at_connect(monkeypatch):
    answers = {"hooks.example.com": "93.184.216.34", "rebind.example.com": "10.0.0.5"}

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    outbound.check("https://hooks.example.com/x", allow_local=False)
    with pytest.raises(outbound.Refused, match="not a public address"):
        outbound.check("https://rebind.example.com/x", allow_local=False)
    # accepted once, then the name is pointed elsewhere: the attempt itself refuses to connect
    answers["hooks.example.com"] = "127.0.0.1"
    with pytest.raises(outbound.Refused):
        outbound.post("https://hooks.example.com/x", "{}", {}, allow_local=False)


def test_the_vendor_hears_of_a_cancellation_but_not_of_its_own_handovers(chain):
    shop(chain, stock=3)
    with receiving(Receiver()) as side:
        endpoint(chain, "vendor", "v1", "wms", side.url, list(webhooks.VENDOR_EVENTS))
        seed(chain)  # two handovers: the vendor's own doing
        chain.send_webhooks()
        assert side.types() == ["vendor_order.created"]
        chain.order("s1", "o2", ("MUG", 4))
        chain.drain()
        assert chain.as_seller("s1", "POST", "/v1/sellers/s1/orders/o2/cancel", {"order_id": "o2"}).status == 200
        chain.drain()
        chain.send_webhooks()
    assert side.types() == ["vendor_order.created", "vendor_order.created", "vendor_order.updated"]
    _, body = side.received[-1]
    vendor_order = json.loads(body)["data"]["vendor_order"]
    assert vendor_order["status"] == "cancelled"


def test_an_endpoint_deleted_and_made_again_under_its_id_gets_nothing_of_the_old_one(chain):
    shop(chain)
    with receiving(Receiver()) as old, receiving(Receiver()) as new:
        endpoint(chain, "seller", "s1", "erp", old.url, ["order.backordered"])
        chain.order("s1", "o1", ("MUG", 5))
        chain.drain()  # queued for the old endpoint, not yet sent
        assert chain.as_seller("s1", "DELETE", "/v1/sellers/s1/webhook-endpoints/erp").status == 204
        endpoint(chain, "seller", "s1", "erp", new.url, ["order.ready", "order.backordered"])
        chain.send_webhooks()
    assert old.received == [] and new.received == []
    assert chain.as_seller("s1", "GET", "/v1/sellers/s1/webhook-endpoints/erp/deliveries").body["items"] == []


def test_an_account_has_at_most_ten_endpoints(chain):
    shop(chain)
    for n in range(10):
        endpoint(chain, "seller", "s1", f"e{n}", "http://127.0.0.1:9/x", ["order.ready"])
    eleventh = chain.as_seller("s1", "PUT", "/v1/sellers/s1/webhook-endpoints/e10", {"url": "http://127.0.0.1:9/x", "events": ["order.ready"]})
    assert eleventh.status == 422 and eleventh.error["code"] == "too_many_endpoints"
    changed = chain.as_seller("s1", "PUT", "/v1/sellers/s1/webhook-endpoints/e3", {"url": "http://127.0.0.1:9/y", "events": ["order.ready"]})
    assert changed.status == 200, "changing one of the ten is still fine"


def test_the_vendor_hears_when_part_of_its_order_is_cancelled(chain):
    shop(chain, stock=0)
    chain.order("s1", "o1", ("MUG", 5))
    chain.drain()
    [po] = chain.purchase_orders("s1")
    with receiving(Receiver()) as side:
        endpoint(chain, "vendor", "v1", "wms", side.url, list(webhooks.VENDOR_EVENTS))
        cut = chain.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel", {"lines": [{"sku": "MUG", "qty": 2}]})
        assert cut.status == 200, cut
        chain.drain()
        chain.send_webhooks()
    assert side.types() == ["vendor_order.updated"]
    _, body = side.received[-1]
    [line] = json.loads(body)["data"]["vendor_order"]["lines"]
    assert (line["qty"], line["cancelled_qty"]) == (5, 2), "first ordered, and how much of it was cancelled"
