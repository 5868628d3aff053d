"""Marketplaces post their own webhooks: Shopify and WooCommerce channels, end to end.

Payloads are shaped like the marketplaces' own (trimmed to the fields that matter) and
signed the way each marketplace signs: base64 HMAC-SHA256 of the raw body.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import quote

import pytest

SHOPIFY_SECRET = "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"
WOO_SECRET = "wc-webhook-secret-Qm9x"
BIG_ID = 2**63 - 1  # Shopify ids exceed 2^53: they must stay exact
SHOPIFY = "/v1/sellers/s1/channels/shop/webhooks"
WOO = "/v1/sellers/s1/channels/woo/webhooks"


def shopify_order(order_id: int = BIG_ID, **extra) -> dict:
    return {
        "id": order_id,
        "name": "#1001",
        "cancelled_at": None,
        "line_items": [
            {"id": 866550311766439020, "variant_id": 808950810, "sku": "MUG-1", "quantity": 5, "title": "Mug"},
            {"id": 141249953214522974, "variant_id": 49148385, "sku": "", "quantity": 1, "title": "Poster"},
            {"id": 141249953214522975, "variant_id": None, "sku": None, "quantity": 1, "title": "Gift wrap"},
        ],
        **extra,
    }


def woo_order(order_id: int = 727, status: str = "processing") -> dict:
    return {
        "id": order_id,
        "status": status,
        "line_items": [
            {"id": 315, "product_id": 93, "variation_id": 0, "quantity": 2, "sku": "MUG-1"},
            {"id": 316, "product_id": 22, "variation_id": 23, "quantity": 1, "sku": ""},
        ],
    }


def signed(secret: str, raw: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def post_shopify(chain, topic: str, payload: dict | bytes, secret: str = SHOPIFY_SECRET, path: str = SHOPIFY, **headers):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signed(secret, raw), "X-Shopify-Webhook-Id": "b54557e4", **headers}
    return chain.call("POST", path, headers=sent, raw=raw)


def post_woo(chain, topic: str, payload: dict | bytes, secret: str = WOO_SECRET):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return chain.call("POST", WOO, headers={"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": signed(secret, raw)}, raw=raw)


@pytest.fixture
def shop(chain):
    chain.seller("s1")
    chain.vendor("v1")
    for sku in ("MUG-1", "variant-49148385", "product-23"):
        chain.map_sku("s1", sku, "v1")
    chain.stock("s1", "MUG-1", 3)
    assert chain.admin("PUT", "/v1/sellers/s1/channels/shop", {"kind": "shopify", "secret": SHOPIFY_SECRET}).status == 201
    assert chain.admin("PUT", "/v1/sellers/s1/channels/woo", {"kind": "woocommerce", "secret": WOO_SECRET}).status == 201
    return chain


def deliveries(chain, channel: str = "shop", **query) -> list[dict]:
    path = f"/v1/sellers/s1/channels/{channel}/deliveries" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    answer = chain.as_seller("s1", "GET", path)
    assert answer.status == 200, answer
    return answer.body["items"]


def test_a_channel_is_set_up_by_ops_and_never_shows_its_secret(chain):
    chain.seller("s1")
    answer = chain.admin("PUT", "/v1/sellers/s1/channels/shop", {"kind": "shopify", "secret": SHOPIFY_SECRET})
    assert answer.status == 201
    assert answer.body == {"channel_id": "shop", "kind": "shopify", "webhook_path": SHOPIFY}
    again = chain.admin("PUT", "/v1/sellers/s1/channels/shop", {"kind": "shopify", "secret": "rotated"})
    assert again.status == 200 and "secret" not in json.dumps(again.body)
    assert chain.as_seller("s1", "PUT", "/v1/sellers/s1/channels/x", {"kind": "shopify", "secret": "s"}).status == 401
    assert chain.admin("PUT", "/v1/sellers/nobody/channels/x", {"kind": "shopify", "secret": "s"}).status == 404
    assert chain.admin("PUT", "/v1/sellers/s1/channels/x", {"kind": "amazon", "secret": "s"}).status == 400
    assert chain.admin("PUT", "/v1/sellers/s1/channels/x", {"kind": "shopify", "secret": ""}).status == 400
    long_id = "c" * 44  # its order ids would not fit in 64 characters
    assert chain.admin("PUT", f"/v1/sellers/s1/channels/{long_id}", {"kind": "shopify", "secret": "s"}).error["code"] == "invalid_request"


def test_a_shopify_order_is_stored_as_sent_and_goes_down_the_chain(shop):
    answer = post_shopify(shop, "orders/create", shopify_order())
    assert answer.status == 200
    assert answer.body == {"outcome": "created", "order_id": f"shop-{BIG_ID}", "reason": answer.body["reason"]}
    assert "141249953214522975" in answer.body["reason"], "the gift wrap (no SKU, no variant) is named as left out"
    shop.drain()
    order = shop.get_order("s1", f"shop-{BIG_ID}")
    assert [(line["line_id"], line["sku"], line["qty"]) for line in order["lines"]] == [
        ("866550311766439020", "MUG-1", 5),
        ("141249953214522974", "variant-49148385", 1),
    ]
    assert order["status"] == "backordered"
    (po,) = shop.purchase_orders("s1")
    assert sorted((line["sku"], line["qty"]) for line in po["lines"]) == [("MUG-1", 2), ("variant-49148385", 1)]
    assert deliveries(shop)[0] | {"received_at": None} == {
        "received_at": None,
        "topic": "orders/create",
        "marketplace_order_id": str(BIG_ID),
        "order_id": f"shop-{BIG_ID}",
        "outcome": "created",
        "reason": answer.body["reason"],
    }


def test_a_redelivered_or_replayed_shopify_delivery_stores_nothing_new(shop):
    post_shopify(shop, "orders/create", shopify_order())
    shop.drain()
    before = shop.get_order("s1", f"shop-{BIG_ID}")
    # Shopify's retry carries another webhook id header; the body decides what it is
    again = post_shopify(shop, "orders/create", shopify_order(), **{"X-Shopify-Webhook-Id": "another"})
    assert again.body["outcome"] == "duplicate"
    shop.drain()
    assert shop.get_order("s1", f"shop-{BIG_ID}") == before
    assert len(shop.purchase_orders("s1")) == 1
    assert [d["outcome"] for d in deliveries(shop)] == ["duplicate", "created"]


def test_a_captured_create_replayed_under_a_cancel_topic_cancels_nothing(shop):
    post_shopify(shop, "orders/create", shopify_order())
    shop.drain()
    replay = post_shopify(shop, "orders/cancelled", shopify_order())  # same signed body, topic header changed
    assert replay.status == 200 and replay.body["outcome"] == "ignored"
    assert shop.get_order("s1", f"shop-{BIG_ID}")["status"] == "backordered"


def test_a_shopify_cancellation_cancels_once_and_frees_the_stock(shop):
    post_shopify(shop, "orders/create", shopify_order())
    shop.drain()
    cancelled = shopify_order(cancelled_at="2026-11-30T09:00:00-05:00")
    first = post_shopify(shop, "orders/cancelled", cancelled)
    assert first.body == {"outcome": "cancelled", "order_id": f"shop-{BIG_ID}", "reason": None}
    shop.drain()
    assert shop.get_order("s1", f"shop-{BIG_ID}")["status"] == "cancelled"
    assert post_shopify(shop, "orders/cancelled", cancelled).body["outcome"] == "duplicate"
    assert post_shopify(shop, "orders/updated", cancelled).body["outcome"] == "duplicate"
    stock = shop.as_seller("s1", "GET", "/v1/sellers/s1/skus/MUG-1/stock").body
    assert (stock["available"], stock["pending_backorders"], stock["open_po_qty"]) == (3, 0, 0)


def test_an_update_cancels_only_when_it_says_cancelled_and_other_topics_are_ignored(shop):
    post_shopify(shop, "orders/create", shopify_order())
    assert post_shopify(shop, "orders/updated", shopify_order()).body["outcome"] == "ignored"
    assert post_shopify(shop, "orders/paid", shopify_order()).body["outcome"] == "ignored"
    assert post_shopify(shop, "products/update", {"id": 1, "title": "Mug"}).body["outcome"] == "ignored"
    updated = post_shopify(shop, "orders/updated", shopify_order(cancelled_at="2026-11-30T09:00:00Z"))
    assert updated.body["outcome"] == "cancelled"


def test_a_cancellation_that_arrives_first_keeps_the_late_order_from_being_stored(shop):
    cancelled = post_shopify(shop, "orders/cancelled", shopify_order(cancelled_at="2026-11-30T09:00:00Z"))
    assert cancelled.body["outcome"] == "ignored"
    late = post_shopify(shop, "orders/create", shopify_order())
    assert late.status == 200 and late.body["outcome"] == "refused"
    assert shop.as_seller("s1", "GET", f"/v1/sellers/s1/orders/shop-{BIG_ID}").status == 404


def test_wrong_or_missing_signatures_are_401_and_store_nothing(shop):
    body = json.dumps(shopify_order()).encode()
    for headers in (
        {"X-Shopify-Topic": "orders/create"},
        {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": signed("guess", body)},
        {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": signed(WOO_SECRET, body)},  # another channel's
        {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": signed(SHOPIFY_SECRET, body + b" ")},
        {"X-Shopify-Topic": "orders/create", "Authorization": "Bearer " + __import__("tests.chain").chain.ADMIN_TOKEN},
        {"X-Shopify-Topic": "orders/create", "X-Api-Key": shop.sellers["s1"]["api_key"]},
    ):
        assert shop.call("POST", SHOPIFY, headers=headers, raw=body).status == 401
    assert shop.call("POST", "/v1/sellers/s1/channels/nope/webhooks", headers={"X-Shopify-Hmac-Sha256": signed(SHOPIFY_SECRET, body)}, raw=body).status == 401
    assert post_shopify(shop, "orders/create", shopify_order(), path="/v1/sellers/s2/channels/shop/webhooks").status == 401
    assert deliveries(shop) == []
    assert shop.as_seller("s1", "GET", f"/v1/sellers/s1/orders/shop-{BIG_ID}").status == 404


def test_a_signed_body_that_is_not_the_marketplaces_shape_is_400_and_writes_nothing(shop):
    assert post_shopify(shop, "orders/create", b"not json").status == 400
    assert post_shopify(shop, "orders/create", {"id": "x", "line_items": []}).error["code"] == "not_marketplace_shape"
    assert post_shopify(shop, "orders/create", {"id": 5, "line_items": [{"id": 1, "sku": "MUG-1", "quantity": "2"}]}).status == 400
    assert deliveries(shop) == []


def test_a_business_rule_refusal_is_still_200_with_its_reason(shop):
    shop.seller("s1", allow_backorders=False)
    refused = post_shopify(shop, "orders/create", shopify_order())
    assert refused.status == 200 and refused.body["outcome"] == "refused" and refused.body["reason"]
    too_many = shopify_order(order_id=2, line_items=[{"id": i, "variant_id": 1, "sku": "MUG-1", "quantity": 1} for i in range(501)])
    assert post_shopify(shop, "orders/create", too_many).body["outcome"] == "refused"
    huge = shopify_order(order_id=3, line_items=[{"id": 1, "variant_id": 1, "sku": "MUG-1", "quantity": 10**12}])
    assert post_shopify(shop, "orders/create", huge).body["outcome"] == "refused"
    assert [d["outcome"] for d in deliveries(shop)] == ["refused"] * 3


def test_woocommerce_ping_order_and_cancellation(shop):
    ping = shop.call("POST", WOO, headers={"Content-Type": "application/x-www-form-urlencoded"}, raw=b"webhook_id=17")
    assert ping.status == 200 and ping.body["outcome"] == "ignored"
    assert shop.call("POST", WOO, raw=b"webhook_id=17&x=1").status == 401, "anything else unsigned is refused"
    created = post_woo(shop, "order.created", woo_order())
    assert created.body == {"outcome": "created", "order_id": "woo-727", "reason": None}
    shop.drain()
    order = shop.get_order("s1", "woo-727")
    assert [(line["line_id"], line["sku"], line["qty"]) for line in order["lines"]] == [("315", "MUG-1", 2), ("316", "product-23", 1)]
    assert post_woo(shop, "order.created", woo_order()).body["outcome"] == "duplicate"
    assert post_woo(shop, "order.updated", woo_order(status="completed")).body["outcome"] == "ignored"
    assert post_woo(shop, "order.updated", woo_order(status="cancelled")).body["outcome"] == "cancelled"
    assert post_woo(shop, "order.updated", woo_order(status="cancelled")).body["outcome"] == "duplicate"
    assert post_woo(shop, "order.deleted", {"id": 727}).body["outcome"] == "ignored"
    assert [d["outcome"] for d in deliveries(shop, "woo")] == ["ignored", "duplicate", "cancelled", "ignored", "duplicate", "created"]


def test_deliveries_are_listed_newest_first_a_page_at_a_time_to_their_seller_only(shop):
    shop.seller("s2")
    for n in range(5):
        post_shopify(shop, "orders/create", shopify_order(order_id=100 + n))
    first = shop.as_seller("s1", "GET", "/v1/sellers/s1/channels/shop/deliveries?limit=2").body
    assert [d["marketplace_order_id"] for d in first["items"]] == ["104", "103"]
    second = shop.as_seller("s1", "GET", f"/v1/sellers/s1/channels/shop/deliveries?limit=2&cursor={first['next_cursor']}").body
    third = shop.as_seller("s1", "GET", f"/v1/sellers/s1/channels/shop/deliveries?limit=2&cursor={second['next_cursor']}").body
    assert [d["marketplace_order_id"] for d in second["items"] + third["items"]] == ["102", "101", "100"]
    assert third["next_cursor"] is None
    assert shop.as_seller("s2", "GET", "/v1/sellers/s1/channels/shop/deliveries").status == 403
    assert shop.as_seller("s1", "GET", "/v1/sellers/s1/channels/shop/deliveries?limit=0").status == 400
    assert shop.as_seller("s1", "GET", "/v1/sellers/s1/channels/shop/deliveries?cursor=bm9wZQ").error["code"] == "invalid_cursor"
    assert shop.as_seller("s1", "GET", "/v1/sellers/s1/channels/nope/deliveries").status == 404


def test_the_marketplace_body_is_taken_unchanged_whatever_its_content_type(shop):
    payload = copy.deepcopy(shopify_order(order_id=9))
    raw = json.dumps(payload, separators=(",", ":")).encode()  # Shopify's compact bytes: the signature is of these
    answer = shop.call(
        "POST",
        SHOPIFY,
        headers={"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": signed(SHOPIFY_SECRET, raw), "Content-Type": "application/json; charset=utf-8"},
        raw=raw,
    )
    assert answer.body["outcome"] == "created"


def test_a_cancellation_that_lands_while_its_order_is_being_stored_still_cancels_it(shop, monkeypatch):
    from backorders.services import channels

    receive = channels.ordering.receive_order

    def cancel_lands_meanwhile(store, seller, order):
        # the cancellation's delivery runs between the create's check and its write
        assert post_shopify(shop, "orders/cancelled", shopify_order(cancelled_at="2026-11-30T09:00:00Z")).body["outcome"] == "ignored"
        return receive(store, seller, order)

    monkeypatch.setattr(channels.ordering, "receive_order", cancel_lands_meanwhile)
    late = post_shopify(shop, "orders/create", shopify_order())
    assert late.body["outcome"] == "cancelled"
    shop.drain()
    assert shop.get_order("s1", f"shop-{BIG_ID}")["status"] == "cancelled"
    stock = shop.as_seller("s1", "GET", "/v1/sellers/s1/skus/MUG-1/stock").body
    assert (stock["available"], stock["pending_backorders"], stock["open_po_qty"]) == (3, 0, 0)


# --- the whole chain from what each marketplace really sends ---------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "marketplaces"


def fixture_bytes(name: str) -> bytes:
    """A payload as the marketplace's documentation shows it, byte for byte: signed and sent unchanged."""
    return (FIXTURES / name).read_bytes()


