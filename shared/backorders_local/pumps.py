"""Deliver stream records and rule events to the handlers, as Lambda's event source
mappings and EventBridge targets would: filters, batch sizes, partial batch failures
retried from the failed record, bounded retries, then the on-failure queue; for rule
events, Lambda's asynchronous retries, then its on-failure record.

Each pump has a synchronous `pump()` that delivers what is there now and returns how
many records or events it handed over; the local runtime calls it in a loop, tests
call it until everything is drained.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backorders import topology
from backorders_local.functions import Handler, context_for
from backorders_local.shapes import eventbridge_event, passes, stream_record

log = logging.getLogger("backorders.local")


@dataclass
class StreamPump:
    function: topology.Function
    handler: Handler
    stream_arn: str
    streams: Any  # dynamodbstreams client
    sqs: Any
    on_failure_url: str
    # How often to look for new shards (seconds); 0 = on every pump(). Polling a quiet
    # stream then costs one GetRecords per shard, not a DescribeStream as well.
    refresh_shards_every_s: float = 0.0
    iterators: dict[str, str | None] = field(default_factory=dict)
    # per shard, the sequence number of the last record handed over (or parked)
    read_up_to: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    failed_to_destination: int = 0
    _shards_refreshed_at: float | None = field(default=None, init=False, repr=False)

    @property
    def trigger(self) -> topology.StreamTrigger:
        assert self.function.stream is not None
        return self.function.stream

    def _refresh_shards(self) -> None:
        now = time.monotonic()
        if (
            self._shards_refreshed_at is not None
            and self.iterators
            and now - self._shards_refreshed_at < self.refresh_shards_every_s
        ):
            return
        self._shards_refreshed_at = now
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def pump(self) -> int:
        self._refresh_shards()
        handed = 0
        for shard_id, iterator in list(self.iterators.items()):
            if iterator is None:
                continue
            out = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            self.iterators[shard_id] = out.get("NextShardIterator")
            read = out.get("Records", [])
            records = [stream_record(r, self.stream_arn) for r in read]
            records = [r for r in records if passes(self.trigger.filters, r)]
            size = self.trigger.batch_size
            for start in range(0, len(records), size):
                handed += self._deliver(records[start : start + size])
            if read:
                self.read_up_to[shard_id] = int(read[-1]["dynamodb"]["SequenceNumber"])
        return handed

    def _invoke(self, batch: list[dict]) -> int | None:
        """Index of the first failed record in the batch, or None when all succeeded."""
        try:
            response = self.handler({"Records": batch}, context_for(self.function)) or {}
        except Exception:  # the whole batch failed
            log.exception("%s failed on a batch of %d", self.function.name, len(batch))
            return 0
        failures = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for i, record in enumerate(batch):
            if record["dynamodb"].get("SequenceNumber") in failures:
                return i
        return None

    def _deliver(self, batch: list[dict]) -> int:
        attempts = 0
        while batch:
            failed = self._invoke(batch)
            self.delivered += len(batch) if failed is None else failed
            if failed is None:
                return len(batch)
            batch = batch[failed:]  # retried from the failed record, as Lambda does
            attempts += 1
            if attempts > self.trigger.retry_attempts:
                # Bisect down to the failing record, park it, carry on with the rest.
                poison, batch = batch[0], batch[1:]
                self._to_destination(poison)
                attempts = 0
        return 0

    def _to_destination(self, record: dict) -> None:
        self.failed_to_destination += 1
        log.error("%s gave up on record %s", self.function.name, record["dynamodb"].get("SequenceNumber"))
        self.sqs.send_message(
            QueueUrl=self.on_failure_url,
            MessageBody=json.dumps(
                {"requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function.name}, "record": record},
                default=str,
            ),
        )


@dataclass
class RulePump:
    """Invokes a rule's function as Lambda invokes it for EventBridge: asynchronously.

    The rule's target queue stands for Lambda's queue of asynchronous events (EventBridge's
    delivery to it does not fail locally, so the target's DLQ stays empty). A handler that
    raises is invoked again `async_retry_attempts` times, after the delays Lambda waits
    (1 and 2 minutes; here `retry_delay_s` and twice that), then Lambda's on-failure record,
    wrapping the event, goes to the function's on-failure queue.
    """

    function: topology.Function
    handler: Handler
    sqs: Any
    queue_url: str
    on_failure_url: str
    wait_s: int = 0
    retry_delay_s: int = 0
    delivered: int = 0
    failed_to_destination: int = 0

    def pump(self) -> int:
        out = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_s,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = out.get("Messages", [])
        for message in messages:
            self._deliver(message)
        return len(messages)

    def _deliver(self, message: dict) -> None:
        rule = self.function.rule
        assert rule is not None
        invocation = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        context = context_for(self.function)
        try:
            self.handler(eventbridge_event(message["Body"]), context)
        except Exception as error:
            log.exception("%s failed (invocation %d)", self.function.name, invocation)
            if invocation > rule.async_retry_attempts:
                self.failed_to_destination += 1
                record = on_failure_record(message["Body"], context, error, invocation)
                self.sqs.send_message(QueueUrl=self.on_failure_url, MessageBody=json.dumps(record, default=str))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=min(self.retry_delay_s * invocation, 60),
                )
            return
        self.delivered += 1
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@dataclass
class QueuePump:
    """Invokes a queue's function as Lambda's SQS event source does: a batch of messages,
    those the handler reports failed (or all, when it raises) left on the queue to come
    back after the visibility timeout, up to the queue's receive count, then its DLQ."""

    function: topology.Function
    handler: Handler
    sqs: Any
    queue_url: str
    delivered: int = 0
    failed_to_destination: int = 0  # SQS itself moves a message to the DLQ after its receive count

    def pump(self) -> int:
        trigger = self.function.queue
        assert trigger is not None
        out = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(trigger.batch_size, 10),
            AttributeNames=["All"],
        )
        messages = out.get("Messages", [])
        if not messages:
            return 0
        records = [sqs_record(m, self.queue_url) for m in messages]
        try:
            response = self.handler({"Records": records}, context_for(self.function)) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:
            log.exception("%s failed on a batch of %d", self.function.name, len(records))
            failed = {r["messageId"] for r in records}
        for message in messages:
            if message["MessageId"] not in failed:
                self.delivered += 1
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)


def sqs_record(message: dict, queue_url: str) -> dict:
    """A message as Lambda's SQS event source hands it over."""
    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{name}",
        "awsRegion": "us-east-1",
    }


def on_failure_record(body: str, context, error: Exception, invocations: int) -> dict:
    """What Lambda sends an asynchronous invocation's on-failure destination once its
    retries are exhausted: the event (`requestPayload`) and the last error."""
    payload: dict | str
    try:
        payload = eventbridge_event(body)
    except (ValueError, AttributeError):  # not an event: passed on as it came
        payload = body
    trace = traceback.format_list(traceback.extract_tb(error.__traceback__))
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": context.aws_request_id,
            "functionArn": f"{context.invoked_function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": invocations,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": context.aws_request_id,
            "stackTrace": trace,
        },
    }


def drain(pumps: list, max_rounds: int = 1000) -> int:
    """Pump until nothing moves. Returns the number of records and events handed over."""
    total = 0
    for _ in range(max_rounds):
        moved = sum(p.pump() for p in pumps)
        total += moved
        if not moved:
            return total
    raise RuntimeError("pumps did not settle")
