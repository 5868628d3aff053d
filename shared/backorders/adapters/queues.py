"""SQS adapter: putting a message on one of the topology's queues, after a delay."""

from __future__ import annotations

import json
from functools import cache

from backorders import topology
from backorders.adapters.config import MissingConfiguration, settings

MAX_DELAY_S = 900  # SQS's longest delay; longer waits hop (see services.notifications)


@cache
def client():
    import boto3

    return boto3.client("sqs")


class MessageQueue:
    def __init__(self, queue: topology.QueueTrigger, url: str | None = None):
        self.queue = queue
        self._url = url

    @property
    def url(self) -> str:
        if self._url is None:
            config = settings()
            self._url = config.queue_urls.get(self.queue.name)
            if self._url is None:
                if config.deployed:
                    raise MissingConfiguration(f"environment variable not set: {self.queue.env_var}")
                self._url = client().get_queue_url(QueueName=self.queue.name)["QueueUrl"]
        return self._url

    def send(self, message: dict, delay_s: int = 0) -> None:
        client().send_message(
            QueueUrl=self.url, MessageBody=json.dumps(message), DelaySeconds=max(0, min(int(delay_s), MAX_DELAY_S))
        )
