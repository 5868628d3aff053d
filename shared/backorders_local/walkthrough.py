"""The seed scenario, walked once against a running local runtime over real HTTP, with a
short line per step, so a person sees the chain happen; then what to try next."""

from __future__ import annotations

import hmac
import http.server
import json
import shlex
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backorders.domain import security, webhooks

SELLER = "s-demo"
VENDOR = "v-demo"
SKU = "SKU-DEMO"
ORDER = "o-1001"


class WalkthroughFailed(Exception):
    pass


class Receiver:
    """A webhook receiver on 127.0.0.1 for the walk-through's endpoints: it checks each
    signature with the endpoint's secret and keeps what it got (it lives as long as the
    runtime, so later events land here too)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, bool]] = []  # (path, type, signature valid)
        self.secrets: dict[str, str] = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                secret = receiver.secrets.get(self.path, "")
                expected = webhooks.signature(secret, self.headers.get("webhook-id", ""), int(self.headers.get("webhook-timestamp") or 0), body)
                valid = bool(secret) and hmac.compare_digest(expected, self.headers.get("webhook-signature", ""))
                receiver.got.append((self.path, json.loads(body).get("type", "?"), valid))
                self.send_response(204 if valid else 400)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="walkthrough-receiver", daemon=True).start()

    def types(self, path: str) -> list[str]:
        return [type_ for p, type_, _ in self.got if p == path]


@dataclass
class Client:
    """A small JSON client over urllib (the runtime needs no HTTP library)."""

    base_url: str
    admin_token: str
    stopping: threading.Event = field(default_factory=threading.Event)

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None, raw: bytes | None = None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        return status, (json.loads(text) if text else None)

    def admin(self, method: str, path: str, body: Any = None):
        return self.call(method, path, body, {"Authorization": f"Bearer {self.admin_token}"})

    def expect(self, statuses: tuple[int, ...], answer: tuple[int, Any], what: str) -> Any:
        status, body = answer
        if status not in statuses:
            raise WalkthroughFailed(f"{what}: HTTP {status} {json.dumps(body)}")
        return body

    def until(self, what: str, check: Callable[[], Any], timeout: float = 10.0) -> tuple[Any, float]:
        """Poll `check` until it returns something truthy; that and the seconds it took."""
        started = time.monotonic()
        while True:
            result = check()
            if result:
                return result, time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise WalkthroughFailed(f"{what}: not settled after {timeout:.0f} s")
            if self.stopping.wait(0.02):
                raise WalkthroughFailed("interrupted")


@dataclass
class Demo:
    """The sample accounts the walk-through made (their secrets are shown once)."""

    seller_api_key: str
    webhook_secret: str
    vendor_api_key: str


def walk(client: Client, say: Callable[[str], None]) -> Demo:
    say("Walking through the seed scenario (--no-walkthrough skips this):")
    seller = client.expect((201,), client.admin("PUT", f"/v1/sellers/{SELLER}", {
        "name": "Demo Seller", "allow_backorders": True, "auto_po_vendor_level": True,
        "auto_grn_through_backorder": True,
    }), "create the seller")
    say(f"  seller {SELLER}: backorders allowed, auto PO and auto GRN on")
    vendor = client.expect((201,), client.admin("PUT", f"/v1/vendors/{VENDOR}", {
        "name": "Demo Vendor", "is_b2b_new": True, "vendor_panel_type": 2, "is_warehouse_location": False,
        "approval_required": False,
    }), "create the vendor")
    say(f"  vendor {VENDOR}: separate B2B vendor account, its orders approved automatically")
    client.expect((200,), client.admin("PUT", f"/v1/sellers/{SELLER}/skus/{SKU}", {"vendor_id": VENDOR}), "map the SKU")
    client.expect((201,), client.admin("POST", f"/v1/sellers/{SELLER}/inventory/adjustments", {
        "adjustment_id": "adj-demo-1", "sku": SKU, "qty": 3,
    }), "stock the SKU")
    say(f"  {SKU} is bought from {VENDOR}; 3 in stock (main location, Default Bin)")

    demo = Demo(seller["api_key"], seller["webhook_secret"], vendor["api_key"])
    receiver = Receiver()
    for account, account_id, key, path, events in (
        ("sellers", SELLER, demo.seller_api_key, "/seller-erp", list(webhooks.SELLER_EVENTS)),
        ("vendors", VENDOR, demo.vendor_api_key, "/vendor-wms", list(webhooks.VENDOR_EVENTS)),
    ):
        endpoint = client.expect((201,), client.call(
            "PUT", f"/v1/{account}/{account_id}/webhook-endpoints/demo", {"url": receiver.url + path, "events": events},
            headers={"X-Api-Key": key},
        ), f"add the {account[:-1]}'s webhook endpoint")
        receiver.secrets[path] = endpoint["secret"]
    say(f"  webhook endpoints: the seller's and the vendor's systems listen on {receiver.url}")
    order_body = json.dumps({"order_id": ORDER, "lines": [{"line_id": "L1", "sku": SKU, "qty": 5}]}).encode()
    answer = client.expect((201,), client.call(
        "POST", f"/v1/sellers/{SELLER}/orders", raw=order_body,
        headers={"X-Signature": security.sign(order_body, demo.webhook_secret)},
    ), "post the order")
    warning = "; ".join(f"warning: {w['requested']} requested, {w['available']} available" for w in answer["warnings"])
    say(f"  order {ORDER}: 5 x {SKU} posted by the marketplace -> 201 {answer['status']}, {warning or 'no warning'}")

    def order() -> dict:
        return client.expect((200,), client.admin("GET", f"/v1/sellers/{SELLER}/orders/{ORDER}"), "read the order")

    def po(po_id: str) -> dict:
        return client.expect((200,), client.admin("GET", f"/v1/sellers/{SELLER}/purchase-orders/{po_id}"), "read the PO")

    settled, took = client.until("the order's PO", lambda: (o := order())["lines"][0]["purchase_order_id"] and o)
    line = settled["lines"][0]
    purchase = po(line["purchase_order_id"])
    say(f"  order {ORDER}: {line['assigned_qty']} assigned, {line['pending_qty']} pending; "
        f"PO {purchase['po_id']} {purchase['status']} for {purchase['lines'][0]['qty']} ({took:.2f} s)")

    vendor_key = {"X-Api-Key": demo.vendor_api_key}
    vo = client.expect((200,), client.call("GET", f"/v1/vendors/{VENDOR}/orders/{purchase['vendor_order_id']}",
                                           headers=vendor_key), "read the vendor order")
    say(f"  vendor {VENDOR} sees B2B order {vo['vendor_order_id']}: {vo['status']}, "
        f"{vo['lines'][0]['qty']} x {vo['lines'][0]['sku']}")

    for handover_id, assigned in (("h-1", 4), ("h-2", 5)):
        handed = client.expect((202,), client.call(
            "POST", f"/v1/vendors/{VENDOR}/orders/{vo['vendor_order_id']}/handovers",
            {"handover_id": handover_id, "lines": [{"sku": SKU, "qty": 1}]}, headers=vendor_key,
        ), f"hand over ({handover_id})")
        def goods_assigned(n: int = assigned) -> dict | bool:
            o = order()
            return o["lines"][0]["assigned_qty"] >= n and o

        settled, took = client.until("the handed-over goods' assignment", goods_assigned)
        line = settled["lines"][0]
        purchase = po(purchase["po_id"])
        state = "ready" if settled["status"] == "ready" else f"{line['pending_qty']} pending"
        say(f"  handover {handover_id}: 1 x {SKU} -> GRN {handed['grn_id']}; order {ORDER}: "
            f"{line['assigned_qty']} assigned, {state}; PO {purchase['status']} ({took:.2f} s)")
    if settled["status"] != "ready":
        raise WalkthroughFailed(f"order {ORDER} ended {settled['status']}, not ready")
    say(f"  order {ORDER} is ready: the whole chain ran.")
    client.until("the webhooks", lambda: len(receiver.types("/seller-erp")) >= 5 and receiver.types("/vendor-wms"))
    for path, who in (("/seller-erp", "seller"), ("/vendor-wms", "vendor")):
        got = receiver.types(path)
        valid = all(ok for p, _, ok in receiver.got if p == path)
        say(f"  webhooks to the {who}: {', '.join(got)} ({'each signature verified' if valid else 'A SIGNATURE DID NOT VERIFY'})")
    return demo


def banner(url: str, admin_token: str, aws_url: str, demo: Demo | None, token_generated: bool) -> list[str]:
    admin = f"Authorization: Bearer {admin_token}"
    lines = [
        "",
        "Backorders is running locally.",
        f"  API            {url}   (contract: {url}/v1/openapi.json)",
        f"  admin token    {admin_token}" + ("   (generated; choose one with --admin-token or BACKORDERS_ADMIN_TOKEN)" if token_generated else ""),
        f"  embedded AWS   {aws_url}   (moto; region us-east-1, any credentials; data lives until you stop)",
    ]
    if demo is not None:
        body = json.dumps({"order_id": "o-1002", "lines": [{"line_id": "L1", "sku": SKU, "qty": 2}]}, separators=(",", ":"))
        lines += [
            "Sample accounts (from the walk-through):",
            f"  seller {SELLER}  api key         {demo.seller_api_key}",
            f"  seller {SELLER}  webhook secret  {demo.webhook_secret}",
            f"  vendor {VENDOR}  api key         {demo.vendor_api_key}",
            "Try:",
            f"  curl -s {url}/v1/sellers/{SELLER}/orders/{ORDER} -H {shlex.quote('X-Api-Key: ' + demo.seller_api_key)}",
            f"  curl -s {url}/v1/vendors/{VENDOR}/orders -H {shlex.quote('X-Api-Key: ' + demo.vendor_api_key)}",
            f"  body={shlex.quote(body)}",
            f"  curl -s {url}/v1/sellers/{SELLER}/orders -H 'Content-Type: application/json' "
            f"-H \"X-Signature: sha256=$(printf %s \"$body\" | openssl dgst -sha256 -hmac {shlex.quote(demo.webhook_secret)} -r | cut -d' ' -f1)\" "
            "-d \"$body\"",
            f"  curl -s {url}/v1/sellers/{SELLER}/skus/{SKU}/stock -H {shlex.quote('X-Api-Key: ' + demo.seller_api_key)}",
        ]
    else:
        seller = json.dumps({"name": "Seller 1", "allow_backorders": True, "auto_po_vendor_level": True,
                             "auto_grn_through_backorder": True}, separators=(",", ":"))
        lines += [
            "Try:",
            f"  curl -s {url}/v1/health",
            f"  curl -s -X PUT {url}/v1/sellers/s1 -H {shlex.quote(admin)} -H 'Content-Type: application/json' -d {shlex.quote(seller)}",
        ]
    lines.append(f"Serving on {url} - press Ctrl-C to stop.")
    return lines
