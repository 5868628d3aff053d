"""Finds work the chain left stuck (retries exhausted, a record parked, a bug since
fixed) and completes it. Every repair calls the same idempotent step the chain would
have run, so a repair of something already done changes nothing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from backorders import ordering, purchasing
from backorders.events import EventBridgePublisher
from backorders.store import Store


def reconcile(
    store: Store,
    publisher: EventBridgePublisher,
    *,
    older_than: timedelta,
    dead_letters: Iterable["DeadLetters"] = (),
    now: datetime | None = None,
) -> Counter:
    """One pass. Returns the number of repairs of each kind (zero kinds omitted)."""
    cutoff = ((now or datetime.now(UTC)) - older_than).isoformat(timespec="milliseconds")
    repairs: Counter = Counter()

    # An order never assigned, or whose shortfall never got a PO or a reason.
    for order in store.orders_in_progress(cutoff):
        if order.status == "received":
            ordering.assign_new_order(store, order.seller_id, order.order_id, lambda _: None)
            repairs["orders_assigned"] += 1
        if store.order(order.seller_id, order.order_id).lines_needing_po():
            purchasing.raise_purchase_orders(store, order.seller_id, order.order_id)
            repairs["shortfalls_resolved"] += 1

    # Goods received (a GRN) and never given to their order.
    for grn in store.grns(cutoff):
        order = store.order(grn.seller_id, grn.source_order_id)
        if order is not None and grn.grn_id not in order.applied_grns:
            ordering.assign_goods_received(store, grn)
            repairs["receipts_assigned"] += 1

    # Stock available while orders wait for it.
    for seller_id, sku in sorted(store.skus_with_waiting_lines()):
        assigned = ordering.assign_free_stock(store, seller_id, sku)
        if assigned:
            repairs["free_stock_assigned"] += assigned

    # Events that exhausted their retries: announce them again.
    for queue in dead_letters:
        repairs["dead_letters_replayed"] += queue.replay(publisher)
    return +repairs


class DeadLetters:
    """A rule target's dead-letter queue (or the function's on-failure destination)."""

    def __init__(self, sqs, queue_url: str):
        self.sqs = sqs
        self.queue_url = queue_url

    def replay(self, publisher: EventBridgePublisher, max_messages: int = 1000) -> int:
        """Put each parked event on the bus again; an unreadable message stays parked."""
        replayed = 0
        for _ in range(max_messages // 10):
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for message in messages:
                try:
                    body = json.loads(message["Body"])
                    event = body.get("requestPayload", body)  # Lambda's on-failure record wraps the event
                    publisher.republish(event["source"], event["detail-type"], event["detail"])
                except (ValueError, KeyError, TypeError):
                    continue
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                replayed += 1
        return replayed
