"""Scheduled: finds stuck work and completes it, with a metric per kind of repair."""

from __future__ import annotations

from datetime import timedelta

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

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


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    sqs = boto3.client("sqs") if queue_urls else None
    dead_letters = [DeadLetters(sqs, url) for url in queue_urls]
    repairs = reconcile(store, publisher, older_than=older_than, dead_letters=dead_letters, logger=logger)
    for kind, count in repairs.items():
        metrics.add_metric(name=f"Repairs_{kind}", unit=MetricUnit.Count, value=count)
    logger.info("reconciled", extra={"repairs": dict(repairs)})
    return {"repairs": dict(repairs)}
