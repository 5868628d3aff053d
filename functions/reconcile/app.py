"""Scheduled: finds stuck work and completes it, with a metric per kind of repair."""

from __future__ import annotations

from datetime import datetime, timedelta

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from backorders import topology
from backorders.adapters.config import settings
from backorders.adapters.events import EventBridgePublisher
from backorders.adapters.store import Store
from backorders.services.reconcile import DeadLetters, reconcile

logger = Logger()
metrics = Metrics()
store = Store()
publisher = EventBridgePublisher()
older_than = timedelta(minutes=settings().reconcile_after_minutes)
queue_urls = list(settings().dead_letter_queue_urls)
PASS_SECONDS = topology.RECONCILE_EVERY_MINUTES * 60


class ScheduledEvent(BaseModel):
    """What the schedule delivers: when this pass was due. Invoked by hand with detail
    `{"sweep": "all"}`, a pass looks at all open work, not at its slice of the older work."""

    time: datetime
    detail: dict = {}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    scheduled = ScheduledEvent.model_validate(event)
    pass_number = None if scheduled.detail.get("sweep") == "all" else int(scheduled.time.timestamp() // PASS_SECONDS)
    sqs = boto3.client("sqs") if queue_urls else None
    dead_letters = [DeadLetters(sqs, url) for url in queue_urls]
    repairs = reconcile(
        store, publisher, older_than=older_than, dead_letters=dead_letters, logger=logger, pass_number=pass_number
    )
    for kind, count in repairs.items():
        metrics.add_metric(name=f"Repairs_{kind}", unit=MetricUnit.Count, value=count)
    logger.info("reconciled", extra={"repairs": dict(repairs)})
    return {"repairs": dict(repairs)}
