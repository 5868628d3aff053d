"""The backorder chain end to end, over real HTTP, against `backorders local`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import boto3

from tests.e2e.local import Api, unique


def test_seed_scenario_stock_3_order_5_handover_1_then_1_ends_ready(api: Api):
    # given a seller, an eligible vendor, the SKU mapped to it and 3 in stock
    seller, vendor, sku = api.setup(stock=3)

    # when a marketplace posts an order for 5
    answer = api.order(seller, "o1", (sku, 5))

    # then it is accepted with an availability warning
    assert answer.status == 201
    assert answer.body == {
        "order_id": "o1",
        "status": "received",
        "warnings": [{"line_id": "L1", "sku": sku, "requested": 5, "available": 3}],
    }
    # and, asynchronously: 3 assigned, 2 pending, an approved PO for the 2 only
    order = api.settled_order(seller, "o1")
    [line] = order["lines"]
    assert order["status"] == "backordered"
    assert (line["assigned_qty"], line["pending_qty"]) == (3, 2)
    [po] = api.purchase_orders(seller)
    assert (po["status"], po["source_order_id"], po["vendor_id"]) == ("approved", "o1", vendor)
    assert po["lines"] == [
        {"sku": sku, "qty": 2, "received_qty": 0, "cancelled_qty": 0, "surplus_qty": 0, "handed_over_qty": 0, "min_order_qty": 1, "pack_size": 1,
         "allocations": [{"order_id": "o1", "line_id": "L1", "qty": 2}]}
    ]
    assert line["purchase_order_id"] == po["po_id"]
    # and the vendor's B2B order
    [vo] = api.vendor_orders(vendor)
    assert (vo["status"], vo["po_id"], vo["vendor_order_id"]) == ("approved", po["po_id"], po["vendor_order_id"])
    assert vo["lines"] == [{"sku": sku, "qty": 2, "cancelled_qty": 0, "handed_over_qty": 0}]

    # when the vendor hands over 1: GRN, 4 assigned, PO partially received
    assert api.hand_over(vendor, vo["vendor_order_id"], "h1", (sku, 1)).status == 202
    order = api.settled_order(seller, "o1", assigned=4)
    assert (order["lines"][0]["assigned_qty"], order["lines"][0]["pending_qty"]) == (4, 1)
    assert order["status"] == "backordered"
    po = api.purchase_order(seller, po["po_id"])
    assert po["status"] == "partially_received"
    assert po["lines"][0]["received_qty"] == 1 and len(po["grns"]) == 1

    # when the vendor hands over the last 1: ready, PO received
    assert api.hand_over(vendor, vo["vendor_order_id"], "h2", (sku, 1)).status == 202
    order = api.settled_order(seller, "o1", assigned=5)
    assert order["status"] == "ready"
    assert (order["lines"][0]["assigned_qty"], order["lines"][0]["pending_qty"]) == (5, 0)
    po = api.purchase_order(seller, po["po_id"])
    assert po["status"] == "received" and len(po["grns"]) == 2
    assert api.vendor_order(vendor, vo["vendor_order_id"])["status"] == "handed_over"
    # stock: the 5 units are all assigned, none left over
    [main] = api.bins(seller, sku)
    assert (main["sk"], main["available"], main["assigned"], main["reserved"]) == ("BIN#main#default", 0, 5, 0)


def test_duplicate_webhooks_change_nothing_and_a_different_body_conflicts(api: Api):
    # given an order that has settled (backordered, with its PO)
    seller, vendor, sku = api.setup(stock=1)
    assert api.order(seller, "o1", (sku, 3)).status == 201
    before = api.settled_order(seller, "o1")

    # when the marketplace posts the same order again
    again = api.order(seller, "o1", (sku, 3))

    # then 200, and nothing new: the order is unchanged, still one PO, one vendor order
    assert again.status == 200
    assert again.body["order_id"] == "o1"
    assert api.get_order(seller, "o1") == before
    assert len(api.purchase_orders(seller)) == 1
    assert len(api.vendor_orders(vendor)) == 1

    # when it posts the same order id with another body: 409, and still nothing new
    other = api.order(seller, "o1", (sku, 4))
    assert other.status == 409
    assert other.error["code"] == "order_id_conflict"
    assert api.get_order(seller, "o1") == before

    # the same for a vendor's handover: same id and body -> nothing new; other body -> 409
    [vo] = api.vendor_orders(vendor)
    assert api.hand_over(vendor, vo["vendor_order_id"], "h1", (sku, 1)).status == 202
    settled = api.settled_order(seller, "o1", assigned=2)
    assert api.hand_over(vendor, vo["vendor_order_id"], "h1", (sku, 1)).status == 202
    conflict = api.hand_over(vendor, vo["vendor_order_id"], "h1", (sku, 2))
    assert conflict.status == 409
    po = api.purchase_order(seller, vo["po_id"])
    assert po["lines"][0]["received_qty"] == 1 and len(po["grns"]) == 1
    assert api.get_order(seller, "o1") == settled


def test_partial_handover_inwards_and_assigns_only_what_was_handed_over(api: Api):
    # given an order for 4 with nothing in stock: a PO for 4
    seller, vendor, sku = api.setup(stock=0)
    assert api.order(seller, "o1", (sku, 4)).status == 201
    api.settled_order(seller, "o1")
    [vo] = api.vendor_orders(vendor)

    # when the vendor hands over 3 of the 4
    assert api.hand_over(vendor, vo["vendor_order_id"], "h1", (sku, 3)).status == 202

    # then 3 are assigned, 1 stays pending, the PO stays open for the rest
    order = api.settled_order(seller, "o1", assigned=3)
    assert order["status"] == "backordered"
    assert (order["lines"][0]["assigned_qty"], order["lines"][0]["pending_qty"]) == (3, 1)
    po = api.purchase_order(seller, vo["po_id"])
    assert po["status"] == "partially_received"
    assert [line.pop("allocations") for line in po["lines"]] == [[{"order_id": "o1", "line_id": "L1", "qty": 1}]]
    assert po["lines"] == [
        {"sku": sku, "qty": 4, "received_qty": 3, "cancelled_qty": 0, "surplus_qty": 0, "handed_over_qty": 3, "min_order_qty": 1, "pack_size": 1}
    ]
    assert api.vendor_order(vendor, vo["vendor_order_id"])["status"] == "partially_handed_over"

    # more than is still open is refused, and changes nothing
    too_many = api.hand_over(vendor, vo["vendor_order_id"], "h2", (sku, 2))
    assert too_many.status == 422
    assert api.purchase_order(seller, vo["po_id"])["lines"][0]["received_qty"] == 3

    # the rest completes it
    assert api.hand_over(vendor, vo["vendor_order_id"], "h3", (sku, 1)).status == 202
    assert api.settled_order(seller, "o1", assigned=4)["status"] == "ready"
    assert api.purchase_order(seller, vo["po_id"])["status"] == "received"


def test_a_vendor_that_requires_approval_gets_an_unapproved_order_and_hands_over_once_approved(api: Api):
    # given a vendor whose B2B orders need its approval
    seller, vendor, sku = api.setup(stock=0, approval_required=True)
    assert api.order(seller, "o1", (sku, 2)).status == 201
    api.settled_order(seller, "o1")

    # then its order arrives unapproved (the PO itself is approved)
    [vo] = api.vendor_orders(vendor)
    assert vo["status"] == "unapproved"
    assert api.purchase_order(seller, vo["po_id"])["status"] == "approved"

    # a handover before approval is refused and inwards nothing
    refused = api.hand_over(vendor, vo["vendor_order_id"], "h1", (sku, 2))
    assert refused.status == 422
    assert api.purchase_order(seller, vo["po_id"])["lines"][0]["received_qty"] == 0
    assert api.get_order(seller, "o1")["lines"][0]["pending_qty"] == 2

    # when the vendor approves, the handover goes through and the order becomes ready
    approved = api.as_vendor(vendor, "POST", f"/v1/vendors/{vendor}/orders/{vo['vendor_order_id']}/approve")
    assert approved.status == 200 and approved.body["status"] == "approved"
    assert api.hand_over(vendor, vo["vendor_order_id"], "h2", (sku, 2)).status == 202
    assert api.settled_order(seller, "o1", assigned=2)["status"] == "ready"


def test_20_concurrent_orders_for_5_in_stock_assign_exactly_5(api: Api):
    # given 5 in stock
    seller, vendor, sku = api.setup(stock=5)
    order_ids = [f"o{i:02d}" for i in range(20)]
    lowest: list[int] = []

    # when 20 marketplaces post an order for 1 at the same time
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda oid: api.order(seller, oid, (sku, 1)), order_ids))
    assert [a.status for a in answers] == [201] * 20

    def sample_stock() -> None:
        lowest.extend(min(b["available"], b["assigned"], b["reserved"]) for b in api.bins(seller, sku))

    def all_settled():
        sample_stock()
        if len(api.purchase_orders(seller)) < 15:  # one cheap call while the chain works
            return None
        orders = [api.get_order(seller, oid) for oid in order_ids]
        settled = all(
            o["status"] == "ready" or (o["status"] == "backordered" and o["lines"][0]["purchase_order_id"])
            for o in orders
        )
        return settled and orders

    orders = api.until("20 orders", all_settled, poll_s=0.1)

    # then exactly 5 are assigned in total, 15 pending; stock never went negative
    assert sum(o["lines"][0]["assigned_qty"] for o in orders) == 5
    assert sum(o["lines"][0]["pending_qty"] for o in orders) == 15
    assert sorted(o["status"] for o in orders) == ["backordered"] * 15 + ["ready"] * 5
    assert min(lowest) >= 0
    [main] = api.bins(seller, sku)
    assert (main["available"], main["assigned"]) == (0, 5)

    # and one PO (and one vendor order) per backordered order, for its 1 pending unit
    pos = api.purchase_orders(seller)
    backordered = {o["order_id"] for o in orders if o["status"] == "backordered"}
    assert sorted(po["source_order_id"] for po in pos) == sorted(backordered)
    assert all(
        po["lines"] == [
            {"sku": sku, "qty": 1, "received_qty": 0, "cancelled_qty": 0, "surplus_qty": 0, "handed_over_qty": 0, "min_order_qty": 1, "pack_size": 1,
             "allocations": [{"order_id": po["source_order_id"], "line_id": "L1", "qty": 1}]}
        ]
        for po in pos
    )
    assert {o["lines"][0]["purchase_order_id"] for o in orders if o["status"] == "backordered"} == {p["po_id"] for p in pos}
    assert len(api.vendor_orders(vendor)) == 15


def test_the_http_edge_answers_in_the_error_shape(api: Api):
    unknown = api.call("GET", "/v1/nowhere")
    assert unknown.status == 404 and unknown.error["code"] == "not_found"
    seller = unique("s")
    assert api.call("PUT", f"/v1/sellers/{seller}", {"name": "x"}).status == 401
    malformed = api.call("PUT", f"/v1/sellers/{seller}", raw=b"{not json",
                         headers={"Authorization": f"Bearer {api.admin_token}"})
    assert malformed.status == 400 and malformed.error["code"] == "malformed_json"
    assert api.call("GET", "/v1/openapi.json").body["openapi"].startswith("3.")


def test_stock_added_after_a_refused_adjustment_still_reaches_the_waiting_order(api):
    # a refused transaction (here: taking away more than is there) must not cut the
    # inventory stream off: the next adjustment is still offered to the waiting order
    seller, _, sku = api.setup(stock=0)
    api.map_sku(seller, sku, None)
    api.order(seller, "o-wait", (sku, 2))
    api.settled_order(seller, "o-wait")
    refused = api.admin("POST", f"/v1/sellers/{seller}/inventory/adjustments", {"adjustment_id": "minus", "sku": sku, "qty": -5})
    assert refused.status == 422
    api.stock(seller, sku, 2)
    api.until("the waiting order gets the stock", lambda: api.get_order(seller, "o-wait")["status"] == "ready")


def test_a_marketplace_sku_with_spaces_slash_hash_and_unicode_goes_through_over_http(api: Api):
    # the SKU travels percent-encoded in paths and as JSON text in bodies; the HTTP server
    # hands the path on still encoded, and the route table decodes it once
    sku = "Mug 350ml / Blue #2 · Café ☕"
    seller, vendor, _ = api.setup(stock=1, sku=sku)
    encoded = quote(sku, safe="")
    mapping = api.admin("GET", f"/v1/sellers/{seller}/skus/{encoded}").body
    assert mapping == {"seller_id": seller, "sku": sku, "vendor_id": vendor, "min_order_qty": 1, "pack_size": 1, "stock_shards": 1}
    assert api.order(seller, "o1", (sku, 3)).status == 201
    order = api.settled_order(seller, "o1")
    assert (order["status"], order["lines"][0]["sku"], order["lines"][0]["pending_qty"]) == ("backordered", sku, 2)
    [po] = api.purchase_orders(seller)
    assert po["lines"] == [
        {"sku": sku, "qty": 2, "received_qty": 0, "cancelled_qty": 0, "surplus_qty": 0, "handed_over_qty": 0, "min_order_qty": 1, "pack_size": 1,
         "allocations": [{"order_id": "o1", "line_id": order["lines"][0]["line_id"], "qty": 2}]}
    ]
    stock = api.call("GET", f"/v1/sellers/{seller}/skus/{encoded}/stock", headers={"X-Api-Key": api.sellers[seller]["api_key"]})
    assert stock.status == 200 and stock.body["sku"] == sku
    assert (stock.body["on_hand"], stock.body["assigned"], stock.body["pending_backorders"], stock.body["open_po_qty"]) == (1, 1, 2, 2)
    # the same `%2F` in the seller id is no path at all
    assert api.admin("GET", f"/v1/sellers/{seller}%2Fx/skus/{encoded}/stock").status == 404


def test_a_shopify_order_posted_as_shopify_posts_it_reaches_ready_over_http(api: Api):
    import base64
    import hashlib
    import hmac
    from pathlib import Path

    seller, vendor, _ = api.setup(stock=0)
    for sku in ("IPOD 2008 / PINK #8GB", "variant-49148385"):
        api.map_sku(seller, sku, vendor)
    secret = "shpss_" + unique("secret")
    channel = api.admin("PUT", f"/v1/sellers/{seller}/channels/shop", {"kind": "shopify", "secret": secret})
    assert channel.status == 201
    raw = (Path(__file__).parents[1] / "fixtures" / "marketplaces" / "shopify_orders_create.json").read_bytes()
    signature = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": signature, "Content-Type": "application/json"}
    answer = api.call("POST", channel.body["webhook_path"], headers=headers, raw=raw)
    assert answer.status == 200 and answer.body["outcome"] == "created", answer
    order_id = answer.body["order_id"]
    api.until("the order's POs", lambda: len(api.purchase_orders(seller)) == 1)
    [vo] = api.until("the vendor order", lambda: api.vendor_orders(vendor) or None)
    lines = [(line["sku"], line["qty"]) for line in vo["lines"]]
    assert api.hand_over(vendor, vo["vendor_order_id"], "h1", *lines).status == 202
    assert api.settled_order(seller, order_id, assigned=5)["status"] == "ready"


def test_the_streams_keep_no_record_every_function_has_read(api: Api):
    # a development runtime that kept every change's record (DynamoDB keeps them 24 hours)
    # would grow with every order
    seller, vendor, sku = api.setup(stock=1)
    assert api.order(seller, "o1", (sku, 2)).status == 201
    [vo] = api.until("the vendor order", lambda: api.vendor_orders(vendor))
    assert api.hand_over(vendor, vo["vendor_order_id"], "h1", (sku, 1)).status == 202
    assert api.settled_order(seller, "o1", assigned=2)["status"] == "ready"

    ddb = boto3.client("dynamodb", endpoint_url=api.aws_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    streams = boto3.client("dynamodbstreams", endpoint_url=api.aws_url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")

    def unread() -> dict[str, int]:
        left = {}
        for table in ddb.list_tables()["TableNames"]:
            arn = ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
            if arn is None:
                continue
            for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
                it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
                left[table] = left.get(table, 0) + len(streams.get_records(ShardIterator=it["ShardIterator"])["Records"])
        return left

    api.until("every stream read and forgotten", lambda: not any(unread().values()))
    # and the next order still flows
    assert api.order(seller, "o2", (sku, 1)).status == 201
    assert api.settled_order(seller, "o2")["status"] == "backordered"
