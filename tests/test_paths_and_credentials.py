"""Every route under every path variant, with no credential and with another account's:
refused before anything is written. The route table is the only matcher, so the gate and
the router cannot disagree on what a path means."""

from __future__ import annotations

import json

import boto3
import pytest

from backorders import topology
from backorders.domain import routing
from tests.chain import ADMIN

CHANNEL_SECRET = "shpss_channel_secret"


def shopify_signature(raw: bytes) -> str:
    import base64
    import hashlib
    import hmac

    return base64.b64encode(hmac.new(CHANNEL_SECRET.encode(), raw, hashlib.sha256).digest()).decode()


API_ROUTES = [route for route, _ in topology.all_routes() if not route.path.startswith(topology.PANEL)]
SAMPLE = {
    "seller_id": "s1",
    "vendor_id": "v1",
    "order_id": "o1",
    "po_id": "po1",
    "vendor_order_id": "vo1",
    "channel_id": "c1",
    "endpoint_id": "e1",
    "sku": "A",
    "asset": "index.html",
}


def concrete(template: str, **overrides: str) -> str:
    path = template
    for name, value in {**SAMPLE, **overrides}.items():
        path = path.replace("{" + name + "}", value)
    return path


def variants(path: str) -> dict[str, str]:
    """Paths that name the same route to a lenient reader, and must be 404 here."""
    head, _, last = path.rpartition("/")
    first_id = next((f"/{v}" for v in SAMPLE.values() if f"/{v}/" in path + "/"), None)
    found = {
        "trailing slash": path + "/",
        "two trailing slashes": path + "//",
        "empty segment": path.replace("/v1/", "/v1//", 1),
        "dot segment": path.replace("/v1/", "/v1/./", 1),
        "dot-dot segment": f"{head}/../{head.rsplit('/', 1)[-1]}/{last}",
        "upper case": path.upper(),
        "newline at the end": path + "%0A",
        "encoded dot-dot": f"{head}/%2e%2e/{last}",
    }
    if first_id:
        found["encoded slash in an id"] = path.replace(first_id, first_id + "%2Fx", 1)
        found["newline after an id"] = path.replace(first_id, first_id + "%0A", 1)
        found["encoded slash instead of /"] = path.replace(first_id + "/", first_id + "%2F", 1)
    return {what: p for what, p in found.items() if p != path}


def snapshot() -> dict[str, list]:
    client = boto3.client("dynamodb")
    return {t.name: sorted(json.dumps(i, sort_keys=True) for i in client.scan(TableName=t.name)["Items"]) for t in topology.TABLES}


@pytest.fixture
def shop(chain):
    chain.seller("s1")
    chain.seller("s2")
    chain.vendor("v1")
    chain.vendor("v2")
    chain.map_sku("s1", "A", "v1")
    chain.stock("s1", "A", 1)
    chain.order("s1", "o1", ("A", 3))
    assert chain.admin("PUT", "/v1/sellers/s1/channels/c1", {"kind": "shopify", "secret": CHANNEL_SECRET}).status == 201
    chain.drain()
    return chain


def test_every_path_variant_of_every_route_is_a_404_before_any_check(shop):
    before = snapshot()
    other = {"X-Api-Key": shop.sellers["s2"]["api_key"]}
    for route in API_ROUTES:
        for what, path in variants(concrete(route.path)).items():
            for headers in ({}, other, ADMIN):
                answer = shop.call(route.method, path, {"order_id": "o1"} if route.method != "GET" else None, headers)
                assert answer.status in (404, 405), (route.method, path, what, headers, answer)
                assert answer.error["code"] in ("not_found", "method_not_allowed")
    assert snapshot() == before