def hand_over_everything(chain, vendor_id: str = "v1") -> None:
    for vo in chain.vendor_orders(vendor_id):
        open_ = [(line["sku"], line["qty"] - line["cancelled_qty"] - line["handed_over_qty"]) for line in vo["lines"]]
        lines = [(sku, qty) for sku, qty in open_ if qty > 0]
        if lines:
            assert chain.hand_over(vendor_id, vo["vendor_order_id"], f"h-{vo['vendor_order_id']}", *lines).status == 202
    chain.drain()


def test_a_shopify_order_as_shopify_sends_it_goes_through_the_whole_chain_to_ready(chain):
    chain.seller("s1")
    chain.vendor("v1")
    for sku in ("IPOD 2008 / PINK #8GB", "variant-49148385"):
        assert chain.admin("PUT", f"/v1/sellers/s1/skus/{quote(sku, safe='')}", {"vendor_id": "v1"}).status == 200
    assert chain.admin("PUT", "/v1/sellers/s1/channels/shop", {"kind": "shopify", "secret": SHOPIFY_SECRET}).status == 201
    raw = fixture_bytes("shopify_orders_create.json")
    answer = post_shopify(chain, "orders/create", raw)
    assert answer.body["outcome"] == "created" and answer.body["order_id"] == "shop-820982911946154508"
    chain.drain()
    order = chain.get_order("s1", "shop-820982911946154508")
    assert order["status"] == "backordered"
    assert sorted((line["sku"], line["qty"]) for line in order["lines"]) == [("IPOD 2008 / PINK #8GB", 4), ("variant-49148385", 1)]
    hand_over_everything(chain)
    assert chain.get_order("s1", "shop-820982911946154508")["status"] == "ready"
    refund = post_shopify(chain, "refunds/create", fixture_bytes("shopify_refunds_create.json"))
    assert refund.status == 200 and refund.body["outcome"] == "ignored"


def test_a_woocommerce_order_as_woocommerce_sends_it_goes_through_the_whole_chain_to_ready(chain):
    chain.seller("s1")
    chain.vendor("v1")
    for sku in ("Café Tasse ☕ 350ml", "product-23"):
        assert chain.admin("PUT", f"/v1/sellers/s1/skus/{quote(sku, safe='')}", {"vendor_id": "v1"}).status == 200
    assert chain.admin("PUT", "/v1/sellers/s1/channels/woo", {"kind": "woocommerce", "secret": WOO_SECRET}).status == 201
    answer = post_woo(chain, "order.created", fixture_bytes("woocommerce_order_created.json"))
    assert answer.body == {"outcome": "created", "order_id": "woo-727", "reason": None}
    chain.drain()
    assert chain.get_order("s1", "woo-727")["status"] == "backordered"
    hand_over_everything(chain)
    assert chain.get_order("s1", "woo-727")["status"] == "ready"
