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
from backorders.domain.models import Grn, Order
from backorders.services import ordering

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
store = Store()


# One batch's GRNs, parsed once, and the orders they have goods for, read in one batch.
grns: dict[str, Grn] = {}
orders: dict[tuple[str, str], tuple[Order, int]] = {}


def read_batch(records: list[dict]) -> None:
    grns.clear()
    orders.clear()
    for raw in records:
        try:
            record = DynamoDBRecord(raw)
            grns[record.event_id or ""] = Grn.model_validate(new_image(record))
        except Exception:  # a record that cannot be read fails on its own, in its turn
            continue
    keys = [(grn.seller_id, order_id) for grn in grns.values() for order_id in grn.share_orders()]
    if keys:
        orders.update(store.order_versions(keys))


def assign(record: DynamoDBRecord) -> None:
    grn = grns.get(record.event_id or "") or Grn.model_validate(new_image(record))
    logger.set_correlation_id(grn.source_order_id)
    given, _ = ordering.assign_goods_received(store, grn, read=orders)
    metrics.add_metric(name="GoodsAssigned", unit=MetricUnit.Count, value=1)
    logger.info(
        "goods received assigned",
        extra={"grn_id": grn.grn_id, "po_id": grn.po_id, "order_statuses": {o.order_id: o.status for o in given}},
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    read_batch(event.get("Records", []))
    return process_partial_response(event=event, record_handler=assign, processor=processor, context=context)
