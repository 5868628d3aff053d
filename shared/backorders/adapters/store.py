"""Where each thing lives in DynamoDB, and how it is read and written.

Every key starts with its account (`SELLER#<id>` or `VENDOR#<id>`):

| table      | pk                              | sk                          | item                     |
|------------|---------------------------------|-----------------------------|--------------------------|
| accounts   | SELLER#s                        | PROFILE                     | seller                   |
| accounts   | VENDOR#v                        | PROFILE                     | vendor                   |
| accounts   | SELLER#s                        | SKU#<sku>                   | SKU -> vendor mapping    |
| inventory  | SELLER#s#SKU#<sku>              | BIN#<location>#<bin>        | stock in one bin         |
| inventory  | SELLER#s#SKU#<sku>              | SUMMARY                     | ordered on POs, returns due |
| inventory  | SELLER#s#SKU#<sku>              | WAIT#<ordered at>#<order>#<line> | a line waiting for stock |
| inventory  | SELLER#s#ADJUSTMENT#<id>        | ADJUSTMENT                  | an inventory adjustment  |
| inventory  | SELLER#s#RETURN#<id>            | RETURN                      | a customer return        |
| orders     | SELLER#s#ORDER#<id>             | ORDER                       | order with its lines     |
| purchasing | SELLER#s                        | PO#<po_id>                  | purchase order           |
| purchasing | SELLER#s                        | GRN#<grn_id>                | GRN (manual, or goods that wait for the stream) |
| purchasing | SELLER#s                        | WINDOW#<vendor_id>          | vendor's latest open PO  |
| purchasing | VENDOR#v                        | VORDER#<vendor_order_id>    | vendor (B2B) order, with its handovers |

One Query of a SKU's partition gives everything the stock view shows. Every GRN is kept on
its PO (`grns`); one has an item of its own only when something reads it by id (a manual
GRN's reference) or its goods wait for the purchasing stream. What came in on POs is on
the Default Bin (`received_on_pos`), which a receipt writes anyway.
Orders, POs and vendor orders carry a `version`; every update is conditional on the
version it read, so concurrent stages never overwrite each other.
"""

from __future__ import annotations

import math
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from backorders import topology
from backorders.adapters import dynamo
from backorders.adapters.config import Settings, settings
from backorders.adapters.dynamo import Write, delete, put, update
from backorders.domain.models import (
    SURPLUS_PREFIX,
    Grn,
    Order,
    PurchaseOrder,
    Return,
    Seller,
    SkuSummary,
    StockBin,
    Vendor,
    VendorOrder,
    WaitingLine,
)
from backorders.domain.skus import digest as sku_digest


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- keys -------------------------------------------------------------------------


def seller_key(seller_id: str) -> dict:
    return {"pk": f"SELLER#{seller_id}", "sk": "PROFILE"}


def vendor_key(vendor_id: str) -> dict:
    return {"pk": f"VENDOR#{vendor_id}", "sk": "PROFILE"}


def mapping_key(seller_id: str, sku: str) -> dict:
    return {"pk": f"SELLER#{seller_id}", "sk": f"SKU#{sku}"}


def stock_pk(seller_id: str, sku: str) -> str:
    return f"SELLER#{seller_id}#SKU#{sku}"


def bin_key(seller_id: str, sku: str, location: str, bin_: str) -> dict:
    return {"pk": stock_pk(seller_id, sku), "sk": f"BIN#{location}#{bin_}"}


def summary_key(seller_id: str, sku: str) -> dict:
    return {"pk": stock_pk(seller_id, sku), "sk": "SUMMARY"}


def waiting_line_sku(pk: str) -> tuple[str, str]:
    """(seller id, SKU) of a stock partition key; ids hold no `#`, a SKU may."""
    _, seller_id, _, sku = pk.split("#", 3)
    return seller_id, sku


def waiting_key(order: Order, line_index: int) -> dict:
    sk = f"WAIT#{order.created_at}#{order.order_id}#{line_index:03d}"
    return {"pk": stock_pk(order.seller_id, order.lines[line_index].sku), "sk": sk}


def return_key(seller_id: str, return_id: str) -> dict:
    return {"pk": f"SELLER#{seller_id}#RETURN#{return_id}", "sk": "RETURN"}


def adjustment_key(seller_id: str, adjustment_id: str) -> dict:
    return {"pk": f"SELLER#{seller_id}#ADJUSTMENT#{adjustment_id}", "sk": "ADJUSTMENT"}


def order_key(seller_id: str, order_id: str) -> dict:
    return {"pk": f"SELLER#{seller_id}#ORDER#{order_id}", "sk": "ORDER"}


def po_key(seller_id: str, po_id: str) -> dict:
    return {"pk": f"SELLER#{seller_id}", "sk": f"PO#{po_id}"}


def window_key(seller_id: str, vendor_id: str) -> dict:
    """Points at the vendor's latest PO opened for a consolidation window (joined while open)."""
    return {"pk": f"SELLER#{seller_id}", "sk": f"WINDOW#{vendor_id}"}


def grn_key(seller_id: str, grn_id: str) -> dict:
    return {"pk": f"SELLER#{seller_id}", "sk": f"GRN#{grn_id}"}


def vendor_order_key(vendor_id: str, vendor_order_id: str) -> dict:
    return {"pk": f"VENDOR#{vendor_id}", "sk": f"VORDER#{vendor_order_id}"}


def early_cancellation_key(seller_id: str, order_id: str) -> dict:
    return {"pk": f"SELLER#{seller_id}#ORDER#{order_id}", "sk": "CANCELLED_EARLY"}


def channel_key(seller_id: str, channel_id: str) -> dict:
    return {"pk": f"SELLER#{seller_id}", "sk": f"CHANNEL#{channel_id}"}


