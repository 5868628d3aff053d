"""Inventory stream (bins with stock available, lines joining the queue) -> the orders
waiting longest get the SKU's free stock."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Import the batch utility before anything imports pydantic: when pydantic is already loaded,
# powertools' batch types import its parser models, ~55 ms more at every cold start.
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders.adapters.store import Store, waiting_line_sku
from backorders.adapters.streams import new_image
from backorders.services import ordering

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
store = Store()


def offer(record: DynamoDBRecord) -> None:
    image = new_image(record)
    if image.get("entity") == "WAITING_LINE":
        seller_id, sku = waiting_line_sku(str(image["pk"]))
    else:
        seller_id, sku = str(image["seller_id"]), str(image["sku"])
    assigned = ordering.assign_free_stock(store, seller_id, sku)
    if assigned:
        metrics.add_metric(name="FreedStockAssigned", unit=MetricUnit.Count, value=assigned)
        logger.info("freed stock assigned to waiting orders", extra={"seller_id": seller_id, "sku": sku, "qty": assigned})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=offer, processor=processor, context=context)
