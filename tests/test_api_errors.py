"""Every refusal of the API contract: the error shape, the codes, and nothing written."""

import json

import pytest

from backorders.domain import security
from tests.chain import ADMIN


@pytest.fixture
def two_sellers(chain):
    chain.seller("s1")
    chain.seller("s2")
    chain.vendor("v1")
    chain.vendor("v2")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    return chain


def assert_error(answer, status, code=None):
    assert answer.status == status, answer
    error = answer.body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"] and isinstance(error["details"], list)
    if code:
        assert error["code"] == code
    return error


def test_health_and_openapi_need_no_credential(chain):
    assert chain.call("GET", "/v1/health").body == {"status": "ok"}
    doc = chain.call("GET", "/v1/openapi.json")
    assert doc.status == 200 and doc.body["openapi"].startswith("3.")
    assert "/v1/sellers/{seller_id}/orders" in doc.body["paths"]


def test_a_json_body_sent_with_a_form_content_type_is_read_as_json(chain):
    body = {"name": "S", "allow_backorders": True, "auto_po_vendor_level": True, "auto_grn_through_backorder": True}
    answer = chain.call("PUT", "/v1/sellers/s1", body, {**ADMIN, "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 201, answer


def test_an_unknown_endpoint_is_a_404_in_the_error_shape(chain):
    assert_error(chain.call("GET", "/v1/nothing-here"), 404, "not_found")


class TestWebhookSignature:
    def test_missing_signature(self, two_sellers):
        raw = json.dumps({"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": 1}]}).encode()
        assert_error(two_sellers.call("POST", "/v1/sellers/s1/orders", raw=raw), 401, "unauthorized")

    def test_wrong_secret_another_sellers_secret_and_tampered_body(self, two_sellers):
        body = {"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": 1}]}
        assert_error(two_sellers.signed("s1", "/v1/sellers/s1/orders", body, secret="whsec_wrong"), 401)
        other = two_sellers.sellers["s2"]["webhook_secret"]
        assert_error(two_sellers.signed("s1", "/v1/sellers/s1/orders", body, secret=other), 401)
        raw = json.dumps(body).encode()
        header = security.sign(raw, two_sellers.sellers["s1"]["webhook_secret"])
        tampered = raw.replace(b'"qty": 1', b'"qty": 9')
        assert_error(two_sellers.call("POST", "/v1/sellers/s1/orders", headers={"X-Signature": header}, raw=tampered), 401)
        bare = header.removeprefix("sha256=")
        assert_error(two_sellers.call("POST", "/v1/sellers/s1/orders", headers={"X-Signature": bare}, raw=raw), 401)
        assert two_sellers.admin("GET", "/v1/sellers/s1/orders/o9").status == 404

    def test_an_unknown_seller_is_unauthorized(self, chain):
        body = {"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": 1}]}
        assert_error(chain.signed("nobody", "/v1/sellers/nobody/orders", body, secret="x"), 401)


class TestOrderValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"order_id": "o9", "lines": []}, "lines"),
            ({"order_id": "o9"}, "lines"),
            ({"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": 0}]}, "lines.0.qty"),
            ({"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": -1}]}, "lines.0.qty"),
            ({"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": 1.5}]}, "lines.0.qty"),
            ({"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": "2"}]}, "lines.0.qty"),
            ({"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": 10**12}]}, "lines.0.qty"),
            ({"order_id": "o9", "lines": [{"line_id": "1", "sku": "A"}]}, "lines.0.qty"),
            ({"order_id": "bad id!", "lines": [{"line_id": "1", "sku": "A", "qty": 1}]}, "order_id"),
            (
                {"order_id": "o9", "lines": [{"line_id": "1", "sku": "A", "qty": 1}, {"line_id": "1", "sku": "B", "qty": 1}]},
                "lines",
            ),
        ],
    )
    def test_an_invalid_order_is_a_400_naming_the_field_and_writes_nothing(self, two_sellers, body, field):
        error = assert_error(two_sellers.signed("s1", "/v1/sellers/s1/orders", body), 400, "invalid_request")
        assert field in [d["field"] for d in error["details"]]
        assert field in error["message"]
        assert two_sellers.admin("GET", "/v1/sellers/s1/orders/o9").status == 404

    def test_malformed_json_is_a_400(self, two_sellers):
        raw = b'{"order_id": "o9", "lines": ['
        header = security.sign(raw, two_sellers.sellers["s1"]["webhook_secret"])
        answer = two_sellers.call("POST", "/v1/sellers/s1/orders", headers={"X-Signature": header}, raw=raw)
        assert_error(answer, 400, "malformed_json")

    def test_a_body_that_is_not_utf8_is_a_400(self, two_sellers):
        answer = two_sellers.call("PUT", "/v1/sellers/s1", headers=ADMIN, raw=b"\xff\xfe")
        assert_error(answer, 400, "malformed_json")

    def test_a_body_that_is_not_an_object_is_a_400(self, two_sellers):
        raw = b"[1, 2]"
        header = security.sign(raw, two_sellers.sellers["s1"]["webhook_secret"])
        assert_error(two_sellers.call("POST", "/v1/sellers/s1/orders", headers={"X-Signature": header}, raw=raw), 400)

    def test_an_oversized_body_is_refused_before_anything_else(self, two_sellers):
        raw = b'{"order_id": "o9", "pad": "' + b"x" * 300_000 + b'"}'
        header = security.sign(raw, two_sellers.sellers["s1"]["webhook_secret"])
        answer = two_sellers.call("POST", "/v1/sellers/s1/orders", headers={"X-Signature": header}, raw=raw)
        assert_error(answer, 413, "body_too_large")


