"""Orders stream -> `order.backordered`, `order.ready`, `order.cancelled` for the seller's endpoints."""

from __future__ import annotations

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
from backorders.adapters.streams import attribute, new_image, old_image
from backorders.domain import webhooks
from backorders.domain.models import Order
from backorders.services import notifications

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
store = Store()
queue = MessageQueue(topology.WEBHOOK_DELIVERIES)


def notify(record: DynamoDBRecord) -> None:
    had_old = bool(record.raw_event.get("dynamodb", {}).get("OldImage"))
    old_status = {"status": attribute(record, "OldImage", "status")} if had_old else None
    if webhooks.order_event_type(old_status, {"status": attribute(record, "NewImage", "status")}) is None:
        return  # a step of an order whose status stays: no event, and no need to read the images
    new = new_image(record)
    events = webhooks.order_events(old_image(record), new, lambda: Order.model_validate(new).public())
    if events and (queued := notifications.announce(store, queue, events)):
        metrics.add_metric(name="WebhooksQueued", unit=MetricUnit.Count, value=queued)
        logger.info("webhook events queued", extra={"types": [e.type for e in events], "messages": queued})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=notify, processor=processor, context=context)