def deliveries_pk(seller_id: str, channel_id: str) -> str:
    return f"SELLER#{seller_id}#CHANNEL#{channel_id}"


DELIVERY = "DELIVERY#"
ENDPOINT = "ENDPOINT#"
ATTEMPT = "ATTEMPT#"


def account_pk(kind: str, account_id: str) -> str:
    return f"{'SELLER' if kind == 'seller' else 'VENDOR'}#{account_id}"


def endpoint_key(kind: str, account_id: str, endpoint_id: str) -> dict:
    return {"pk": account_pk(kind, account_id), "sk": f"{ENDPOINT}{endpoint_id}"}


def endpoint_pk(kind: str, account_id: str, endpoint_id: str, generation: str) -> str:
    """The partition of an endpoint's messages and attempts. An endpoint deleted and made
    again under its id is a new generation: nothing of the old one reaches or shows in it."""
    return f"{account_pk(kind, account_id)}#{ENDPOINT}{endpoint_id}#{generation}"


def webhook_message_key(kind: str, account_id: str, endpoint_id: str, generation: str, webhook_id: str) -> dict:
    return {"pk": endpoint_pk(kind, account_id, endpoint_id, generation), "sk": f"MESSAGE#{webhook_id}"}

# --- the lists (topology.LISTS): one index partition per list, newest first -----------


def orders_list_pk(seller_id: str) -> str:
    return f"SELLER#{seller_id}#ORDERS"


def purchase_orders_list_pk(seller_id: str) -> str:
    return f"SELLER#{seller_id}#POS"


def vendor_orders_list_pk(vendor_id: str) -> str:
    return f"VENDOR#{vendor_id}#ORDERS"


def list_keys(list_pk: str, created_at: str, item_id: str) -> dict:
    """The index keys that put an item in a list, sorted by when it was made (ids hold no
    `#`, so the id is what follows the last one)."""
    return {topology.LISTS.partition_key: list_pk, topology.LISTS.sort_key: f"{created_at}#{item_id}"}


# --- open work (topology.WORK): what the reconciler reads -----------------------------

# ORDER: open orders (a pass looks at the young ones and a slice of the older); STUCK:
# open orders with a line waiting for a fix (every pass looks at them all); WINDOW: open POs
WORK_ORDER, WORK_STUCK, WORK_WINDOW = "ORDER", "STUCK", "WINDOW"
OPEN_ORDER_STATUSES = frozenset({"accepting", "received", "backordered"})
WORK_KEYS = (topology.WORK.partition_key, topology.WORK.sort_key)


def _work_slot(key: dict) -> int:
    return zlib.crc32(f"{key['pk']}/{key['sk']}".encode())


def work_keys(kind: str, key: dict, due: str) -> dict:
    """The keys that put an item in the work index: `<kind>#<shard>` (the shard from the
    item's own key, so it never changes), and when the work is due."""
    shard = _work_slot(key) % topology.WORK_SHARDS
    return {topology.WORK.partition_key: f"{kind}#{shard}", topology.WORK.sort_key: due}


@dataclass(frozen=True)
class Sweep:
    """Which open work one pass of the reconciler looks at: all that became due `since`
    then, and of the older work one slice of `slices` (by the item's key, as the shard),
    slice `number % slices`. Consecutive passes look at every older item once."""

    number: int
    slices: int
    since: str

    def slot(self, key: dict) -> int:
        """The slice an item's work is in."""
        return _work_slot(key) % self.slices

    def takes(self, key: dict) -> bool:
        return self.slot(key) == self.number % self.slices

    def may_take_from(self, shard: int) -> bool:
        """Whether a shard holds any of this pass's slice (a slot's shard and slice agree
        modulo the gcd of their counts)."""
        common = math.gcd(topology.WORK_SHARDS, self.slices)
        return shard % common == self.number % common


def order_work(order: Order, receipts_pending: bool = False) -> dict:
    """An order is open work until it is ready or cancelled, and a cancelled one until the
    goods received for it are given to it (and so to free stock)."""
    if order.status not in OPEN_ORDER_STATUSES and not receipts_pending:
        return {}
    kind = WORK_STUCK if order.status in OPEN_ORDER_STATUSES and order.waits_for_a_fix() else WORK_ORDER
    return work_keys(kind, order_key(order.seller_id, order.order_id), order.created_at)


def window_work(po: PurchaseOrder) -> dict:
    """An open PO is work due when its consolidation window closes."""
    if po.status != "open" or po.closes_at is None:
        return {}
    return work_keys(WORK_WINDOW, po_key(po.seller_id, po.po_id), po.closes_at)


# A filtered list reads at most this many index pages a request: a rare status or SKU
# then gives a short (even empty) page with a next_cursor, never an unbounded read.
LIST_READS = 5

NOT_EXISTS = "attribute_not_exists(#pk)"
SAME_VERSION = "#version = :version"


class BinsWhenAsked(Mapping[str, list[StockBin]]):
    """A SKU -> bins mapping that reads a SKU's bins on first use: a step that plans lines
    until its budget runs out reads the bins of those lines only. `read`: bins already
    read (BinsSeen's, shared by the records of one batch)."""

    def __init__(self, store: Store, seller_id: str, read: dict[str, list[StockBin]] | None = None):
        self._store, self._seller_id = store, seller_id
        self._read: dict[str, list[StockBin]] = {} if read is None else read

    def __getitem__(self, sku: str) -> list[StockBin]:
        if sku not in self._read:
            self._read[sku] = self._store.bins(self._seller_id, sku)
        return self._read[sku]

    def __iter__(self):
        return iter(self._read)

    def __len__(self) -> int:
        return len(self._read)


