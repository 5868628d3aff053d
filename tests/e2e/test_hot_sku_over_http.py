"""A flash sale over real HTTP against `backorders local`: many marketplaces post orders
for one SKU at the same time, its Default Bin spread over shards. The API serves them
concurrently, so the stock takes race for real (each a conditional write on a shard)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from tests.e2e.local import Api


def test_a_flash_sale_on_4_shards_never_oversells(api: Api):
    # given a seller who does not allow backorders (an order takes its stock in the webhook's
    # own transaction, or is refused) and 30 units spread over 4 shards
    seller, vendor, sku = api.setup(stock=30, seller_flags={"allow_backorders": False})
    mapped = api.admin("PUT", f"/v1/sellers/{seller}/skus/{quote(sku, safe='')}", {"vendor_id": vendor, "stock_shards": 4})
    assert mapped.status == 200
    shards = api.bins(seller, sku)
    assert sorted(b["available"] for b in shards) == [7, 7, 8, 8]

    def post(order_id: str):
        """As a marketplace does: a 503 (lost the race too often) is sent again."""
        for _ in range(5):
            answer = api.order(seller, order_id, (sku, 1))
            if answer.status != 503:
                return answer
        return answer

    # when 16 marketplaces post 45 orders for 1 at the same time
    order_ids = [f"o{i:02d}" for i in range(45)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(post, order_ids))

    # then exactly 30 are accepted, ready, and 15 refused for want of stock
    statuses = sorted(a.status for a in answers)
    assert statuses == [201] * 30 + [422] * 15, statuses
    accepted = [oid for oid, a in zip(order_ids, answers, strict=True) if a.status == 201]
    for oid in accepted:
        order = api.get_order(seller, oid)
        assert order["status"] == "ready" and order["lines"][0]["assigned_qty"] == 1
    # every shard is empty, none below zero, and the units assigned are the 30 accepted
    shards = api.bins(seller, sku)
    assert len(shards) == 4
    assert all(b["available"] == 0 and b["reserved"] == 0 for b in shards), shards
    assert sum(b["assigned"] for b in shards) == 30
    assert all(b["assigned"] > 0 for b in shards)
