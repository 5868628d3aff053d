"""Lists a seller or vendor pages through: newest first, filtered, paged with a cursor
that cannot reach another account's list, with the times of every object."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import pytest


def newest_first(items: list[dict], id_field: str) -> list[str]:
    return [i[id_field] for i in sorted(items, key=lambda i: (i["created_at"], i[id_field]), reverse=True)]


def pages(chain, path: str, who=None, limit: int = 2) -> list[list[dict]]:
    """Every page of a list, following next_cursor."""
    call = who or (lambda p: chain.admin("GET", p))
    out, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        answer = call(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status == 200, answer
        out.append(answer.body["items"])
        cursor = answer.body["next_cursor"]
        if cursor is None:
            return out


def stocked_shop(chain):
    """Two sellers, a vendor that approves by itself and one that must; five orders of s1
    (ready, backordered for either vendor or both, cancelled) and one of s2."""
    chain.seller("s1")
    chain.seller("s2")
    chain.vendor("v1")
    chain.vendor("v2", approval_required=True)
    chain.map_sku("s1", "A", "v1")
    chain.map_sku("s1", quote("Mug 350ml / Blue #2", safe=""), "v2")
    chain.stock("s1", "B", 10)
    chain.order("s1", "o1", ("A", 1))
    chain.order("s1", "o2", ("B", 1))
    chain.order("s1", "o3", ("Mug 350ml / Blue #2", 2), ("B", 1))
    chain.order("s1", "o4", ("A", 2), ("Mug 350ml / Blue #2", 1))
    chain.order("s1", "o5", ("B", 2))
    chain.order("s2", "x1", ("A", 1))  # another seller's
    chain.drain()
    chain.as_seller("s1", "POST", "/v1/sellers/s1/orders/o5/cancel", {"order_id": "o5"})
    chain.drain()
    return chain


@pytest.fixture
def shop(chain):
    return stocked_shop(chain)


def test_a_seller_pages_through_its_orders_newest_first(shop):
    got = pages(shop, "/v1/sellers/s1/orders", lambda p: shop.as_seller("s1", "GET", p))
    assert [len(p) for p in got] == [2, 2, 1]
    items = [i for p in got for i in p]
    assert [i["order_id"] for i in items] == newest_first(items, "order_id") and len(items) == 5
    assert {i["order_id"] for i in items} == {"o1", "o2", "o3", "o4", "o5"}, "only its own orders"
    for order in items:
        assert datetime.fromisoformat(order["created_at"]) <= datetime.fromisoformat(order["updated_at"])


def test_orders_filter_by_status_and_sku(shop):
    def ids(query: str) -> set[str]:
        answer = shop.as_seller("s1", "GET", f"/v1/sellers/s1/orders?{query}")
        assert answer.status == 200, answer
        return {i["order_id"] for i in answer.body["items"]}

    assert ids("status=ready") == {"o2"}
    assert ids("status=backordered") == {"o1", "o3", "o4"}
    assert ids("status=cancelled") == {"o5"}
    assert ids(f"sku={quote('Mug 350ml / Blue #2', safe='')}") == {"o3", "o4"}
    assert ids(f"status=backordered&sku={quote('A')}") == {"o1", "o4"}
    assert ids("sku=NEVER-SOLD") == set()
    # a filtered list pages too
    got = pages(shop, "/v1/sellers/s1/orders?status=backordered", limit=1)
    assert [i["order_id"] for p in got for i in p] == ["o4", "o3", "o1"] and got[-1]


def test_purchase_orders_list_pages_with_where_each_vendor_order_stands(shop):
    got = pages(shop, "/v1/sellers/s1/purchase-orders", lambda p: shop.as_seller("s1", "GET", p), limit=2)
    pos = [po for p in got for po in p]
    assert [po["po_id"] for po in pos] == newest_first(pos, "po_id")
    by_vendor = {(po["source_order_id"], po["vendor_id"]): po["vendor_order_status"] for po in pos}
    assert by_vendor == {("o1", "v1"): "approved", ("o3", "v2"): "unapproved", ("o4", "v1"): "approved", ("o4", "v2"): "unapproved"}
    assert all(po["created_at"] and po["updated_at"] for po in pos)
    approved = shop.as_seller("s1", "GET", "/v1/sellers/s1/purchase-orders?status=approved").body["items"]
    assert len(approved) == 4
    assert shop.as_seller("s1", "GET", "/v1/sellers/s1/purchase-orders?status=cancelled").body == {"items": [], "next_cursor": None}


def test_a_vendor_pages_through_its_orders_and_sees_when_it_approved(shop):
    as_v2 = lambda p: shop.as_vendor("v2", "GET", p)  # noqa: E731
    waiting = as_v2("/v1/vendors/v2/orders?status=unapproved").body["items"]
    assert len(waiting) == 2 and all(vo["approved_at"] is None for vo in waiting)
    oldest = waiting[-1]
    approved = shop.as_vendor("v2", "POST", f"/v1/vendors/v2/orders/{oldest['vendor_order_id']}/approve")
    assert approved.status == 200 and approved.body["approved_at"] >= oldest["created_at"]
    assert approved.body["updated_at"] == approved.body["approved_at"] or approved.body["updated_at"] >= oldest["updated_at"]
    assert [vo["vendor_order_id"] for vo in as_v2("/v1/vendors/v2/orders?status=approved").body["items"]] == [oldest["vendor_order_id"]]
    assert len([vo for p in pages(shop, "/v1/vendors/v2/orders", as_v2, limit=1) for vo in p]) == 2
    # auto-approved vendor orders were approved when they were made
    assert all(vo["approved_at"] == vo["created_at"] for vo in shop.vendor_orders("v1"))


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=x", "status=shipped", "status=accepting", "cursor=not-a-cursor", "cursor=MjAyNg", "sku=%20A"],
)
def test_a_bad_list_query_is_a_400_naming_it(shop, query):
    answer = shop.as_seller("s1", "GET", f"/v1/sellers/s1/orders?{query}")
    assert answer.status == 400, answer
    assert query.split("=")[0] in str(answer.error), answer.error


def test_a_cursor_reaches_only_the_callers_own_list(shop):
    first = shop.as_seller("s1", "GET", "/v1/sellers/s1/orders?limit=1").body
    # s1's cursor on s2's list: the position only, inside s2's own list
    other = shop.as_seller("s2", "GET", f"/v1/sellers/s2/orders?cursor={first['next_cursor']}")
    assert other.status == 200 and {i["order_id"] for i in other.body["items"]} <= {"x1"}
    # s2's key on s1's list: refused before any read
    assert shop.as_seller("s2", "GET", "/v1/sellers/s1/orders").status == 403
    assert shop.as_vendor("v1", "GET", "/v1/vendors/v2/orders").status == 403
    # a cursor of another list's kind is only a position, never another partition
    pos = shop.as_seller("s1", "GET", "/v1/sellers/s1/purchase-orders?limit=1").body
    mixed = shop.as_seller("s1", "GET", f"/v1/sellers/s1/orders?cursor={pos['next_cursor']}")
    assert mixed.status == 200 and all(i["order_id"].startswith("o") for i in mixed.body["items"])