def test_the_route_table_matches_exactly_and_decodes_each_segment_once():
    found = routing.match("GET", "/v1/sellers/s1/orders/o-1")
    assert isinstance(found, routing.Match) and found.params == {"seller_id": "s1", "order_id": "o-1"}
    for path in ("/v1/sellers/s1/orders/o-1/", "/v1/sellers/s1%0A/orders/o1", "/v1/sellers/s1/orders/o%2F1",
                 "/v1/sellers/s%31/orders/%2e%2e", "/v1/sellers/" + "x" * 65 + "/orders/o1", "/v1/sellers/s1/orders/o%ff",
                 "v1/health", "", "/v1/health/", "/v1/Health"):
        assert isinstance(routing.match("GET", path), routing.NoMatch), path
    # an id percent-encoded for no reason is still that id
    assert routing.match("GET", "/v1/sellers/s%31/orders/o1").params["seller_id"] == "s1"
    # a SKU is free text: an encoded `/`, `#` or space is part of it, a control character is not
    found = routing.match("GET", "/v1/sellers/s1/skus/Mug%20350ml%20%2F%20Blue%20%232/stock")
    assert isinstance(found, routing.Match) and found.params["sku"] == "Mug 350ml / Blue #2"
    for sku in ("A%0A", "A%09B", "%20A", "A%20", "", "x" * 256, "A%ff", "100%", ".", ".."):
        assert isinstance(routing.match("GET", f"/v1/sellers/s1/skus/{sku}/stock"), routing.NoMatch), sku


def test_no_two_routes_can_claim_one_request():
    for route in API_ROUTES:
        found = routing.match(route.method, concrete(route.path))
        assert isinstance(found, routing.Match) and found.route == route


def test_a_known_path_under_another_method_is_a_405_naming_the_allowed_ones(shop):
    event_answer = shop.call("DELETE", "/v1/sellers/s1", None, ADMIN)
    assert event_answer.status == 405
    assert event_answer.error["code"] == "method_not_allowed"
    from backorders_local import functions, shapes

    event, _ = shapes.api_event("PATCH", "/v1/sellers/s1/orders/o1", {}, b"")
    out = shop.handlers["api"](event, functions.context_for(topology.function("api")))
    assert out["statusCode"] == 405
    assert out["headers"]["Allow"] == "GET, HEAD"


def test_head_on_a_get_route_answers_like_get_without_a_body(shop):
    from backorders_local import functions, shapes

    headers = {"X-Api-Key": shop.sellers["s1"]["api_key"]}
    event, _ = shapes.api_event("HEAD", "/v1/sellers/s1/orders/o1", headers, b"")
    out = shop.handlers["api"](event, functions.context_for(topology.function("api")))
    assert out["statusCode"] == 200 and out["body"] == ""
    event, _ = shapes.api_event("HEAD", "/v1/sellers/s1/orders/o1", {}, b"")
    assert shop.handlers["api"](event, functions.context_for(topology.function("api")))["statusCode"] == 401


class TestCancel:
    def test_a_captured_signed_cancel_cannot_cancel_another_order(self, shop):
        shop.order("s1", "o2", ("A", 1))
        shop.drain()
        captured = shop.signed("s1", "/v1/sellers/s1/orders/o1/cancel", {"order_id": "o1"})
        assert captured.status == 200
        # the same bytes and signature, replayed against o2
        raw = json.dumps({"order_id": "o1"}).encode()
        from backorders.domain import security

        signature = security.sign(raw, shop.sellers["s1"]["webhook_secret"])
        replay = shop.call("POST", "/v1/sellers/s1/orders/o2/cancel", headers={"X-Signature": signature}, raw=raw)
        assert replay.status == 400 and replay.error["code"] == "order_id_mismatch"
        assert shop.get_order("s1", "o2")["status"] != "cancelled"

    def test_a_cancel_without_a_body_names_no_order_and_changes_nothing(self, shop):
        from backorders.domain import security

        signature = security.sign(b"", shop.sellers["s1"]["webhook_secret"])
        answer = shop.call("POST", "/v1/sellers/s1/orders/o1/cancel", headers={"X-Signature": signature}, raw=b"")
        assert answer.status == 400 and answer.error["code"] == "order_id_mismatch"
        assert shop.get_order("s1", "o1")["status"] == "backordered"

    def test_the_sellers_own_key_may_cancel_but_not_another_sellers(self, shop):
        other = shop.call("POST", "/v1/sellers/s1/orders/o1/cancel", {"order_id": "o1"},
                          {"X-Api-Key": shop.sellers["s2"]["api_key"]})
        assert other.status == 403
        mine = shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o1/cancel", {"order_id": "o1"})
        assert mine.status == 200 and mine.body["status"] == "cancelled"


