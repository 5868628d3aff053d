"""Finds work the chain left stuck (retries exhausted, a record parked, a bug since
fixed) and completes it. Every repair calls the same idempotent step the chain would
have run, so a repair of something already done changes nothing."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from backorders.adapters.store import Store, Sweep
from backorders.domain.errors import RetryableConflict
from backorders.domain.models import Order, PurchaseOrder
from backorders.services import ordering, purchasing

log = logging.getLogger(__name__)


# An order looks stuck once it is older than `older_than` (15 min). A step that failed
# is found by the passes of its first RECENT, each of which looks at all open work that
# young. Older open work is mostly orders waiting days for their vendor: each pass looks
# at one slice of it, SWEEP_SLICES slices a cycle, so each such order is read once every
# 24 passes (6 hours at one pass every 15 minutes), not on every pass.
RECENT = timedelta(hours=1)
SWEEP_SLICES = 24


class Publisher(Protocol):
    """Puts an event on the bus as it was first published (EventBridgePublisher)."""

    def republish(self, source: str, detail_type: str, detail: dict) -> None: ...


class LoggerLike(Protocol):
    """logging's Logger or powertools' (the deployed handler passes its own)."""

    def exception(self, msg: str, *args: Any) -> None: ...
    def error(self, msg: str, *args: Any) -> None: ...


def reconcile(
    store: Store,
    publisher: Publisher,
    *,
    older_than: timedelta,
    dead_letters: Iterable[DeadLetters] = (),
    now: datetime | None = None,
    logger: logging.Logger | LoggerLike | None = None,
    pass_number: int | None = None,
) -> Counter:
    """One pass. Returns the number of repairs of each kind (zero kinds omitted).

    `pass_number`: the pass of the schedule this is (one more each pass); it looks at the
    work of the last RECENT and one slice of the older work. None: at all open work.

    Each item is repaired on its own: one that cannot be read or repaired is logged
    and counted as `failed`, and the pass goes on. A repair is counted only when it
    changed something.
    """
    logger = logger or log
    stuck_before = (now or datetime.now(UTC)) - older_than
    cutoff = stuck_before.isoformat(timespec="milliseconds")
    sweep = None
    if pass_number is not None:
        sweep = Sweep(pass_number, SWEEP_SLICES, since=(stuck_before - RECENT).isoformat(timespec="milliseconds"))
    repairs: Counter = Counter()

    def isolated(what: str, repair: Callable[[], Iterable[str]]) -> None:
        try:
            repairs.update(repair())
        except Exception:
            logger.exception("reconcile: could not repair %s", what)
            repairs["failed"] += 1

    # Each kind of work is read from the work index (topology.WORK), which holds an item
    # only while it may need a repair: a pass reads what is open, not the tables.

    # An order never assigned, whose shortfall never got a PO or a reason, or whose goods
    # received (a GRN) were never given to it.
    waiting: set[tuple[str, str]] = set()
    for item in store.orders_in_progress(cutoff, sweep):
        isolated(f"order {_name(item)}", functools.partial(_repair_order, store, item, waiting))

    # Consolidation windows that should have closed by now (their message was lost).
    for item in store.overdue_windows(cutoff):
        isolated(f"PO window {_name(item)}", functools.partial(_close_window, store, item, now))

    # Stock available while those orders wait for it.
    for seller_id, sku in sorted(waiting):
        isolated(f"free stock of {seller_id}/{sku}", functools.partial(_repair_free_stock, store, seller_id, sku))

    # Events that exhausted their retries: announce them again.
    for queue in dead_letters:
        isolated(f"dead letters of {queue.queue_url}", functools.partial(queue.replay, publisher, logger))
    return +repairs


def _name(item: dict) -> str:
    return f"{item.get('pk')}/{item.get('sk')}"


def _repair_order(store: Store, item: dict, waiting: set[tuple[str, str]]) -> Counter:
    """Finishes what the chain left of one order; adds the SKUs its lines wait for."""
    done: Counter = Counter()
    order = Order.model_validate(item)
    waiting.update((order.seller_id, order.lines[i].sku) for i in order.waiting())
    if order.status in ("backordered", "cancelled"):
        done += _repair_receipts(store, order)
        if order.status == "cancelled":
            return done
    if order.status == "accepting":  # an all-or-nothing acceptance that stopped half way
        done["acceptances_finished"] += ordering.finish_acceptance(store, order.seller_id, order.order_id)
        return done
    if order.status == "received":
        _, assigned = ordering.assign_new_order(store, order.seller_id, order.order_id, lambda _: None)
        done["orders_assigned"] += assigned
    # read again only when a repair may have changed it (most orders looked at wait for
    # their vendor, and need nothing)
    current = store.order(order.seller_id, order.order_id) if done or order.status == "received" else order
    if current is not None and current.lines_needing_po():
        _, changed = purchasing.raise_purchase_orders(store, order.seller_id, order.order_id)
        done["shortfalls_resolved"] += changed
    if current is not None and current.waits_for_a_fix():
        # left without a PO for a cause that may be fixed by now (a mapping, a vendor, the setting)
        done["stuck_lines_healed"] += len(purchasing.heal_order(store, order.seller_id, order.order_id))
    return done


def _repair_receipts(store: Store, order: Order) -> Counter:
    """Gives the order the goods received for it and never given (a cancelled order: to
    free stock). A cancelled order with none left leaves the open work."""
    done: Counter = Counter()
    for grn_id in ordering.receipts_pending(store, order):
        grn = store.grn(order.seller_id, grn_id)
        if grn is not None:
            _, assigned = ordering.assign_goods_received(store, grn)
            done["receipts_assigned"] += int(assigned)
    if order.status == "cancelled":
        found = store.order_version(order.seller_id, order.order_id)
        if found and found[0].status == "cancelled" and not ordering.receipts_pending(store, found[0]):
            with contextlib.suppress(RetryableConflict):  # changed meanwhile: the next pass looks again
                store.commit([store.update_order(found[0], found[1])])
    return done


def _repair_free_stock(store: Store, seller_id: str, sku: str) -> Counter:
    return Counter(free_stock_assigned=ordering.assign_free_stock(store, seller_id, sku))


def _close_window(store: Store, item: dict, at: datetime | None) -> Counter:
    po = PurchaseOrder.model_validate(item)
    closed = purchasing.close_window(store, po.seller_id, po.po_id, at) is None
    return Counter(po_windows_closed=int(closed))


class DeadLetters:
    """A rule target's dead-letter queue (or the function's on-failure destination)."""

    def __init__(self, sqs, queue_url: str):
        self.sqs = sqs
        self.queue_url = queue_url

    def replay(self, publisher: Publisher, logger: logging.Logger | LoggerLike | None = None, max_messages: int = 1000) -> Counter:
        """Put each parked event on the bus again. One that cannot be read (not JSON,
        no event in it) or put on the bus stays parked, logged and counted."""
        logger = logger or log
        done: Counter = Counter()
        for _ in range(max_messages // 10):
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                try:
                    body = json.loads(message["Body"])
                    event = body.get("requestPayload", body)  # Lambda's on-failure record wraps the event
                    source, detail_type, detail = event["source"], event["detail-type"], event["detail"]
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    logger.error(
                        "reconcile: unreadable dead letter %s in %s stays parked: %r",
                        message.get("MessageId"), self.queue_url, e,
                    )
                    done["dead_letters_unreadable"] += 1
                    continue
                try:
                    publisher.republish(source, detail_type, detail)
                except Exception:
                    logger.exception("reconcile: could not replay dead letter %s from %s", message.get("MessageId"), self.queue_url)
                    done["failed"] += 1
                    continue
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                done["dead_letters_replayed"] += 1
        return done
