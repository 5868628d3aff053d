"""Purchasing stream -> `purchase_order.created`, `goods.received` (seller),
`vendor_order.created`, `vendor_order.updated` (vendor), for their endpoints; and for a PO
opened for a consolidation window, the message that closes it on time."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Import the batch utility before anything imports pydantic (see on_order_created).
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders import topology
from backorders.adapters.queues import MessageQueue
from backorders.adapters.store import Store
from backorders.adapters.streams import new_image, old_image
from backorders.domain import rules, webhooks
from backorders.domain.models import Grn, PurchaseOrder, VendorOrder
from backorders.services import notifications

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
store = Store()
queue = MessageQueue(topology.WEBHOOK_DELIVERIES)
windows = MessageQueue(topology.PO_WINDOWS)


def parsed(new: dict) -> PurchaseOrder | VendorOrder | Grn:
    entity = new.get("entity")
    if entity == "PO":
        return PurchaseOrder.model_validate(new)
    if entity == "VENDOR_ORDER":
        return VendorOrder.model_validate(new)
    return Grn.model_validate(new)


def public(item: PurchaseOrder | VendorOrder | Grn) -> dict:
    """The object as the API shows it."""
    if isinstance(item, Grn):
        return item.model_dump(exclude={"body_sha256", "given_on_receipt"}, mode="json")
    return item.public()


def handed_over(old: dict | None, new: dict) -> list[webhooks.Event]:
    """`goods.received` for the GRNs a vendor order's handovers made, read from their PO."""
    made = webhooks.handed_over_grns(old, new)
    found = store.purchase_order(str(new["seller_id"]), str(new["po_id"])) if made else None
    events = []
    for grn_id, handover_id in made:
        grn = Grn.kept_on(found[0], grn_id, handover_id) if found else None
        if grn is None:  # the PO is written in the handover's transaction: a bug, not a race
            raise LookupError(f"GRN {grn_id} of handover {handover_id} is not on PO {new['po_id']}")
        events.append(webhooks.goods_received(grn.seller_id, grn.grn_id, grn.created_at, public(grn)))
    return events


def notify(record: DynamoDBRecord) -> None:
    new = new_image(record)
    old = old_image(record)
    item = parsed(new)
    if old is None and isinstance(item, PurchaseOrder):
        # a PO opened for a consolidation window: sent from the stream, so a crash after the
        # PO was written still closes it on time
        due = rules.window_due(item, datetime.now(UTC))
        if due:
            windows.send(due[0].model_dump(), delay_s=due[1])
    events = webhooks.purchasing_events(old, new, public(item)) + handed_over(old, new)
    if events and (queued := notifications.announce(store, queue, events)):
        metrics.add_metric(name="WebhooksQueued", unit=MetricUnit.Count, value=queued)
        logger.info("webhook events queued", extra={"types": [e.type for e in events], "messages": queued})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=notify, processor=processor, context=context)