class TestCredentials:
    def test_admin_endpoints_need_the_admin_token(self, chain):
        body = {"name": "x", "allow_backorders": True, "auto_po_vendor_level": True, "auto_grn_through_backorder": True}
        assert_error(chain.call("PUT", "/v1/sellers/s9", body), 401)
        assert_error(chain.call("PUT", "/v1/sellers/s9", body, {"Authorization": "Bearer nope"}), 401)
        assert chain.admin("GET", "/v1/sellers/s9/orders/x").status == 404  # nothing was created

    def test_a_seller_key_reads_only_its_own_seller(self, two_sellers):
        assert two_sellers.as_seller("s1", "GET", "/v1/sellers/s1/orders/o1").status == 200
        assert_error(two_sellers.as_seller("s2", "GET", "/v1/sellers/s1/orders/o1"), 403, "forbidden")
        assert_error(two_sellers.as_seller("s2", "GET", "/v1/sellers/s1/purchase-orders"), 403)
        assert_error(two_sellers.call("GET", "/v1/sellers/s1/orders/o1"), 401)
        bad = {"X-Api-Key": two_sellers.sellers["s1"]["api_key"] + "x"}
        assert_error(two_sellers.call("GET", "/v1/sellers/s1/orders/o1", headers=bad), 401)
        assert_error(two_sellers.call("GET", "/v1/sellers/s1/orders/o1", headers={"X-Api-Key": "junk"}), 401)

    def test_a_vendor_key_reaches_only_that_vendors_orders(self, two_sellers):
        [vo] = two_sellers.vendor_orders("v1")
        path = f"/v1/vendors/v1/orders/{vo['vendor_order_id']}"
        assert two_sellers.as_vendor("v1", "GET", path).status == 200
        assert_error(two_sellers.as_vendor("v2", "GET", path), 403)
        assert_error(two_sellers.as_vendor("v2", "POST", path + "/approve"), 403)
        assert_error(two_sellers.as_vendor("v2", "POST", path + "/handovers", {"handover_id": "h", "lines": [{"sku": "A", "qty": 1}]}), 403)
        # vendor v2 on its own path with v1's order id finds nothing
        assert_error(two_sellers.as_vendor("v2", "GET", f"/v1/vendors/v2/orders/{vo['vendor_order_id']}"), 404)
        # a vendor key is not a seller key
        assert_error(two_sellers.as_vendor("v1", "GET", "/v1/sellers/s1/orders/o1"), 403)
        assert two_sellers.vendor_orders("v1")[0]["lines"][0]["handed_over_qty"] == 0

    def test_the_admin_token_reaches_everything(self, two_sellers):
        [vo] = two_sellers.vendor_orders("v1")
        assert two_sellers.admin("GET", f"/v1/vendors/v1/orders/{vo['vendor_order_id']}").status == 200
        assert two_sellers.admin("GET", "/v1/sellers/s2/purchase-orders").body == {"items": [], "next_cursor": None}


