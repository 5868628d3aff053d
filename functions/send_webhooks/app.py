"""Webhook deliveries queue -> one signed attempt to the endpoint; the next on the schedule."""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Import the batch utility before anything imports pydantic (see on_order_created).
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders import topology
from backorders.adapters import outbound
from backorders.adapters.config import settings
from backorders.adapters.queues import MessageQueue
from backorders.adapters.store import Store
from backorders.services import notifications

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
store = Store()
queue = MessageQueue(topology.WEBHOOK_DELIVERIES)


def post(url: str, body: str, headers: dict[str, str]) -> outbound.Answer:
    try:
        return outbound.post(url, body, headers, allow_local=settings().webhooks_allow_local)
    except outbound.Refused as e:  # the host now resolves somewhere it may not go
        return outbound.Answer(None, f"refused: {e}")


def send(record: SQSRecord) -> None:
    outcome = notifications.deliver(store, queue, json.loads(record.body), post, settings().webhook_schedule_s)
    metrics.add_metric(name=f"Webhooks_{outcome}", unit=MetricUnit.Count, value=1)
    logger.info("webhook attempt", extra={"outcome": outcome, "message_id": record.message_id})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=send, processor=processor, context=context)
