"""Creates the topology's resources in an embedded AWS (moto): tables with streams,
the event bus, and each rule with an SQS queue as its target, the target's DLQ, and
its function's on-failure queue."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from backorders import topology


@dataclass
class RuleQueues:
    rule: topology.RuleTrigger
    function: topology.Function
    queue_url: str  # the rule's target: stands for Lambda's queue of asynchronous events
    dlq_url: str  # the target's DLQ: events EventBridge could not deliver
    handler_failures_url: str  # the function's on-failure destination: Lambda's records of failed invocations

    @property
    def dead_letter_urls(self) -> list[str]:
        return [self.dlq_url, self.handler_failures_url]


@dataclass
class Resources:
    stream_arns: dict[str, str] = field(default_factory=dict)  # table name -> stream ARN
    rules: list[RuleQueues] = field(default_factory=list)
    on_failure_queue_urls: dict[str, str] = field(default_factory=dict)  # function -> queue
    queue_urls: dict[str, str] = field(default_factory=dict)  # topology queue -> URL
    queue_dlq_urls: dict[str, str] = field(default_factory=dict)  # topology queue -> its DLQ


def rule_queue_names(rule: topology.RuleTrigger) -> tuple[str, str, str]:
    """The target queue, its DLQ and the on-failure queue of a rule's function."""
    return f"{rule.name}-target", f"{rule.name}-dlq", f"{rule.name}-handler-failures"


def environment() -> dict[str, str]:
    """The environment functions get locally: table and bus names are the topology's."""
    env = {t.env_var: t.name for t in topology.TABLES}
    env[topology.EVENT_BUS_ENV_VAR] = topology.EVENT_BUS
    env["BACKORDERS_WEBHOOKS_ALLOW_LOCAL"] = "1"  # endpoints on 127.0.0.1 and localhost
    env["POWERTOOLS_METRICS_NAMESPACE"] = topology.METRICS_NAMESPACE
    return env


def provision(session) -> Resources:
    """`session` is a boto3 Session (or the boto3 module) pointed at the embedded AWS."""
    dynamodb = session.client("dynamodb")
    events = session.client("events")
    sqs = session.client("sqs")
    res = Resources()
    for t in topology.TABLES:
        kwargs: dict = {}
        if t.stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        if t.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": i.name,
                    "KeySchema": [
                        {"AttributeName": i.partition_key, "KeyType": "HASH"},
                        {"AttributeName": i.sort_key, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": i.projection, **({"NonKeyAttributes": list(i.include)} if i.include else {})},
                }
                for i in t.indexes
            ]
        keys = [t.partition_key, t.sort_key, *(k for i in t.indexes for k in (i.partition_key, i.sort_key))]
        out = dynamodb.create_table(
            TableName=t.name,
            KeySchema=[
                {"AttributeName": t.partition_key, "KeyType": "HASH"},
                {"AttributeName": t.sort_key, "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in dict.fromkeys(keys)],
            BillingMode="PAY_PER_REQUEST",
            **kwargs,
        )
        if t.stream:
            res.stream_arns[t.name] = out["TableDescription"]["LatestStreamArn"]
    events.create_event_bus(Name=topology.EVENT_BUS)
    for q in topology.QUEUES:
        dlq = sqs.create_queue(QueueName=f"{q.name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        res.queue_dlq_urls[q.name] = dlq
        res.queue_urls[q.name] = sqs.create_queue(
            QueueName=q.name,
            Attributes={
                "VisibilityTimeout": str(q.visibility_timeout_s),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(q.max_receive_count)}),
            },
        )["QueueUrl"]
    for fn in topology.FUNCTIONS:
        if fn.stream:
            res.on_failure_queue_urls[fn.name] = sqs.create_queue(QueueName=f"{fn.name}-on-failure")["QueueUrl"]
        if fn.rule:
            target, dlq_name, failures_name = rule_queue_names(fn.rule)
            dlq = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
            failures = sqs.create_queue(QueueName=failures_name)["QueueUrl"]
            queue = sqs.create_queue(QueueName=target)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(
                Name=fn.rule.name, EventBusName=topology.EVENT_BUS, EventPattern=json.dumps(fn.rule.pattern)
            )
            events.put_targets(Rule=fn.rule.name, EventBusName=topology.EVENT_BUS, Targets=[{"Id": fn.name, "Arn": arn}])
            res.rules.append(
                RuleQueues(rule=fn.rule, function=fn, queue_url=queue, dlq_url=dlq, handler_failures_url=failures)
            )
    return res
