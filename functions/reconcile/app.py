"""Scheduled: finds stuck work and completes it, with a metric per kind of repair."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders import topology
from backorders.events import EventBridgePublisher
from backorders.reconcile import DeadLetters, reconcile
from backorders.store import Store

logger = Logger()
metrics = Metrics()
store = Store()
publisher = EventBridgePublisher()
older_than = timedelta(minutes=float(os.environ.get(topology.RECONCILE_AFTER_ENV_VAR, "15")))
queue_urls = json.loads(os.environ.get(topology.DEAD_LETTER_QUEUES_ENV_VAR, "[]"))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    sqs = boto3.client("sqs") if queue_urls else None
    repairs = reconcile(store, publisher, older_than=older_than, dead_letters=[DeadLetters(sqs, url) for url in queue_urls])
    for kind, count in repairs.items():
        metrics.add_metric(name=f"Repairs_{kind}", unit=MetricUnit.Count, value=count)
    logger.info("reconciled", extra={"repairs": dict(repairs)})
    return {"repairs": dict(repairs)}
