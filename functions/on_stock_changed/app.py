"""Inventory stream (bins with stock available) -> the orders waiting longest get it."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
# Import the batch utility before anything imports pydantic: when pydantic is already loaded,
# powertools' batch types import its parser models, ~55 ms more at every cold start.
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders import ordering
from backorders.store import Store

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
store = Store()


def offer(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image
    seller_id, sku = str(image["seller_id"]), str(image["sku"])
    assigned = ordering.assign_free_stock(store, seller_id, sku)
    if assigned:
        metrics.add_metric(name="FreedStockAssigned", unit=MetricUnit.Count, value=assigned)
        logger.info("freed stock assigned to waiting orders", extra={"seller_id": seller_id, "sku": sku, "qty": assigned})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=offer, processor=processor, context=context)
