"""Drive a `backorders local` process over real HTTP: start it, wait for it, talk to it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import requests

from backorders.domain import security
from tests.chain import Answer  # the same answer shape as the in-process driver

ROOT = Path(__file__).resolve().parents[2]
SETTLE_S = 10.0  # deadline for the asynchronous chain to settle (it takes well under 1 s)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class LocalProcess:
    """`backorders local` as a subprocess; its stdout goes to a file we can read."""

    def __init__(self, *args: str):
        # kept open for the process's life, closed and removed in stop()
        self.log = tempfile.NamedTemporaryFile(prefix="backorders-local-", suffix=".log", delete=False)  # noqa: SIM115
        self.err = tempfile.NamedTemporaryFile(prefix="backorders-local-", suffix=".err", delete=False)  # noqa: SIM115
        # Where the embedded AWS's request recorder writes, when a test turns it on
        # (moto's default is a file in the working directory).
        self.recording = tempfile.NamedTemporaryFile(prefix="backorders-local-", suffix=".recording", delete=False)  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "BACKORDERS_"))}
        env["MOTO_RECORDER_FILEPATH"] = self.recording.name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backorders_local.cli", "local", *args],
            cwd=ROOT, stdout=self.log, stderr=self.err, stdin=subprocess.DEVNULL, env=env,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text()

    def errors(self) -> str:
        return Path(self.err.name).read_text()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.output())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} from backorders local:\n{self.output()}\n{self.errors()}")

    def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"backorders local did not stop within {timeout} s after SIGTERM") from None
        finally:
            for f in (self.log, self.err, self.recording):
                f.close()

    def cleanup(self) -> None:
        for f in (self.log, self.err, self.recording):
            Path(f.name).unlink(missing_ok=True)


@dataclass
class Api:
    """The API over HTTP, with the credentials it has handed out."""

    url: str
    admin_token: str
    aws_url: str
    sellers: dict[str, dict] = field(default_factory=dict)
    vendors: dict[str, dict] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None, headers: dict | None = None, raw: bytes | None = None) -> Answer:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        r = requests.request(method, self.url + path, data=data, headers=headers or {}, timeout=30)
        return Answer(r.status_code, r.json() if r.content else None)

    def admin(self, method: str, path: str, body: Any = None) -> Answer:
        return self.call(method, path, body, {"Authorization": f"Bearer {self.admin_token}"})

    def seller(self, seller_id: str, **flags) -> dict:
        body = {"name": seller_id, "allow_backorders": True, "auto_po_vendor_level": True,
                "auto_grn_through_backorder": True, **flags}
        answer = self.admin("PUT", f"/v1/sellers/{seller_id}", body)
        assert answer.status == 201, answer
        self.sellers[seller_id] = answer.body
        return answer.body

    def vendor(self, vendor_id: str, **flags) -> dict:
        body = {"name": vendor_id, "is_b2b_new": True, "vendor_panel_type": 2, "is_warehouse_location": False,
                "approval_required": False, **flags}
        answer = self.admin("PUT", f"/v1/vendors/{vendor_id}", body)
        assert answer.status == 201, answer
        self.vendors[vendor_id] = answer.body
        return answer.body

    def map_sku(self, seller_id: str, sku: str, vendor_id: str | None) -> None:
        assert self.admin("PUT", f"/v1/sellers/{seller_id}/skus/{quote(sku, safe='')}", {"vendor_id": vendor_id}).status == 200

    def stock(self, seller_id: str, sku: str, qty: int) -> None:
        body = {"adjustment_id": unique("adj"), "sku": sku, "qty": qty}
        assert self.admin("POST", f"/v1/sellers/{seller_id}/inventory/adjustments", body).status == 201

    def setup(self, stock: int, sku: str | None = None, seller_flags: dict | None = None, **vendor_flags) -> tuple[str, str, str]:
        """A fresh seller (with `seller_flags`), vendor and SKU (mapped, with `stock` in the Default Bin)."""
        seller_id, vendor_id, sku = unique("s"), unique("v"), sku or unique("SKU")
        self.seller(seller_id, **(seller_flags or {}))
        self.vendor(vendor_id, **vendor_flags)
        self.map_sku(seller_id, sku, vendor_id)
        if stock:
            self.stock(seller_id, sku, stock)
        return seller_id, vendor_id, sku

    def post_order(self, seller_id: str, order: dict) -> Answer:
        raw = json.dumps(order).encode()
        signature = security.sign(raw, self.sellers[seller_id]["webhook_secret"])
        return self.call("POST", f"/v1/sellers/{seller_id}/orders", headers={"X-Signature": signature}, raw=raw)

    def order(self, seller_id: str, order_id: str, *lines: tuple[str, int]) -> Answer:
        body = {"order_id": order_id,
                "lines": [{"line_id": f"L{i + 1}", "sku": sku, "qty": qty} for i, (sku, qty) in enumerate(lines)]}
        return self.post_order(seller_id, body)

    def get_order(self, seller_id: str, order_id: str) -> dict:
        answer = self.call("GET", f"/v1/sellers/{seller_id}/orders/{order_id}",
                           headers={"X-Api-Key": self.sellers[seller_id]["api_key"]})
        assert answer.status == 200, answer
        return answer.body

    def purchase_orders(self, seller_id: str) -> list[dict]:
        return self.admin("GET", f"/v1/sellers/{seller_id}/purchase-orders").body["items"]

    def purchase_order(self, seller_id: str, po_id: str) -> dict:
        answer = self.admin("GET", f"/v1/sellers/{seller_id}/purchase-orders/{po_id}")
        assert answer.status == 200, answer
        return answer.body

    def as_vendor(self, vendor_id: str, method: str, path: str, body: Any = None) -> Answer:
        return self.call(method, path, body, {"X-Api-Key": self.vendors[vendor_id]["api_key"]})

    def vendor_orders(self, vendor_id: str) -> list[dict]:
        return self.as_vendor(vendor_id, "GET", f"/v1/vendors/{vendor_id}/orders").body["items"]

    def vendor_order(self, vendor_id: str, vendor_order_id: str) -> dict:
        return self.as_vendor(vendor_id, "GET", f"/v1/vendors/{vendor_id}/orders/{vendor_order_id}").body

    def hand_over(self, vendor_id: str, vendor_order_id: str, handover_id: str, *lines: tuple[str, int]) -> Answer:
        body = {"handover_id": handover_id, "lines": [{"sku": s, "qty": q} for s, q in lines]}
        return self.as_vendor(vendor_id, "POST", f"/v1/vendors/{vendor_id}/orders/{vendor_order_id}/handovers", body)

    # --- the asynchronous part --------------------------------------------------------

    def until(self, what: str, check, timeout: float = SETTLE_S, poll_s: float = 0.02):
        """Poll `check` until it returns something truthy (no fixed sleeps)."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not settled within {timeout} s (last: {result!r})")
            time.sleep(poll_s)

    def settled_order(self, seller_id: str, order_id: str, assigned: int | None = None) -> dict:
        """The order once its stock assignment (and PO, when something is pending) is done,
        or once `assigned` units are assigned."""

        def check():
            order = self.get_order(seller_id, order_id)
            lines = order["lines"]
            if assigned is not None:
                return sum(line["assigned_qty"] for line in lines) >= assigned and order
            if order["status"] == "ready":
                return order
            done = all(line["pending_qty"] == 0 or line["purchase_order_id"] or line["no_po_reason"] for line in lines)
            return order["status"] == "backordered" and done and order

        return self.until(f"order {order_id}", check)

    # --- looking inside the embedded AWS ----------------------------------------------

    def bins(self, seller_id: str, sku: str) -> list[dict]:
        ddb = boto3.client("dynamodb", endpoint_url=self.aws_url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        items = ddb.query(
            TableName="inventory", KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            ExpressionAttributeValues={":pk": {"S": f"SELLER#{seller_id}#SKU#{sku}"}, ":sk": {"S": "BIN#"}},
        )["Items"]
        return [{k: int(v["N"]) if "N" in v else v.get("S") for k, v in item.items()} for item in items]
