"""What sellers and vendors are told is true, and lines left without a PO heal once
their cause is fixed."""

from __future__ import annotations

from datetime import timedelta

from openapi_spec_validator import validate

from tests import invariants
from tests.test_reconcile import run


def test_the_served_openapi_document_validates(chain):
    validate(chain.call("GET", "/v1/openapi.json").body)


def test_a_sku_nothing_was_ever_recorded_for_is_a_404_not_zeros(chain):
    chain.seller("s1")
    answer = chain.as_seller("s1", "GET", "/v1/sellers/s1/skus/MUG-TYPO/stock")
    assert answer.status == 404 and answer.error["code"] == "sku_unknown"
    chain.map_sku("s1", "MUG-TYPO", None)
    assert chain.as_seller("s1", "GET", "/v1/sellers/s1/skus/MUG-TYPO/stock").status == 200, "a mapped SKU is known"


def test_the_po_says_whether_the_vendor_has_approved_and_a_cancelled_order_cannot_be_approved(chain):
    chain.seller("s1")
    chain.vendor("v1", approval_required=True)
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    [po] = chain.purchase_orders("s1")
    view = chain.as_seller("s1", "GET", f"/v1/sellers/s1/purchase-orders/{po['po_id']}").body
    assert (view["status"], view["vendor_order_status"]) == ("approved", "unapproved"), "approved on our side, not yet by the vendor"
    chain.as_seller("s1", "POST", "/v1/sellers/s1/orders/o1/cancel", {"order_id": "o1"})
    chain.drain()
    approve = chain.as_vendor("v1", "POST", f"/v1/vendors/v1/orders/{po['vendor_order_id']}/approve")
    assert approve.status == 409 and approve.error["code"] == "vendor_order_cancelled"


def test_mapping_a_sku_gives_the_orders_already_waiting_for_it_their_po(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.order("s1", "o1", ("A", 2))
    chain.order("s1", "o2", ("A", 1), ("B", 1))
    chain.drain()
    assert chain.get_order("s1", "o1")["lines"][0]["no_po_reason"] == "sku_not_mapped"
    assert chain.map_sku("s1", "A", "v1").status == 200
    chain.drain()
    for order_id in ("o1", "o2"):
        line = chain.get_order("s1", order_id)["lines"][0]
        assert (line["no_po_reason"], bool(line["purchase_order_id"])) == (None, True), order_id
    assert chain.get_order("s1", "o2")["lines"][1]["no_po_reason"] == "sku_not_mapped", "B is still not mapped"
    assert sorted(po["lines"][0]["qty"] for po in chain.purchase_orders("s1")) == [1, 2]
    # B mapped to the same vendor: o2 gets a second PO from v1, under an id of its own
    assert chain.map_sku("s1", "B", "v1").status == 200
    chain.drain()
    b = chain.get_order("s1", "o2")["lines"][1]
    assert b["purchase_order_id"] and b["purchase_order_id"] != chain.get_order("s1", "o2")["lines"][0]["purchase_order_id"]
    assert len(chain.purchase_orders("s1")) == 3
    invariants.check()
    invariants.check_settled()


def test_a_mapping_to_a_vendor_that_can_never_get_pos_warns_and_the_lines_heal_once_the_vendor_is_fixed(chain):
    chain.seller("s1")
    chain.vendor("v1", is_b2b_new=False)
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    mapped = chain.admin("PUT", "/v1/sellers/s1/skus/A", {"vendor_id": "v1"})
    assert "cannot receive purchase orders" in mapped.body["warning"]
    chain.drain()
    assert chain.get_order("s1", "o1")["lines"][0]["no_po_reason"] == "vendor_not_eligible"
    assert run(chain).get("stuck_lines_healed", 0) == 0, "nothing to heal while the cause is there"
    chain.vendor("v1", is_b2b_new=True)
    assert run(chain, older_than=timedelta(0))["stuck_lines_healed"] == 1
    chain.drain()
    line = chain.get_order("s1", "o1")["lines"][0]
    assert line["no_po_reason"] is None and line["purchase_order_id"]
    invariants.check()


def test_a_seller_who_turns_auto_po_on_gets_pos_for_what_waits(chain):
    chain.seller("s1", auto_po_vendor_level=False)
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    assert chain.get_order("s1", "o1")["lines"][0]["no_po_reason"] == "auto_po_disabled"
    chain.seller("s1", auto_po_vendor_level=True)
    assert run(chain)["stuck_lines_healed"] == 1
    assert chain.get_order("s1", "o1")["lines"][0]["purchase_order_id"]


def test_a_vendor_declines_an_order_and_the_seller_sees_why_its_lines_wait(chain):
    chain.seller("s1")
    chain.vendor("v1", approval_required=True)
    chain.vendor("v2")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    [po] = chain.purchase_orders("s1")
    path = f"/v1/vendors/v1/orders/{po['vendor_order_id']}"
    assert chain.as_vendor("v1", "POST", path + "/decline", {"reason": ""}).status == 400
    assert chain.as_vendor("v2", "POST", f"/v1/vendors/v1/orders/{po['vendor_order_id']}/decline", {"reason": "no"}).status == 403
    declined = chain.as_vendor("v1", "POST", path + "/decline", {"reason": "discontinued"})
    assert declined.status == 200 and (declined.body["status"], declined.body["declined_reason"]) == ("declined", "discontinued")
    assert chain.as_vendor("v1", "POST", path + "/decline", {"reason": "discontinued"}).body == declined.body, "again: unchanged"
    chain.drain()
    line = chain.get_order("s1", "o1")["lines"][0]
    assert (line["pending_qty"], line["no_po_reason"]) == (2, "vendor_declined")
    view = chain.as_seller("s1", "GET", f"/v1/sellers/s1/purchase-orders/{po['po_id']}").body
    assert (view["status"], view["vendor_order_status"]) == ("cancelled", "declined")
    approve = chain.as_vendor("v1", "POST", path + "/approve")
    assert approve.status == 409 and approve.error["code"] == "vendor_order_declined"
    handover = chain.as_vendor("v1", "POST", path + "/handovers", {"handover_id": "h1", "lines": [{"sku": "A", "qty": 1}]})
    assert handover.status == 422 and handover.error["code"] == "vendor_order_declined"
    assert chain.as_seller("s1", "GET", "/v1/sellers/s1/skus/A/stock").body["open_po_qty"] == 0
    invariants.check()
    invariants.check_settled()


def test_an_order_with_goods_handed_over_cannot_be_declined(chain):
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 3))
    chain.drain()
    [vo] = chain.vendor_orders("v1")
    chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
    answer = chain.as_vendor("v1", "POST", f"/v1/vendors/v1/orders/{vo['vendor_order_id']}/decline", {"reason": "late"})
    assert answer.status == 422 and answer.error["code"] == "already_handed_over"


