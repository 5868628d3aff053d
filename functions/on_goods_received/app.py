"""Purchasing stream (GRN inserts) -> assigns the inwarded goods to their order."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Import the batch utility before anything imports pydantic: when pydantic is already loaded,
# powertools' batch types import its parser models, ~55 ms more at every cold start.
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders.adapters.store import Store
from backorders.adapters.streams import new_image
from backorders.domain.models import Grn
from backorders.services import ordering

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
store = Store()


def assign(record: DynamoDBRecord) -> None:
    grn = Grn.model_validate(new_image(record))
    logger.set_correlation_id(grn.source_order_id)
    orders, _ = ordering.assign_goods_received(store, grn)
    metrics.add_metric(name="GoodsAssigned", unit=MetricUnit.Count, value=1)
    logger.info(
        "goods received assigned",
        extra={"grn_id": grn.grn_id, "po_id": grn.po_id, "order_statuses": {o.order_id: o.status for o in orders}},
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=assign, processor=processor, context=context)
