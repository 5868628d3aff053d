"""Orders stream -> assigns available stock to each new order, announces its shortfall."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Import the batch utility before anything imports pydantic: when pydantic is already loaded,
# powertools' batch types import its parser models, ~55 ms more at every cold start.
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders.adapters.events import EventBridgePublisher
from backorders.adapters.store import BinsSeen, Store
from backorders.adapters.streams import new_image
from backorders.domain.models import Order
from backorders.services import ordering

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
store = Store()
publisher = EventBridgePublisher()


# The bins read for one batch's records: a batch of orders for the same SKUs queries them once.
bins = BinsSeen(store)
# (seller, SKU) of the lines this batch's orders have waiting: see the handler.
waiting_for: set[tuple[str, str]] = set()


def assign(record: DynamoDBRecord) -> None:
    image = new_image(record)
    order = Order.model_validate(image)
    logger.set_correlation_id(order.order_id)
    result, _ = ordering.assign_new_order(
        store, order.seller_id, order.order_id, publisher.order_backordered, first_read=(order, int(image["version"])), bins=bins
    )
    if result is not None:
        waiting_for.update((result.seller_id, result.lines[i].sku) for i in result.waiting())
        metrics.add_metric(name="OrdersAssigned", unit=MetricUnit.Count, value=1)
        if result.status == "backordered":
            metrics.add_metric(name="OrdersBackordered", unit=MetricUnit.Count, value=1)
        logger.info("order assigned", extra={"seller_id": order.seller_id, "status": result.status})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    bins.clear()  # what an earlier invocation read is not this batch's
    waiting_for.clear()
    response = process_partial_response(event=event, record_handler=assign, processor=processor, context=context)
    # Stock that came while these lines were joining the queue was offered before they were
    # in it: offered again now. (A failure here fails the batch, which runs again; each
    # record is idempotent and still finds its lines waiting.)
    if ordering.offer_to_lines_that_joined(store, waiting_for):
        metrics.add_metric(name="StockOfferedAgain", unit=MetricUnit.Count, value=1)
    return response
