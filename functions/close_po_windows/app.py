"""PO windows queue -> closes an open PO's consolidation window when due, or asks again later."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Import the batch utility before anything imports pydantic (see on_order_created).
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders import topology
from backorders.adapters.queues import MessageQueue
from backorders.adapters.store import Store
from backorders.domain import rules
from backorders.domain.models import WindowDue
from backorders.services import purchasing

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
store = Store()
queue = MessageQueue(topology.PO_WINDOWS)


def close(record: SQSRecord) -> None:
    due = WindowDue.model_validate_json(record.body)
    left = purchasing.close_window(store, due.seller_id, due.po_id)
    if left is not None:  # a window longer than SQS's longest delay: the message comes back
        queue.send(due.model_dump(), delay_s=rules.window_delay_s(left))
        return
    metrics.add_metric(name="PoWindowsClosed", unit=MetricUnit.Count, value=1)
    logger.info("PO window closed", extra={"seller_id": due.seller_id, "po_id": due.po_id})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=close, processor=processor, context=context)