class BinsSeen:
    """The bins read while one batch of stream records is handled, per seller and SKU, so
    that records of the same SKUs query them once. Planning on bins read a moment ago is
    as safe as on bins just read: a take is conditional on the stock still being there (a
    refused step reads afresh), and stock that arrived since is offered to the lines when
    they join the queue. The SKUs a step took stock of are read again."""

    def __init__(self, store: Store):
        self._store = store
        self._read: dict[str, dict[str, list[StockBin]]] = {}

    def of(self, seller_id: str) -> BinsWhenAsked:
        return BinsWhenAsked(self._store, seller_id, self._read.setdefault(seller_id, {}))

    def clear(self) -> None:
        self._read.clear()

    def forget(self, seller_id: str, skus: Iterable[str] | None = None) -> None:
        """Read these SKUs' bins (all of the seller's: None) afresh next time."""
        read = self._read.get(seller_id, {})
        for sku in list(read) if skus is None else skus:
            read.pop(sku, None)


def _stock_items(items: Iterable[dict]) -> tuple[list[StockBin], list[WaitingLine], SkuSummary]:
    """A SKU partition's items, read in sort key order, by kind."""
    bins, waiting, summary = [], [], SkuSummary()
    for item in items:
        kind = item["sk"].split("#", 1)[0]
        if kind == "BIN":
            bins.append(StockBin.model_validate(item))
        elif kind == "WAIT":
            waiting.append(WaitingLine.model_validate(item))
        elif kind == "SUMMARY":
            summary = SkuSummary.model_validate(item)
    return bins, waiting, summary