def test_a_vendor_order_names_its_seller_keeps_its_ship_date_and_lists_its_handovers(chain):
    chain.seller("s1")
    chain.vendor("v1", approval_required=True)
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 3))
    chain.drain()
    [vo] = chain.vendor_orders("v1")
    path = f"/v1/vendors/v1/orders/{vo['vendor_order_id']}"
    assert vo["seller_name"] == "Seller s1"
    assert chain.as_vendor("v1", "POST", path + "/approve", {"expected_ship_date": "2026-12-32"}).status == 400
    approved = chain.as_vendor("v1", "POST", path + "/approve", {"expected_ship_date": "2026-12-07"}).body
    assert (approved["status"], approved["expected_ship_date"]) == ("approved", "2026-12-07")
    later = chain.as_vendor("v1", "POST", path + "/approve", {"expected_ship_date": "2026-12-09"}).body
    assert (later["status"], later["expected_ship_date"]) == ("approved", "2026-12-09"), "a new date, still approved"
    assert chain.as_vendor("v1", "POST", path + "/approve").body["expected_ship_date"] == "2026-12-09"
    chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1))
    chain.hand_over("v1", vo["vendor_order_id"], "h2", ("A", 2))
    chain.drain()
    seen = chain.as_vendor("v1", "GET", path).body
    assert [(h["handover_id"], h["lines"]) for h in seen["handovers"]] == [("h1", [{"sku": "A", "qty": 1}]), ("h2", [{"sku": "A", "qty": 2}])]
    assert "source_order_id" not in seen, "the seller's own order id stays the seller's"


