"""The lists' paging rules, on in-memory tables: many orders without AWS."""

from __future__ import annotations

import pytest

from backorders.adapters import store as store_module
from backorders.adapters.store import Store
from backorders.domain.errors import InvalidRequest
from backorders.domain.models import Order, OrderLine
from backorders.services import lists
from tests.memory_tables import MemoryTables


@pytest.fixture
def store() -> Store:
    store = Store(tables=MemoryTables())
    # 230 orders a millisecond apart; only the oldest is ready, every tenth has SKU "RARE"
    for n in range(230):
        sku = "RARE" if n % 10 == 0 else "MUG"
        order = Order(
            seller_id="s1", order_id=f"o{n:03d}", status="ready" if n == 0 else "backordered", body_sha256="x",
            created_at=f"2026-11-30T10:00:00.{n:03d}+00:00", lines=[OrderLine(line_id="l1", sku=sku, qty=1, pending_qty=1)],
        )
        store.write(store.put_order(order))
    return store


def every_page(store: Store, **query) -> list[list[str]]:
    out, cursor = [], None
    while True:
        page = lists.orders(store, "s1", query.get("status"), query.get("sku"), query.get("limit", 50), cursor)
        out.append([o["order_id"] for o in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def test_pages_hold_limit_orders_newest_first_until_the_last(store):
    got = every_page(store, limit=100)
    assert [len(p) for p in got] == [100, 100, 30]
    assert [o for p in got for o in p] == [f"o{n:03d}" for n in reversed(range(230))]


def test_a_rare_status_reads_a_bounded_number_of_index_pages_per_request(store, monkeypatch):
    monkeypatch.setattr(store_module, "LIST_READS", 1)  # one index page (100 orders) a request
    got = every_page(store, status="ready", limit=10)
    assert got == [[], [], ["o000"]], "short pages with a cursor, then the match, then the end"


def test_the_sku_filter_runs_on_the_index(store):
    got = every_page(store, sku="RARE", limit=7)
    assert [len(p) for p in got] == [7, 7, 7, 2]
    assert [o for p in got for o in p] == [f"o{n:03d}" for n in reversed(range(0, 230, 10))]
    assert every_page(store, sku="RARE", status="ready") == [["o000"]]


def test_a_cursor_no_list_gave_is_refused(store):
    for bad in ("abc", lists.cursor("SELLER#s2#ORDER#o1"), lists.cursor("2026-11-30T10:00:00.000+00:00#o/../x")):
        with pytest.raises(InvalidRequest) as refused:
            lists.orders(store, "s1", None, None, 10, bad)
        assert refused.value.code == "invalid_cursor"
