"""Consolidation windows: a seller's shortfalls for one vendor join one open PO until the
window the first one opened closes; then it is rounded, approved and sent to the vendor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from backorders import topology
from backorders.adapters import dynamo
from backorders.adapters.store import Store, po_key, window_key
from backorders.services import reconcile
from tests import invariants
from tests.chain import Chain


def window_shop(chain: Chain) -> Chain:
    """Seller s1 with a 30-minute window; vendor v1 sells MUG (at least 10, packs of 6) and CUP."""
    chain.seller("s1", po_consolidation_minutes=30)
    chain.vendor("v1")
    chain.admin("PUT", "/v1/sellers/s1/skus/MUG", {"vendor_id": "v1", "min_order_qty": 10, "pack_size": 6})
    chain.map_sku("s1", "CUP", "v1")
    return chain


@pytest.fixture
def shop(chain: Chain) -> Chain:
    return window_shop(chain)


def settled(chain: Chain) -> None:
    chain.drain()
    invariants.check()
    invariants.check_settled()


def the_po(chain: Chain) -> dict:
    (po,) = chain.purchase_orders("s1")
    return po


def window_messages(chain: Chain) -> list[dict]:
    """What the PO windows queue holds, delayed or not (moto's own view of it)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[topology.PO_WINDOWS.name]
    return [{"body": json.loads(m.body), "delay_s": round((m.delayed_until / 1000) - datetime.now(UTC).timestamp())} for m in queue._messages]


def test_five_orders_in_one_window_become_one_po_and_one_vendor_order_rounded_to_the_vendor_terms(shop):
    for i, qty in enumerate([2, 1, 3, 1, 2]):
        shop.order("s1", f"o-{i}", ("MUG", qty), *([("CUP", 1)] if i % 2 else []))
    settled(shop)
    po = the_po(shop)
    assert po["status"] == "open" and po["vendor_order_status"] is None
    assert {line["sku"]: (line["qty"], line["surplus_qty"]) for line in po["lines"]} == {"MUG": (9, 0), "CUP": (2, 0)}
    assert po["order_ids"] == [f"o-{i}" for i in range(5)]
    assert shop.vendor_orders("v1") == [], "the vendor sees nothing while the window is open"
    opened = datetime.fromisoformat(po["created_at"])
    assert datetime.fromisoformat(po["closes_at"]) - opened == timedelta(minutes=30)
    for i in range(5):
        order = shop.get_order("s1", f"o-{i}")
        assert order["status"] == "backordered"
        assert all(line["purchase_order_ids"] == [po["po_id"]] and line["on_order_qty"] == line["qty"] for line in order["lines"])
    view = shop.as_seller("s1", "GET", "/v1/sellers/s1/skus/MUG/stock").body
    assert (view["pending_backorders"], view["open_po_qty"], view["quantity_to_purchase"]) == (9, 9, 0)
    # the window's message waits until it closes
    [message] = window_messages(shop)
    assert message["body"] == {"seller_id": "s1", "po_id": po["po_id"]} and 890 <= message["delay_s"] <= 900

    assert shop.close_po_windows() == 1
    settled(shop)
    po = the_po(shop)
    # MUG: 9 waiting, at least 10, in packs of 6 -> 12; CUP: 2
    assert po["status"] == "approved" and po["vendor_order_status"] == "approved" and po["approved_at"]
    assert {line["sku"]: (line["qty"], line["surplus_qty"]) for line in po["lines"]} == {"MUG": (12, 3), "CUP": (2, 0)}
    (vo,) = shop.vendor_orders("v1")
    assert {line["sku"]: line["qty"] for line in vo["lines"]} == {"MUG": 12, "CUP": 2}
    assert shop.as_seller("s1", "GET", "/v1/sellers/s1/skus/MUG/stock").body["surplus_on_order"] == 3

    # handed over in full: every order gets its units, the surplus becomes free stock
    assert shop.hand_over("v1", vo["vendor_order_id"], "h1", ("MUG", 12), ("CUP", 2)).status == 202
    settled(shop)
    assert [shop.get_order("s1", f"o-{i}")["status"] for i in range(5)] == ["ready"] * 5
    view = shop.as_seller("s1", "GET", "/v1/sellers/s1/skus/MUG/stock").body
    assert (view["available"], view["pending_backorders"], view["open_po_qty"]) == (3, 0, 0)


def test_a_cancellation_in_the_window_shrinks_the_open_po_before_the_vendor_sees_it(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    shop.order("s1", "o-2", ("CUP", 3))
    settled(shop)
    assert shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o-2/cancel", {"order_id": "o-2"}).status == 200
    settled(shop)
    po = the_po(shop)
    assert (po["status"], po["lines"][0]["qty"], po["lines"][0]["cancelled_qty"]) == ("open", 2, 3)
    shop.close_po_windows()
    (vo,) = shop.vendor_orders("v1")
    assert [(line["qty"], line["cancelled_qty"]) for line in vo["lines"]] == [(2, 0)], "the vendor is asked only for what is needed"


def test_a_window_emptied_by_cancellations_sends_nothing_and_the_next_shortfall_opens_a_new_one(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    shop.as_seller("s1", "POST", "/v1/sellers/s1/orders/o-1/cancel", {"order_id": "o-1"})
    settled(shop)
    first = the_po(shop)
    assert first["status"] == "cancelled"
    shop.order("s1", "o-2", ("CUP", 1))
    settled(shop)
    second = next(p for p in shop.purchase_orders("s1") if p["po_id"] != first["po_id"])
    assert second["status"] == "open" and second["order_ids"] == ["o-2"]
    assert shop.close_po_windows() == 1
    assert [vo["po_id"] for vo in shop.vendor_orders("v1")] == [second["po_id"]]
    assert Store().po_window("s1", "v1") == second["po_id"]
    shop.order("s1", "o-3", ("CUP", 1))
    settled(shop)
    assert [p["status"] for p in shop.purchase_orders("s1")].count("open") == 1, "nothing joins a closed window"


def test_the_seller_cancels_an_open_po_in_part_and_its_lines_wait_with_the_reason(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    shop.order("s1", "o-2", ("CUP", 3))
    settled(shop)
    po = the_po(shop)
    answer = shop.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel", {"lines": [{"sku": "CUP", "qty": 3}]})
    assert answer.status == 200 and answer.body["status"] == "open" and answer.body["lines"][0]["qty"] == 2
    settled(shop)
    # the newest allocation goes first
    assert shop.get_order("s1", "o-2")["lines"][0]["no_po_reason"] == "po_cancelled"
    assert shop.get_order("s1", "o-1")["lines"][0]["on_order_qty"] == 2
    answer = shop.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel", {})
    assert answer.status == 200 and answer.body["status"] == "cancelled" and answer.body["vendor_order_status"] is None
    assert shop.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/cancel", {}).status == 200
    settled(shop)
    shop.close_po_windows()
    assert shop.vendor_orders("v1") == []


def test_goods_cannot_be_received_by_hand_against_an_open_po(shop):
    shop.seller("s1", po_consolidation_minutes=30, auto_grn_through_backorder=False)
    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    po = the_po(shop)
    answer = shop.as_seller("s1", "POST", f"/v1/sellers/s1/purchase-orders/{po['po_id']}/grns", {"grn_ref": "G1", "lines": [{"sku": "CUP", "qty": 2}]})
    assert answer.status == 409 and answer.error["code"] == "po_open"


def test_freed_stock_in_the_window_cuts_the_open_po_to_what_is_still_needed(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    shop.order("s1", "o-2", ("CUP", 1))
    settled(shop)
    shop.stock("s1", "CUP", 2)
    settled(shop)
    po = the_po(shop)
    assert shop.get_order("s1", "o-1")["status"] == "ready"
    assert (po["status"], po["lines"][0]["qty"], po["order_ids"]) == ("open", 1, ["o-1", "o-2"])


def test_a_vendor_that_can_no_longer_get_pos_when_the_window_closes_gets_none_and_the_lines_wait_until_it_is_fixed(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    first = the_po(shop)
    shop.vendor("v1", is_b2b_new=False)
    shop.close_po_windows()
    settled(shop)
    assert shop.purchase_orders("s1")[0]["status"] == "cancelled" and shop.vendor_orders("v1") == []
    line = shop.get_order("s1", "o-1")["lines"][0]
    assert (line["no_po_reason"], line["on_order_qty"]) == ("vendor_not_eligible", 0)
    shop.vendor("v1", is_b2b_new=True)
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert reconcile.reconcile(Store(), None, older_than=timedelta(minutes=5), now=later)["stuck_lines_healed"] == 1  # type: ignore[arg-type]
    settled(shop)
    po = next(p for p in shop.purchase_orders("s1") if p["po_id"] != first["po_id"])
    assert po["status"] == "open", "healed into a new window"


def test_a_window_of_zero_raises_an_approved_po_per_order_as_before(shop):
    shop.seller("s1", po_consolidation_minutes=0)
    shop.order("s1", "o-1", ("MUG", 2))
    shop.order("s1", "o-2", ("MUG", 1))
    settled(shop)
    pos = shop.purchase_orders("s1")
    assert sorted((p["status"], p["lines"][0]["qty"]) for p in pos) == [("approved", 10)], "the second takes the first's surplus"
    assert window_messages(shop) == []


def test_a_window_message_that_comes_early_comes_back_and_the_one_on_time_closes_it(shop):
    from backorders_local import pumps
    from backorders_local.functions import context_for

    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    po = the_po(shop)
    [closer] = [p for p in shop.queue_pumps if p.function.queue == topology.PO_WINDOWS]
    message = {"seller_id": "s1", "po_id": po["po_id"]}
    event = {"Records": [pumps.sqs_record({"MessageId": "m1", "ReceiptHandle": "r", "Body": json.dumps(message)}, "https://q/po-windows")]}
    assert closer.handler(event, context_for(closer.function)) == {"batchItemFailures": []}
    assert the_po(shop)["status"] == "open"
    assert sorted(m["delay_s"] for m in window_messages(shop)) == [900, 900], "asked again in 15 minutes (the longest SQS delay)"
    # its time has come
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="milliseconds")
    dynamo.client().update_item(
        TableName="purchasing", Key=dynamo.to_item(po_key("s1", po["po_id"])),
        UpdateExpression="SET closes_at = :past", ExpressionAttributeValues={":past": {"S": past}},
    )
    assert closer.handler(event, context_for(closer.function)) == {"batchItemFailures": []}
    settled(shop)
    assert the_po(shop)["status"] == "approved" and len(shop.vendor_orders("v1")) == 1
    assert closer.handler(event, context_for(closer.function)) == {"batchItemFailures": []}, "a late duplicate changes nothing"
    assert len(shop.vendor_orders("v1")) == 1


def test_the_reconciler_closes_a_window_whose_message_was_lost(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    store = Store()
    repairs = reconcile.reconcile(store, None, older_than=timedelta(minutes=5), now=datetime.now(UTC))  # type: ignore[arg-type]
    assert "po_windows_closed" not in repairs, "not overdue yet"
    later = datetime.now(UTC) + timedelta(minutes=36)
    repairs = reconcile.reconcile(store, None, older_than=timedelta(minutes=5), now=later)  # type: ignore[arg-type]
    assert repairs["po_windows_closed"] == 1
    settled(shop)
    assert the_po(shop)["status"] == "approved" and len(shop.vendor_orders("v1")) == 1


def test_a_full_window_makes_room_by_opening_the_next_one(shop):
    for i in range(21):
        shop.order("s1", f"o-{i:02d}", ("CUP", 1))
    settled(shop)
    pos = sorted(shop.purchase_orders("s1"), key=lambda p: p["created_at"])
    assert [(p["status"], len(p["order_ids"])) for p in pos] == [("open", 20), ("open", 1)]
    assert Store().po_window("s1", "v1") == pos[1]["po_id"]
    assert shop.close_po_windows() == 2
    assert len(shop.vendor_orders("v1")) == 2


@pytest.mark.parametrize("minutes", [-1, 1441, 1.5, "30", None, True])
def test_a_window_outside_whole_minutes_0_to_1440_is_refused(chain, minutes):
    body = {"name": "S", "allow_backorders": True, "auto_po_vendor_level": True, "auto_grn_through_backorder": True, "po_consolidation_minutes": minutes}
    answer = chain.admin("PUT", "/v1/sellers/s1", body)
    assert answer.status == 400 and "po_consolidation_minutes" in json.dumps(answer.body)


def test_the_window_pointer_is_kept_apart_from_the_pos(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    item = dynamo.get("purchasing", window_key("s1", "v1"))
    assert item is not None and item["po_id"] == the_po(shop)["po_id"]


def test_a_shortfall_after_the_window_closed_opens_a_new_one_even_before_the_closing_has_run(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    shop.windows_due_now()  # its time has come; the closing function has not run yet
    shop.order("s1", "o-2", ("CUP", 1))
    settled(shop)
    pos = sorted(shop.purchase_orders("s1"), key=lambda p: p["created_at"])
    assert [(p["status"], p["order_ids"]) for p in pos] == [("open", ["o-1"]), ("open", ["o-2"])]
    assert shop.close_po_windows() == 2
    assert sorted(sum(line["qty"] for line in vo["lines"]) for vo in shop.vendor_orders("v1")) == [1, 2]


def test_an_order_whose_window_was_cancelled_twice_for_its_vendor_gets_a_third_when_the_vendor_is_fixed(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    for _ in range(2):
        shop.vendor("v1", is_b2b_new=False)
        shop.close_po_windows()
        shop.vendor("v1", is_b2b_new=True)
        later = datetime.now(UTC) + timedelta(minutes=10)
        reconcile.reconcile(Store(), None, older_than=timedelta(minutes=5), now=later)  # type: ignore[arg-type]
        settled(shop)
    statuses = sorted(p["status"] for p in shop.purchase_orders("s1"))
    assert statuses == ["cancelled", "cancelled", "open"]
    assert shop.get_order("s1", "o-1")["lines"][0]["on_order_qty"] == 2


def test_an_open_po_answers_exactly_the_fields_the_openapi_document_declares(shop):
    shop.order("s1", "o-1", ("CUP", 2))
    settled(shop)
    declared = shop.call("GET", "/v1/openapi.json").body["components"]["schemas"]["PurchaseOrder"]["properties"]
    po = shop.as_seller("s1", "GET", f"/v1/sellers/s1/purchase-orders/{the_po(shop)['po_id']}").body
    assert set(po) == set(declared)
    assert po["closes_at"] and po["approved_at"] is None and po["vendor_order_status"] is None


def test_goods_for_more_orders_than_one_transaction_gives_are_given_by_the_purchasing_stream(shop):
    # six orders in one window: one GRN has goods for more orders than its own
    # transaction gives to (purchasing.GIVE_AT_ONCE), so they wait reserved for the stream
    from backorders.services.purchasing import GIVE_AT_ONCE

    orders = [f"o-{i}" for i in range(GIVE_AT_ONCE + 1)]
    for order_id in orders:
        shop.order("s1", order_id, ("CUP", 1))
    settled(shop)
    assert shop.close_po_windows() == 1
    settled(shop)
    (vo,) = shop.vendor_orders("v1")
    [goods_received] = [p for p in shop.stream_pumps if p.function.name == "on_goods_received"]
    assert shop.hand_over("v1", vo["vendor_order_id"], "h1", ("CUP", len(orders))).status == 202
    assert shop.bins("s1", "CUP")[("main", "default")]["reserved"] == len(orders)
    assert goods_received.pump() == 1
    settled(shop)
    assert [shop.get_order("s1", o)["status"] for o in orders] == ["ready"] * len(orders)
    assert shop.bins("s1", "CUP")[("main", "default")]["reserved"] == 0