def test_the_answers_are_in_their_documented_shape(chain):
    from jsonschema import Draft202012Validator

    document = chain.call("GET", "/v1/openapi.json").body

    def check(method: str, path: str, route: str, body, status: int = 200) -> None:
        schema = document["paths"][route][method.lower()]["responses"][str(status)]["content"]["application/json"]["schema"]
        assert schema, f"{method} {route}: no schema"
        # the document's refs (#/components/...) resolve in a schema that carries its components
        Draft202012Validator({**schema, "components": document["components"]}).validate(body)

    check("PUT", "", "/v1/sellers/{seller_id}", chain.seller("s1"), 201)
    check("PUT", "", "/v1/vendors/{vendor_id}", chain.vendor("v1", approval_required=True), 201)
    writes = [
        ("POST", "/v1/sellers/s1/credentials/rotate", "/v1/sellers/{seller_id}/credentials/rotate", {"rotate": ["webhook_secret"]}, 200),
        ("PUT", "/v1/sellers/s1/skus/B", "/v1/sellers/{seller_id}/skus/{sku}", {"vendor_id": None}, 200),
        ("POST", "/v1/sellers/s1/inventory/adjustments", "/v1/sellers/{seller_id}/inventory/adjustments",
         {"adjustment_id": "a1", "sku": "B", "qty": 1}, 201),
        ("POST", "/v1/sellers/s1/returns", "/v1/sellers/{seller_id}/returns", {"return_id": "r1", "sku": "B", "qty": 1, "status": "expected"}, 201),
        ("PUT", "/v1/sellers/s1/channels/shop", "/v1/sellers/{seller_id}/channels/{channel_id}", {"kind": "shopify", "secret": "s" * 32}, 201),
        ("PUT", "/v1/vendors/v1/webhook-endpoints/wms", "/v1/vendors/{vendor_id}/webhook-endpoints/{endpoint_id}",
         {"url": "http://127.0.0.1:9/hook", "events": ["vendor_order.created"]}, 201),
    ]
    for method, path, route, body, status in writes:
        answer = chain.admin(method, path, body)
        assert answer.status == status, (path, answer)
        check(method, path, route, answer.body, status)
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    [po] = chain.purchase_orders("s1")
    vo_id = po["vendor_order_id"]
    reads = [
        ("GET", "/v1/health", "/v1/health"),
        ("GET", "/v1/sellers/s1", "/v1/sellers/{seller_id}"),
        ("GET", "/v1/vendors/v1", "/v1/vendors/{vendor_id}"),
        ("GET", "/v1/sellers/s1/skus/A", "/v1/sellers/{seller_id}/skus/{sku}"),
        ("GET", "/v1/vendors/v1/webhook-endpoints", "/v1/vendors/{vendor_id}/webhook-endpoints"),
        ("GET", "/v1/sellers/s1/channels/shop/deliveries", "/v1/sellers/{seller_id}/channels/{channel_id}/deliveries"),
        ("GET", "/v1/vendors/v1/webhook-endpoints/wms/deliveries", "/v1/vendors/{vendor_id}/webhook-endpoints/{endpoint_id}/deliveries"),
        ("GET", "/v1/sellers/s1/skus/A/stock", "/v1/sellers/{seller_id}/skus/{sku}/stock"),
        ("GET", "/v1/sellers/s1/orders", "/v1/sellers/{seller_id}/orders"),
        ("GET", "/v1/sellers/s1/orders/o1", "/v1/sellers/{seller_id}/orders/{order_id}"),
        ("GET", "/v1/sellers/s1/purchase-orders", "/v1/sellers/{seller_id}/purchase-orders"),
        ("GET", f"/v1/sellers/s1/purchase-orders/{po['po_id']}", "/v1/sellers/{seller_id}/purchase-orders/{po_id}"),
        ("GET", "/v1/vendors/v1/orders", "/v1/vendors/{vendor_id}/orders"),
        ("GET", f"/v1/vendors/v1/orders/{vo_id}", "/v1/vendors/{vendor_id}/orders/{vendor_order_id}"),
        ("POST", f"/v1/vendors/v1/orders/{vo_id}/approve", "/v1/vendors/{vendor_id}/orders/{vendor_order_id}/approve"),
        ("POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel", "/v1/sellers/{seller_id}/purchase-orders/{po_id}/cancel"),
    ]
    for method, path, route in reads:
        answer = chain.admin(method, path, {} if method == "POST" else None)
        assert answer.status == 200, (path, answer)
        check(method, path, route, answer.body)