class TestNotFound:
    def test_unknown_order_po_and_vendor_order(self, two_sellers):
        assert_error(two_sellers.as_seller("s1", "GET", "/v1/sellers/s1/orders/nope"), 404, "not_found")
        assert_error(two_sellers.as_seller("s1", "GET", "/v1/sellers/s1/purchase-orders/nope"), 404)
        assert_error(two_sellers.as_vendor("v1", "GET", "/v1/vendors/v1/orders/nope"), 404)
        assert_error(two_sellers.as_vendor("v1", "POST", "/v1/vendors/v1/orders/nope/approve"), 404)
        handover = {"handover_id": "h1", "lines": [{"sku": "A", "qty": 1}]}
        assert_error(two_sellers.as_vendor("v1", "POST", "/v1/vendors/v1/orders/nope/handovers", handover), 404)


class TestAdmin:
    def test_sellers_are_created_once_with_their_secrets_then_updated(self, chain):
        created = chain.seller("s1")
        assert created["api_key"].startswith("sk.s1.") and created["webhook_secret"]
        body = {"name": "New name", "allow_backorders": False, "auto_po_vendor_level": True, "auto_grn_through_backorder": True}
        updated = chain.admin("PUT", "/v1/sellers/s1", body)
        assert updated.status == 200 and "api_key" not in updated.body and "webhook_secret" not in updated.body
        assert updated.body["name"] == "New name"
        # the credentials issued at creation still work
        assert chain.as_seller("s1", "GET", "/v1/sellers/s1/purchase-orders").status == 200

    def test_vendors_are_created_with_an_api_key(self, chain):
        created = chain.vendor("v1")
        assert created["api_key"].startswith("vk.v1.")
        assert chain.vendor("v1", approval_required=True)["approval_required"] is True

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "x", "allow_backorders": "yes", "auto_po_vendor_level": True, "auto_grn_through_backorder": True},
            {"name": "x", "allow_backorders": True, "auto_po_vendor_level": True},
            {"name": "", "allow_backorders": True, "auto_po_vendor_level": True, "auto_grn_through_backorder": True},
            {"name": "x", "allow_backorders": True, "auto_po_vendor_level": True, "auto_grn_through_backorder": True, "typo": 1},
        ],
    )
    def test_an_invalid_seller_is_a_400(self, chain, body):
        assert_error(chain.admin("PUT", "/v1/sellers/s1", body), 400, "invalid_request")
        assert chain.admin("GET", "/v1/sellers/s1/purchase-orders").body == {"items": [], "next_cursor": None}

    def test_a_mapping_needs_an_existing_seller_and_vendor(self, chain):
        assert_error(chain.map_sku("nobody", "A", None), 404)
        chain.seller("s1")
        assert_error(chain.map_sku("s1", "A", "ghost"), 422, "vendor_not_found")
        assert_error(chain.admin("PUT", "/v1/sellers/s1/skus/A", {}), 400)

    def test_adjustments_are_idempotent_and_never_make_stock_negative(self, chain):
        chain.seller("s1")
        assert chain.stock("s1", "A", 3, adjustment_id="a1").status == 201
        assert chain.stock("s1", "A", 3, adjustment_id="a1").status == 200
        assert_error(chain.stock("s1", "A", 4, adjustment_id="a1"), 409, "adjustment_id_conflict")
        assert_error(chain.stock("s1", "A", -4, adjustment_id="a2"), 422, "insufficient_stock")
        assert chain.stock("s1", "A", -1, adjustment_id="a3").status == 201
        assert chain.bins("s1", "A")[("main", "default")]["available"] == 2
        assert_error(chain.stock("s1", "A", 0, adjustment_id="a4"), 400)
        assert_error(chain.stock("nobody", "A", 1, adjustment_id="a5"), 404)


def test_a_request_that_keeps_losing_a_race_is_a_503_to_send_again_and_writes_nothing(two_sellers, monkeypatch):
    from backorders.adapters import dynamo
    from backorders.adapters.store import Store
    from backorders.domain.errors import RetryableConflict

    # every attempt finds that another request changed the same records first
    def raced(self, writes):
        raise RetryableConflict("write 1 (Update inventory ...): TransactionConflict")

    monkeypatch.setattr(Store, "commit", raced)
    monkeypatch.setattr(dynamo.time, "sleep", lambda _s: None)

    answer = two_sellers.order("s1", "o2", ("A", 1))

    assert_error(answer, 503, "busy")
    assert answer.headers.get("Retry-After") == "1"
    monkeypatch.undo()
    assert two_sellers.admin("GET", "/v1/sellers/s1/orders/o2").status == 404
    assert two_sellers.order("s1", "o2", ("A", 1)).status == 201  # sent again, it goes through