class TestRotation:
    def test_a_rotated_api_key_is_refused_at_once_and_the_new_one_works(self, shop):
        old = shop.sellers["s1"]["api_key"]
        answer = shop.admin("POST", "/v1/sellers/s1/credentials/rotate", {"rotate": ["api_key"]})
        assert answer.status == 200 and set(answer.body) == {"seller_id", "api_key"}
        path = "/v1/sellers/s1/orders/o1"
        assert shop.call("GET", path, headers={"X-Api-Key": old}).status == 401
        assert shop.call("GET", path, headers={"X-Api-Key": answer.body["api_key"]}).status == 200
        # the webhook secret was not touched
        assert shop.signed("s1", "/v1/sellers/s1/orders/o1/cancel", {"order_id": "o1"}).status == 200

    def test_the_old_webhook_secret_verifies_during_the_grace_period_only(self, shop):
        old = shop.sellers["s1"]["webhook_secret"]
        body = {"order_id": "o7", "lines": [{"line_id": "l1", "sku": "A", "qty": 1}]}
        graced = shop.admin("POST", "/v1/sellers/s1/credentials/rotate", {"rotate": ["webhook_secret"], "grace_minutes": 60})
        assert graced.status == 200 and graced.body["webhook_secret"] != old
        assert shop.signed("s1", "/v1/sellers/s1/orders", body, secret=old).status == 201
        assert shop.signed("s1", "/v1/sellers/s1/orders", body, secret=graced.body["webhook_secret"]).status == 200
        at_once = shop.admin("POST", "/v1/sellers/s1/credentials/rotate", {"rotate": ["webhook_secret"], "grace_minutes": 0})
        for secret in (old, graced.body["webhook_secret"]):
            assert shop.signed("s1", "/v1/sellers/s1/orders", body, secret=secret).status == 401
        assert shop.signed("s1", "/v1/sellers/s1/orders", body, secret=at_once.body["webhook_secret"]).status == 200

    def test_a_vendor_key_rotates_and_only_the_admin_may_rotate(self, shop):
        old = shop.vendors["v1"]["api_key"]
        assert shop.call("POST", "/v1/vendors/v1/credentials/rotate", headers={"X-Api-Key": old}).status == 401
        answer = shop.admin("POST", "/v1/vendors/v1/credentials/rotate")
        assert answer.status == 200
        assert shop.call("GET", "/v1/vendors/v1/orders", headers={"X-Api-Key": old}).status == 401
        assert shop.call("GET", "/v1/vendors/v1/orders", headers={"X-Api-Key": answer.body["api_key"]}).status == 200

    def test_a_bad_rotation_request_names_the_problem(self, shop):
        for body in ({"rotate": []}, {"rotate": ["password"]}, {"rotate": ["api_key", "api_key"]},
                     {"rotate": ["api_key"], "grace_minutes": -1}):
            answer = shop.admin("POST", "/v1/sellers/s1/credentials/rotate", body)
            assert answer.status == 400, body
        assert shop.admin("POST", "/v1/sellers/nobody/credentials/rotate", {"rotate": ["api_key"]}).status == 404


def test_admin_reads_never_show_a_secret(shop):
    seller = shop.admin("GET", "/v1/sellers/s1")
    vendor = shop.admin("GET", "/v1/vendors/v1")
    mapping = shop.admin("GET", "/v1/sellers/s1/skus/A")
    assert seller.status == vendor.status == mapping.status == 200
    assert seller.body["seller_id"] == "s1" and seller.body["allow_backorders"] is True
    assert vendor.body["vendor_id"] == "v1"
    assert mapping.body == {"seller_id": "s1", "sku": "A", "vendor_id": "v1", "min_order_qty": 1, "pack_size": 1, "stock_shards": 1}
    text = json.dumps([seller.body, vendor.body])
    for secret in (shop.sellers["s1"]["webhook_secret"], shop.sellers["s1"]["api_key"], shop.vendors["v1"]["api_key"]):
        assert secret not in text
    assert "api_key_sha256" not in text and "webhook_secret" not in text
    assert shop.admin("GET", "/v1/sellers/s1/skus/NEVER").status == 404
    assert shop.as_seller("s1", "GET", "/v1/sellers/s1").status == 401