class Store:
    """Entity-level reads and the writes each step makes, for one set of tables."""

    def __init__(self, config: Settings | None = None, tables: dynamo.Tables | None = None):
        config = config or settings()
        self.tables = tables or dynamo.DynamoTables()
        self.accounts = config.table(topology.ACCOUNTS)
        self.inventory = config.table(topology.INVENTORY)
        self.orders = config.table(topology.ORDERS)
        self.purchasing = config.table(topology.PURCHASING)

    # --- the one way writes reach the tables ----------------------------------------

    def commit(self, writes: list[Write]) -> None:
        """One step: see `dynamo.commit` (conflicts become `RetryableConflict`)."""
        dynamo.commit(writes, self.tables)

    def write(self, write: Write) -> None:
        """One conditional write; a refusal is raised as `WriteRefused`, whatever its cause."""
        self.tables.transact([write])

    # --- reads ----------------------------------------------------------------------

    def seller(self, seller_id: str) -> Seller | None:
        item = self.tables.get(self.accounts, seller_key(seller_id))
        return Seller.model_validate(item) if item else None

    def vendor(self, vendor_id: str) -> Vendor | None:
        item = self.tables.get(self.accounts, vendor_key(vendor_id))
        return Vendor.model_validate(item) if item else None

    def vendors(self, vendor_ids: set[str]) -> dict[str, Vendor]:
        items = self.tables.batch_get(self.accounts, [vendor_key(v) for v in sorted(vendor_ids)])
        return {i["vendor_id"]: Vendor.model_validate(i) for i in items}

    def mappings(self, seller_id: str, skus: set[str]) -> dict[str, str | None]:
        return {sku: m.get("vendor_id") for sku, m in self.mapping_records(seller_id, skus).items()}

    def mapping_records(self, seller_id: str, skus: set[str]) -> dict[str, dict]:
        """sku -> its mapping as stored (vendor_id, min_order_qty, pack_size)."""
        items = self.tables.batch_get(self.accounts, [mapping_key(seller_id, s) for s in sorted(skus)])
        return {i["sku"]: i for i in items}

    def stock_shards(self, seller_id: str, sku: str) -> int:
        """How many shards the SKU's Default Bin is spread over (its mapping's; 1 unmapped)."""
        found = self.mapping_records(seller_id, {sku}).get(sku)
        return int(found.get("stock_shards", 1)) if found else 1

    def bins(self, seller_id: str, sku: str) -> list[StockBin]:
        return [StockBin.model_validate(i) for i in self.tables.query(self.inventory, stock_pk(seller_id, sku), "BIN#")]

    def bins_by_sku(self, seller_id: str, skus: set[str]) -> dict[str, list[StockBin]]:
        return {sku: self.bins(seller_id, sku) for sku in sorted(skus)}

    def bins_when_asked(self, seller_id: str) -> BinsWhenAsked:
        """Each SKU's bins, read the first time they are asked for."""
        return BinsWhenAsked(self, seller_id)

    def stock_head(self, seller_id: str, sku: str, first: int) -> tuple[list[StockBin], list[WaitingLine], bool]:
        """A SKU's bins and its oldest waiting lines, reading at most `first` items. Bins
        (and the summary) sort before the waiting lines, so when a waiting line was read,
        every bin was. True when the whole partition was read."""
        items = self.tables.query(self.inventory, stock_pk(seller_id, sku), limit=first)
        bins, waiting, _ = _stock_items(items)
        return bins, waiting, len(items) < first

    def stock_partition(self, seller_id: str, sku: str) -> tuple[list[StockBin], list[WaitingLine], SkuSummary]:
        """Bins, waiting lines (oldest first) and summary of one SKU, in one Query."""
        return _stock_items(self.tables.query(self.inventory, stock_pk(seller_id, sku)))

    def stored_return(self, seller_id: str, return_id: str) -> Return | None:
        item = self.tables.get(self.inventory, return_key(seller_id, return_id))
        return Return.model_validate(item) if item else None

    def adjustment(self, seller_id: str, adjustment_id: str) -> dict | None:
        return self.tables.get(self.inventory, adjustment_key(seller_id, adjustment_id))

    def channel(self, seller_id: str, channel_id: str) -> dict | None:
        return self.tables.get(self.accounts, channel_key(seller_id, channel_id))

    def deliveries(self, seller_id: str, channel_id: str, limit: int, after: str | None) -> tuple[list[dict], str | None]:
        """A channel's deliveries, newest first; `after` is the sort key the last page ended at."""
        return self.tables.page(self.accounts, deliveries_pk(seller_id, channel_id), DELIVERY, limit, after)

    def order_cancelled_early(self, seller_id: str, order_id: str) -> bool:
        return self.tables.get(self.orders, early_cancellation_key(seller_id, order_id)) is not None

    def endpoint(self, kind: str, account_id: str, endpoint_id: str) -> dict | None:
        return self.tables.get(self.accounts, endpoint_key(kind, account_id, endpoint_id))

    def endpoints(self, kind: str, account_id: str) -> list[dict]:
        return self.tables.query(self.accounts, account_pk(kind, account_id), ENDPOINT)

    def webhook_message(self, kind: str, account_id: str, endpoint_id: str, generation: str, webhook_id: str) -> dict | None:
        return self.tables.get(self.accounts, webhook_message_key(kind, account_id, endpoint_id, generation, webhook_id))

    def attempts(
        self, kind: str, account_id: str, endpoint_id: str, generation: str, limit: int, after: str | None
    ) -> tuple[list[dict], str | None]:
        """An endpoint's delivery attempts, newest first."""
        return self.tables.page(self.accounts, endpoint_pk(kind, account_id, endpoint_id, generation), ATTEMPT, limit, after)

    def order(self, seller_id: str, order_id: str) -> Order | None:
        item = self.tables.get(self.orders, order_key(seller_id, order_id))
        return Order.model_validate(item) if item else None

    def order_version(self, seller_id: str, order_id: str) -> tuple[Order, int] | None:
        item = self.tables.get(self.orders, order_key(seller_id, order_id))
        return (Order.model_validate(item), int(item["version"])) if item else None

    def order_versions(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[Order, int]]:
        """(seller_id, order_id) -> the order and its version, in one batch read."""
        items = self.tables.batch_get(self.orders, [order_key(s, o) for s, o in dict.fromkeys(keys)])
        return {(i["seller_id"], i["order_id"]): (Order.model_validate(i), int(i["version"])) for i in items}

    def purchase_order(self, seller_id: str, po_id: str) -> tuple[PurchaseOrder, int] | None:
        item = self.tables.get(self.purchasing, po_key(seller_id, po_id))
        return (PurchaseOrder.model_validate(item), int(item["version"])) if item else None

    def po_window(self, seller_id: str, vendor_id: str) -> str | None:
        """The id of the vendor's latest PO opened for a consolidation window, if any."""
        item = self.tables.get(self.purchasing, window_key(seller_id, vendor_id))
        return str(item["po_id"]) if item else None

    # --- the lists: a page of items, newest first, and the list key it ended at ------

    def _list_page(
        self, table: str, list_pk: str, key_of: Callable[[str], dict], limit: int, after: str | None,
        statuses: Sequence[str] = (), sku: str | None = None,
    ) -> tuple[list[dict], str | None]:
        """Whole items of one list page, and the list sort key it ended at (None on the last
        page). `after` is where the previous page ended. The index holds keys and SKU
        digests only (status changes never write it), so the SKU filter runs on the index
        and the status filter on the items, read in one batch per index page. A filtered
        list reads at most LIST_READS index pages per request."""
        index = topology.LISTS
        start = None
        if after is not None:
            start = {index.partition_key: list_pk, index.sort_key: after, **key_of(after.rsplit("#", 1)[1])}
        condition, values = ("contains(#skus, :sku)", {":sku": sku_digest(sku)}) if sku is not None else (None, None)
        filtered = bool(statuses) or sku is not None
        read = max(limit + 1, 100) if filtered else limit + 1  # one more: is this page the last?
        matches: list[dict] = []
        for _ in range(LIST_READS if filtered else 1):
            listed, last = self.tables.index_page(table, index, list_pk, read, start, condition, values)
            wanted = listed if filtered else listed[:limit]
            items = {(i["pk"], i["sk"]): i for i in self.tables.batch_get(table, [{"pk": i["pk"], "sk": i["sk"]} for i in wanted])}
            # in list order; an item deleted between the two reads is left out
            found = [items[(i["pk"], i["sk"])] for i in wanted if (i["pk"], i["sk"]) in items]
            matches += [i for i in found if not statuses or i.get("status") in statuses]
            if len(matches) > limit:
                page = matches[:limit]
                return page, page[-1][index.sort_key]
            if not filtered and len(listed) > limit:
                return matches, wanted[-1][index.sort_key]
            if last is None:
                return matches, None
            start = last
        return matches, last[index.sort_key] if last is not None else None

    def orders_page(
        self, seller_id: str, limit: int, after: str | None, statuses: Sequence[str] = (), sku: str | None = None
    ) -> tuple[list[Order], str | None]:
        items, last = self._list_page(
            self.orders, orders_list_pk(seller_id), lambda order_id: order_key(seller_id, order_id), limit, after, statuses, sku
        )
        return [Order.model_validate(i) for i in items], last

    def purchase_orders_page(
        self, seller_id: str, limit: int, after: str | None, statuses: Sequence[str] = ()
    ) -> tuple[list[PurchaseOrder], str | None]:
        items, last = self._list_page(
            self.purchasing, purchase_orders_list_pk(seller_id), lambda po_id: po_key(seller_id, po_id), limit, after, statuses
        )
        return [PurchaseOrder.model_validate(i) for i in items], last

    def vendor_orders_page(
        self, vendor_id: str, limit: int, after: str | None, statuses: Sequence[str] = ()
    ) -> tuple[list[VendorOrder], str | None]:
        items, last = self._list_page(
            self.purchasing, vendor_orders_list_pk(vendor_id), lambda vo_id: vendor_order_key(vendor_id, vo_id), limit, after, statuses
        )
        return [VendorOrder.model_validate(i) for i in items], last

    def vendor_orders_by_key(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], VendorOrder]:
        """(vendor_id, vendor_order_id) -> the vendor order, one batch read."""
        items = self.tables.batch_get(self.purchasing, [vendor_order_key(v, vo) for v, vo in dict.fromkeys(keys)])
        found = (VendorOrder.model_validate(i) for i in items)
        return {(vo.vendor_id, vo.vendor_order_id): vo for vo in found}

    def vendor_order(self, vendor_id: str, vendor_order_id: str) -> tuple[VendorOrder, int] | None:
        item = self.tables.get(self.purchasing, vendor_order_key(vendor_id, vendor_order_id))
        return (VendorOrder.model_validate(item), int(item["version"])) if item else None

    def grn(self, seller_id: str, grn_id: str) -> Grn | None:
        item = self.tables.get(self.purchasing, grn_key(seller_id, grn_id))
        return Grn.model_validate(item) if item else None

    # --- repairs: the open work (topology.WORK), for the periodic reconciler only ------
    # They return raw items: the reconciler parses each on its own, so one it cannot
    # parse stops only itself.

    def _due(self, table: str, kind: str, before: str, sweep: Sweep | None = None) -> list[dict]:
        """The items of one kind of open work due before then (of `sweep`'s only), read in full."""
        keys: list[dict] = []
        for shard in range(topology.WORK_SHARDS):
            pk = f"{kind}#{shard}"
            if sweep is None:
                entries = self.tables.index_due(table, topology.WORK, pk, before)
            elif sweep.may_take_from(shard):
                entries = (
                    e for e in self.tables.index_due(table, topology.WORK, pk, before)
                    if e[topology.WORK.sort_key] >= sweep.since or sweep.takes(e)
                )
            else:  # none of the older work here is this pass's: only the recent is read
                entries = self.tables.index_due(table, topology.WORK, pk, before, sweep.since)
            keys.extend({"pk": e["pk"], "sk": e["sk"]} for e in entries)
        return self.tables.batch_get(table, keys) if keys else []

    def orders_in_progress(self, created_before: str, sweep: Sweep | None = None) -> list[dict]:
        """Orders not yet ready or cancelled, received before then (all, or `sweep`'s),
        and every one with a line waiting for a fix."""
        return self._due(self.orders, WORK_STUCK, created_before) + self._due(self.orders, WORK_ORDER, created_before, sweep)

    def overdue_windows(self, closing_before: str) -> list[dict]:
        """Open POs whose consolidation window should have closed before then."""
        return self._due(self.purchasing, WORK_WINDOW, closing_before)

    # --- writes: each returns the Write, the caller decides what goes in one step ---

    def put_account(self, key: dict, data: dict, *, create: bool) -> Write:
        item = {**key, **data}
        if create:
            return put(self.accounts, item, NOT_EXISTS)
        # An update keeps the credentials issued at creation.
        fields = {k: v for k, v in data.items() if k not in ("webhook_secret", "api_key_sha256")}
        return update(
            self.accounts,
            key,
            "SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            "attribute_exists(#pk)",
            values={f":{k}": v for k, v in fields.items()},
        )

    def rotate_credentials(self, account: Seller | Vendor, fields: dict[str, Any]) -> Write:
        """Replace credentials, if nobody rotated them since `account` was read."""
        key = seller_key(account.seller_id) if isinstance(account, Seller) else vendor_key(account.vendor_id)
        sets = [f"#{k} = :{k}" for k, v in fields.items() if v is not None]
        removes = [f"#{k}" for k, v in fields.items() if v is None]
        expression = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
        values = {f":{k}": v for k, v in fields.items() if v is not None}
        condition = "#api_key_sha256 = :old_key"
        values[":old_key"] = account.api_key_sha256
        if isinstance(account, Seller):
            condition += " AND #webhook_secret = :old_secret"
            values[":old_secret"] = account.webhook_secret
        return update(self.accounts, key, expression.strip(), condition, values=values)

    def put_mapping(
        self, seller_id: str, sku: str, vendor_id: str | None, min_order_qty: int = 1, pack_size: int = 1, stock_shards: int = 1
    ) -> Write:
        item = {**mapping_key(seller_id, sku), "entity": "SKU_MAPPING", "seller_id": seller_id, "sku": sku}
        terms = {"min_order_qty": min_order_qty, "pack_size": pack_size}
        return put(self.accounts, {**item, "vendor_id": vendor_id, **terms, "stock_shards": stock_shards, "updated_at": now()})

    def put_channel(self, seller_id: str, channel_id: str, data: dict, *, create: bool) -> Write:
        """A marketplace channel; an update replaces kind and secret of the one read."""
        item = {**channel_key(seller_id, channel_id), "entity": "CHANNEL", "seller_id": seller_id, "channel_id": channel_id, **data}
        return put(self.accounts, item, NOT_EXISTS if create else "attribute_exists(#pk)", guard=True)

    def put_early_cancellation(self, seller_id: str, order_id: str) -> Write:
        """A marketplace cancelled an order before it arrived here (its stream record is
        no order: the orders stream's filters pass it by)."""
        item = {**early_cancellation_key(seller_id, order_id), "entity": "EARLY_CANCELLATION", "seller_id": seller_id}
        return put(self.orders, {**item, "order_id": order_id, "created_at": now()}, NOT_EXISTS)

    def put_delivery(self, seller_id: str, channel_id: str, record: dict) -> Write:
        """One delivery as received; its key orders the list by time (ms), then a random tail."""
        sk = f"{DELIVERY}{record['received_at']}#{uuid.uuid4().hex[:12]}"
        return put(self.accounts, {"pk": deliveries_pk(seller_id, channel_id), "sk": sk, "entity": "DELIVERY", **record})

    def put_endpoint(self, kind: str, account_id: str, endpoint_id: str, data: dict, *, create: bool) -> Write:
        key = endpoint_key(kind, account_id, endpoint_id)
        item = {**key, "entity": "ENDPOINT", "account": kind, "account_id": account_id, "endpoint_id": endpoint_id, **data}
        return put(self.accounts, item, NOT_EXISTS if create else "attribute_exists(#pk)", guard=True)

    def delete_endpoint(self, kind: str, account_id: str, endpoint_id: str) -> Write:
        return delete(self.accounts, endpoint_key(kind, account_id, endpoint_id), "attribute_exists(#pk)")

    def disable_endpoint(self, kind: str, account_id: str, endpoint_id: str, reason: str) -> Write:
        return update(
            self.accounts,
            endpoint_key(kind, account_id, endpoint_id),
            "SET #status = :disabled, #disabled_reason = :reason, #updated_at = :now",
            "attribute_exists(#pk)",
            values={":disabled": "disabled", ":reason": reason, ":now": now()},
        )

    def take_endpoint_slot(self, kind: str, account_id: str, endpoint_id: str, slot: int, until: int, at: int) -> Write:
        """One of an endpoint's sending slots, free or left by a sender that stopped."""
        return update(
            self.accounts,
            endpoint_key(kind, account_id, endpoint_id),
            f"SET #slot_{slot} = :until",
            f"attribute_exists(#pk) AND (attribute_not_exists(#slot_{slot}) OR #slot_{slot} < :at)",
            values={":until": until, ":at": at},
        )

    def release_endpoint_slot(self, kind: str, account_id: str, endpoint_id: str, slot: int, until: int) -> Write:
        return update(
            self.accounts,
            endpoint_key(kind, account_id, endpoint_id),
            f"SET #slot_{slot} = :zero",
            f"#slot_{slot} = :until",
            values={":zero": 0, ":until": until},
        )

    def put_webhook_message(self, kind: str, account_id: str, endpoint_id: str, generation: str, record: dict) -> Write:
        """An event for one endpoint, once: its id comes from its cause."""
        key = webhook_message_key(kind, account_id, endpoint_id, generation, record["webhook_id"])
        return put(self.accounts, {**key, "entity": "WEBHOOK_MESSAGE", **record}, NOT_EXISTS)

    def claim_webhook_attempt(
        self, kind: str, account_id: str, endpoint_id: str, generation: str, webhook_id: str, attempt: int, at: int, until: int
    ) -> Write:
        """Attempt `attempt` is ours to make: the one before it is done, and nobody is making
        this one (or whoever was stopped before `until` ran out)."""
        return update(
            self.accounts,
            webhook_message_key(kind, account_id, endpoint_id, generation, webhook_id),
            "SET #attempts = :n, #sending_until = :until",
            "#status = :pending AND #done = :prev AND (#attempts = :prev OR #sending_until < :at)",
            values={":n": attempt, ":prev": attempt - 1, ":pending": "pending", ":until": until, ":at": at},
        )

    def finish_webhook_attempt(
        self, kind: str, account_id: str, endpoint_id: str, generation: str, webhook_id: str, attempt: int, status: str, next_at: str | None
    ) -> Write:
        return update(
            self.accounts,
            webhook_message_key(kind, account_id, endpoint_id, generation, webhook_id),
            "SET #done = :n, #status = :status, #next_attempt_at = :next, #updated_at = :now",
            "#attempts = :n AND #done = :prev",
            values={":n": attempt, ":prev": attempt - 1, ":status": status, ":next": next_at, ":now": now()},
            guard=True,
        )

    def put_attempt(self, kind: str, account_id: str, endpoint_id: str, generation: str, record: dict) -> Write:
        sk = f"{ATTEMPT}{record['at']}#{record['webhook_id']}#{record['attempt']:02d}"
        pk = endpoint_pk(kind, account_id, endpoint_id, generation)
        return put(self.accounts, {"pk": pk, "sk": sk, "entity": "WEBHOOK_ATTEMPT", **record})

    def put_adjustment(self, seller_id: str, record: dict) -> Write:
        item = {**adjustment_key(seller_id, record["adjustment_id"]), "entity": "ADJUSTMENT", **record}
        return put(self.inventory, item, NOT_EXISTS)

    def change_bin(
        self,
        seller_id: str,
        sku: str,
        location: str,
        bin_: str,
        *,
        available: int = 0,
        assigned: int = 0,
        reserved: int = 0,
        received_on_pos: int = 0,
        need_available: int = 0,
        need_reserved: int = 0,
        guard: bool = False,
    ) -> Write:
        """Move stock between a bin's figures; creates the bin on first use.

        `need_*` are the conditions that keep stock from going negative; `guard` when
        they come from a read of the bin (refused: stock moved since, read again).
        """
        sets = ["#entity = :entity", "#seller_id = :seller", "#sku = :sku", "#location = :loc", "#bin = :bin"]
        values: dict[str, Any] = {
            ":entity": "STOCK_BIN",
            ":seller": seller_id,
            ":sku": sku,
            ":loc": location,
            ":bin": bin_,
            ":zero": 0,
        }
        for name, delta in (("available", available), ("assigned", assigned), ("reserved", reserved)):
            values[f":{name}"] = delta
            sets.append(f"#{name} = if_not_exists(#{name}, :zero) + :{name}")
        if received_on_pos:
            values[":received_on_pos"] = received_on_pos
            sets.append("#received_on_pos = if_not_exists(#received_on_pos, :zero) + :received_on_pos")
        conditions = []
        if need_available:
            conditions.append("#available >= :need_available")
            values[":need_available"] = need_available
        if need_reserved:
            conditions.append("#reserved >= :need_reserved")
            values[":need_reserved"] = need_reserved
        return update(
            self.inventory,
            bin_key(seller_id, sku, location, bin_),
            "SET " + ", ".join(sets),
            " AND ".join(conditions) or None,
            values=values,
            guard=guard,
        )

    def mark_offer_when_received(self, seller_id: str, sku: str, location: str, bin_: str) -> Write:
        """The bin holds goods received for orders while free stock waits: its write that
        gives out the last of them is then passed to the free stock offer."""
        return update(
            self.inventory,
            bin_key(seller_id, sku, location, bin_),
            "SET #offer_when_received = :yes",
            "attribute_exists(#pk)",
            values={":yes": True},
        )

    def offer_again(self, seller_id: str, sku: str, location: str, bin_: str) -> Write:
        """Write a bin with stock available again, changing nothing that counts, so that the
        inventory stream offers its stock to the waiting lines (see topology)."""
        return update(self.inventory, bin_key(seller_id, sku, location, bin_), "SET #offered_at = :now", "attribute_exists(#pk)", values={":now": now()})

    def unmark_offer_when_received(self, seller_id: str, sku: str, location: str, bin_: str) -> Write:
        return update(
            self.inventory,
            bin_key(seller_id, sku, location, bin_),
            "REMOVE #offer_when_received",
            "#reserved = :zero",
            values={":zero": 0},
        )

    def waiting_writes(self, before: Order | None, after: Order) -> list[Write]:
        """Keep the per-SKU queue of waiting lines in step with an order's change."""
        old, new = (before.waiting() if before else {}), after.waiting()
        writes = []
        for i in sorted(set(old) | set(new)):
            if old.get(i) == new.get(i):
                continue
            key = waiting_key(after, i)
            if i in new:
                line = after.lines[i]
                item = {"entity": "WAITING_LINE", "order_id": after.order_id, "line_id": line.line_id}
                writes.append(put(self.inventory, {**key, **item, "line_index": i, "pending_qty": new[i]}))
            else:
                writes.append(delete(self.inventory, key))
        return writes

    def change_summary(
        self, seller_id: str, sku: str, *, ordered_on_pos: int = 0, expected_returns: int = 0, surplus: Sequence[PurchaseOrder] = ()
    ) -> Write:
        """ADD to the figures; each PO in `surplus` has its surplus of the SKU set anew (its
        own attribute, removed at 0: the PO is written in the same transaction, versioned)."""
        expression = "SET #entity = :entity, #seller_id = :seller, #sku = :sku"
        values: dict[str, Any] = {":entity": "SKU_SUMMARY", ":seller": seller_id, ":sku": sku, ":po": ordered_on_pos, ":ret": expected_returns}
        names: dict[str, str] = {}
        removed = []
        for n, po in enumerate(surplus):
            names[f"#surplus{n}"] = SURPLUS_PREFIX + po.po_id
            qty = sum(line.surplus_qty for line in po.lines if line.sku == sku)
            if qty > 0:
                expression += f", #surplus{n} = :surplus{n}"
                values[f":surplus{n}"] = {"po_id": po.po_id, "vendor_id": po.vendor_id, "qty": qty, "created_at": po.created_at}
            else:
                removed.append(f"#surplus{n}")
        expression += " ADD #ordered_on_pos :po, #expected_returns :ret"
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        return update(self.inventory, summary_key(seller_id, sku), expression, values=values, names=names)

    def open_po_writes(self, before: PurchaseOrder | None, after: PurchaseOrder) -> list[Write]:
        """Move each SKU's quantity ordered on POs by what a PO change did, and keep its
        surplus (what a new shortfall of the SKU takes first) with it. (What a receipt
        moves is on the Default Bin: `change_bin(received_on_pos=...)`.)"""
        return self.po_summary_writes([(before, after)])

    def po_summary_writes(self, changes: Sequence[tuple[PurchaseOrder | None, PurchaseOrder]]) -> list[Write]:
        """open_po_writes for several POs changed in one transaction: one write per SKU."""
        moved: dict[str, int] = defaultdict(int)
        surplus: dict[str, list[PurchaseOrder]] = defaultdict(list)
        for before, after in changes:
            old = {l.sku: (l.qty, l.surplus_qty) for l in before.lines} if before else {}
            new = {l.sku: (l.qty, l.surplus_qty) for l in after.lines}
            for sku in set(old) | set(new):
                (was_open, was_surplus), (now_open, now_surplus) = old.get(sku, (0, 0)), new.get(sku, (0, 0))
                if now_open != was_open:
                    moved[sku] += now_open - was_open
                if now_surplus != was_surplus:
                    surplus[sku].append(after)
        seller_id = changes[0][1].seller_id if changes else ""
        return [
            self.change_summary(seller_id, sku, ordered_on_pos=moved.get(sku, 0), surplus=surplus.get(sku, ()))
            for sku in sorted(set(moved) | set(surplus))
            if moved.get(sku) or surplus.get(sku)
        ]

    def summaries(self, seller_id: str, skus: set[str]) -> dict[str, SkuSummary]:
        """sku -> its summary (figures and the surplus on order), in one batch."""
        items = self.tables.batch_get(self.inventory, [summary_key(seller_id, s) for s in sorted(skus)])
        return {i["sku"]: SkuSummary.model_validate(i) for i in items}

    def put_return(self, record: Return, fingerprint: str) -> Write:
        item = {**return_key(record.seller_id, record.return_id), "entity": "RETURN", **record.model_dump()}
        return put(self.inventory, {**item, "body_sha256": fingerprint, "created_at": now()}, NOT_EXISTS, guard=True)

    def mark_return_received(self, record: Return) -> Write:
        return update(
            self.inventory,
            return_key(record.seller_id, record.return_id),
            "SET #status = :received, #received_at = :now",
            "#status = :expected",
            values={":received": "received", ":expected": "expected", ":now": now()},
            guard=True,
        )

    def put_order(self, order: Order) -> Write:
        item = {
            **order_key(order.seller_id, order.order_id),
            **list_keys(orders_list_pk(order.seller_id), order.created_at, order.order_id),
            **order_work(order),
            "entity": "ORDER",
            **order.model_dump(exclude={"applied_grns"}),
            "skus": {sku_digest(line.sku) for line in order.lines},  # for the list's SKU filter
            "updated_at": order.created_at,
            "version": 1,
        }
        return put(self.orders, item, NOT_EXISTS)

    def update_order(
        self,
        order: Order,
        version: int,
        *,
        applied_grn: str | None = None,
        expect_status: str | None = None,
        receipts_pending: bool = False,
    ) -> Write:
        """Rewrite an order's lines and status, if nobody changed it since `version`.
        `receipts_pending`: goods received for it are still to be given to it."""
        fields: dict[str, Any] = {
            "status": order.status,
            "lines": [line.model_dump() for line in order.lines],
            "lines_assigned": order.lines_assigned,
            "grn_progress": order.grn_progress,
        }
        add = {"applied_grns": {applied_grn}} if applied_grn else {}
        key = order_key(order.seller_id, order.order_id)
        work = order_work(order, receipts_pending)
        order.updated_at = fields["updated_at"] = now()  # the answer shows what is stored
        return _versioned_update(
            self.orders, key, fields | work, version, expect_status=expect_status, add=add, remove=() if work else WORK_KEYS
        )

    def delete_order(self, order: Order, version: int) -> Write:
        """Remove an order refused after all (its stock was given back first)."""
        return delete(
            self.orders,
            order_key(order.seller_id, order.order_id),
            SAME_VERSION,
            values={":version": version},
            guard=True,
        )

    def put_purchase_order(self, po: PurchaseOrder) -> Write:
        item = {
            **po_key(po.seller_id, po.po_id),
            **list_keys(purchase_orders_list_pk(po.seller_id), po.created_at, po.po_id),
            **window_work(po),
            "entity": "PO",
            **po.model_dump(),
            "updated_at": po.created_at,
            "version": 1,
        }
        return put(self.purchasing, item, NOT_EXISTS)

    def put_vendor_order(self, vo: VendorOrder) -> Write:
        item = {
            **vendor_order_key(vo.vendor_id, vo.vendor_order_id),
            **list_keys(vendor_orders_list_pk(vo.vendor_id), vo.created_at, vo.vendor_order_id),
            "entity": "VENDOR_ORDER",
            **vo.model_dump(),
            "updated_at": vo.created_at,
            "version": 1,
        }
        return put(self.purchasing, item, NOT_EXISTS)

    def update_vendor_order(self, vo: VendorOrder, version: int, *, expect_status: str | None = None) -> Write:
        fields: dict[str, Any] = {"status": vo.status, "lines": [line.model_dump() for line in vo.lines]}
        for name in ("declined_reason", "expected_ship_date", "approved_at"):
            if getattr(vo, name) is not None:
                fields[name] = getattr(vo, name)
        fields["handovers"] = [h.model_dump() for h in vo.handovers]
        vo.updated_at = fields["updated_at"] = now()
        key = vendor_order_key(vo.vendor_id, vo.vendor_order_id)
        return _versioned_update(self.purchasing, key, fields, version, expect_status=expect_status)

    def update_purchase_order(self, po: PurchaseOrder, version: int) -> Write:
        fields: dict[str, Any] = {
            "status": po.status,
            "lines": [line.model_dump() for line in po.lines],
            "grns": [g.model_dump() for g in po.grns],
        }
        if po.approved_at is not None:
            fields["approved_at"] = po.approved_at
        work = window_work(po)
        po.updated_at = fields["updated_at"] = now()
        key = po_key(po.seller_id, po.po_id)
        return _versioned_update(self.purchasing, key, fields | work, version, remove=() if work else WORK_KEYS)

    def open_window(self, po: PurchaseOrder, replacing: str | None) -> Write:
        """Point the seller's shortfalls for the PO's vendor at it (an open PO), where none
        was pointed at, or in place of `replacing` (closed since, or full). Shortfalls join
        the PO pointed at only while it is open."""
        item = {**window_key(po.seller_id, po.vendor_id), "entity": "PO_WINDOW", "po_id": po.po_id, "closes_at": po.closes_at}
        if replacing is None:
            return put(self.purchasing, item, NOT_EXISTS, guard=True)
        return put(self.purchasing, item, "#po_id = :replacing", values={":replacing": replacing}, guard=True)

    def put_grn(self, grn: Grn) -> Write:
        key = grn_key(grn.seller_id, grn.grn_id)
        return put(self.purchasing, {**key, "entity": "GRN", **grn.model_dump()}, NOT_EXISTS, guard=True)


def _versioned_update(
    table: str,
    key: dict,
    fields: dict[str, Any],
    version: int,
    *,
    expect_status: str | None = None,
    add: dict[str, Any] | None = None,
    remove: Iterable[str] = (),
) -> Write:
    """SET `fields` (ADD `add`, REMOVE `remove`) if the item is still at `version`; bumps
    the version. `fields` carries the item's `updated_at`, the same the caller's model now
    shows."""
    values: dict[str, Any] = {f":{k}": v for k, v in fields.items()}
    values |= {":version": version, ":next": version + 1}
    expression = "SET " + ", ".join(f"#{k} = :{k}" for k in fields) + ", #version = :next"
    if add:
        expression += " ADD " + ", ".join(f"#{k} :add_{k}" for k in add)
        values |= {f":add_{k}": v for k, v in add.items()}
    if remove:
        expression += " REMOVE " + ", ".join(f"#{k}" for k in remove)
    condition = SAME_VERSION
    if expect_status:
        condition += " AND #status = :expected"
        values[":expected"] = expect_status
    return update(table, key, expression, condition, values=values, guard=True)
