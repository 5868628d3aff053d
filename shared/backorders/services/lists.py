"""The lists a seller or a vendor pages through: newest first, filtered by status (and,
for orders, by SKU), `limit` per page, `next_cursor` to go on (null on the last page).

They read an index (`topology.LISTS`), never a scan: a filter that matches little
reads a bounded number of index pages per request, so such a page may hold fewer
than `limit` items, and still have a next one."""

from __future__ import annotations

import re

from backorders.adapters.store import Store
from backorders.services import pages
from backorders.services.pages import cursor
from backorders.services.purchasing import po_view

# `<created_at>#<id>`: what a list is sorted by, and what its cursor stands for.
_LIST_SK = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)#[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def after(value: str | None) -> str | None:
    """The list position a cursor stands for. A cursor no list gave is a 400, never a
    read elsewhere: the list (its partition) always comes from the caller's own path."""
    return pages.position(value, lambda key: _LIST_SK.fullmatch(key) is not None)


def orders(store: Store, seller_id: str, status: str | None, sku: str | None, limit: int, cursor_: str | None) -> dict:
    # an order still being accepted in steps shows as received (Order.public)
    statuses = ("accepting", "received") if status == "received" else (status,) if status else ()
    page, last = store.orders_page(seller_id, limit, after(cursor_), statuses, sku)
    return {"items": [order.public() for order in page], "next_cursor": cursor(last)}


def purchase_orders(store: Store, seller_id: str, status: str | None, limit: int, cursor_: str | None) -> dict:
    page, last = store.purchase_orders_page(seller_id, limit, after(cursor_), (status,) if status else ())
    vendor_orders = store.vendor_orders_by_key((po.vendor_id, po.vendor_order_id) for po in page)
    items = [po_view(po, vendor_orders.get((po.vendor_id, po.vendor_order_id))) for po in page]
    return {"items": items, "next_cursor": cursor(last)}


def vendor_orders(store: Store, vendor_id: str, status: str | None, limit: int, cursor_: str | None) -> dict:
    page, last = store.vendor_orders_page(vendor_id, limit, after(cursor_), (status,) if status else ())
    return {"items": [vo.public() for vo in page], "next_cursor": cursor(last)}