class TestHostileBodies:
    @pytest.mark.parametrize(
        "raw",
        [
            b'{"order_id": "o9", "lines": [{"line_id": "l1", "sku": "A", "qty": ' + b"9" * 5000 + b"}]}",
            b'{"order_id": "o9", "lines": [{"line_id": "l1", "sku": "A", "qty": 10000000000000000000000000000000000000000}]}',
            b'{"order_id": "o9", "lines": [{"line_id": "l1", "sku": "A", "qty": 1000000001}]}',
            b'{"order_id": "o9", "lines": [{"line_id": "l1", "sku": "A", "qty": 1e400}]}',
            b'{"order_id": "o9", "lines": [{"line_id": "l1", "sku": "A", "qty": NaN}]}',
            b'{"order_id": "o9", "lines": [{"line_id": "l1", "sku": "A", "qty": 2.0}]}',
            b'{"order_id": "o9", "lines": [{"line_id": "l1", "sku": "A", "qty": true}]}',
            b'{"order_id": "o9", "x": ' + b"[" * 40000 + b"]" * 40000 + b"}",
            b'{"order_id": "o9", "x": ' + b"[" * 40 + b"]" * 40 + b"}",
            b'{"order_id": "o9\\n", "lines": [{"line_id": "l1", "sku": "A", "qty": 1}]}',
        ],
    )
    def test_hostile_numbers_and_depth_are_a_400_and_write_nothing(self, shop, raw):
        before = snapshot()
        from backorders.domain import security

        signature = security.sign(raw, shop.sellers["s1"]["webhook_secret"])
        answer = shop.call("POST", "/v1/sellers/s1/orders", headers={"X-Signature": signature}, raw=raw)
        assert answer.status == 400, answer
        assert snapshot() == before

    def test_a_quantity_of_a_billion_is_accepted(self, shop):
        body = {"adjustment_id": "big", "sku": "A", "qty": 1_000_000_000}
        assert shop.admin("POST", "/v1/sellers/s1/inventory/adjustments", body).status == 201

    def test_an_adjustment_beyond_a_billion_is_a_400(self, shop):
        for qty in (1_000_000_001, -1_000_000_001, 0):
            answer = shop.admin("POST", "/v1/sellers/s1/inventory/adjustments", {"adjustment_id": "x", "sku": "A", "qty": qty})
            assert answer.status == 400, qty


BODY_ROUTES = [route for route in API_ROUTES if route.method in ("POST", "PUT")]
HOSTILE = {
    "5000 digits": b'{"qty": ' + b"9" * 5000 + b"}",
    "10^40": b'{"qty": 10000000000000000000000000000000000000000, "order_id": "o1"}',
    "40k deep": b"[" * 40000 + b"]" * 40000,
    "33 deep": b"[" * 33 + b"]" * 33,
    "NaN": b'{"qty": NaN}',
}


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_hostile_bodies_on_every_body_route_are_refused_and_write_nothing(shop, route):
    before = snapshot()
    for what, raw in HOSTILE.items():
        # a marketplace channel takes only its marketplace's signature: these are signed
        headers = {"X-Shopify-Hmac-Sha256": shopify_signature(raw)} if route.auth == "channel" else ADMIN
        answer = shop.call(route.method, concrete(route.path), headers=headers, raw=raw)
        assert answer.status == 400, (what, answer)
    big = shop.call(route.method, concrete(route.path), headers=ADMIN, raw=b'{"x": "' + b"a" * 300_000 + b'"}')
    assert big.status == 413 and big.error["code"] == "body_too_large"
    assert snapshot() == before
