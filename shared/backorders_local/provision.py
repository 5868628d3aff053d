"""Creates the topology's resources in an embedded AWS (moto): tables with streams,
the event bus, and each rule with an SQS queue as its target (and a DLQ)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from backorders import topology


@dataclass
class RuleQueues:
    rule: topology.RuleTrigger
    function: topology.Function
    queue_url: str
    dlq_url: str


@dataclass
class Resources:
    stream_arns: dict[str, str] = field(default_factory=dict)  # table name -> stream ARN
    rules: list[RuleQueues] = field(default_factory=list)
    on_failure_queue_urls: dict[str, str] = field(default_factory=dict)  # function -> queue


def environment() -> dict[str, str]:
    """The environment functions get locally: table and bus names are the topology's."""
    env = {t.env_var: t.name for t in topology.TABLES}
    env[topology.EVENT_BUS_ENV_VAR] = topology.EVENT_BUS
    env["POWERTOOLS_METRICS_NAMESPACE"] = topology.METRICS_NAMESPACE
    return env


def provision(session) -> Resources:
    """`session` is a boto3 Session (or the boto3 module) pointed at the embedded AWS."""
    dynamodb = session.client("dynamodb")
    events = session.client("events")
    sqs = session.client("sqs")
    res = Resources()
    for t in topology.TABLES:
        kwargs = {}
        if t.stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        out = dynamodb.create_table(
            TableName=t.name,
            KeySchema=[
                {"AttributeName": t.partition_key, "KeyType": "HASH"},
                {"AttributeName": t.sort_key, "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": t.partition_key, "AttributeType": "S"},
                {"AttributeName": t.sort_key, "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            **kwargs,
        )
        if t.stream:
            res.stream_arns[t.name] = out["TableDescription"]["LatestStreamArn"]
    events.create_event_bus(Name=topology.EVENT_BUS)
    for fn in topology.FUNCTIONS:
        if fn.stream:
            res.on_failure_queue_urls[fn.name] = sqs.create_queue(QueueName=f"{fn.name}-on-failure")["QueueUrl"]
        if fn.rule:
            dlq = sqs.create_queue(QueueName=f"{fn.rule.name}-dlq")["QueueUrl"]
            queue = sqs.create_queue(QueueName=f"{fn.rule.name}-target")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(
                Name=fn.rule.name, EventBusName=topology.EVENT_BUS, EventPattern=json.dumps(fn.rule.pattern)
            )
            events.put_targets(Rule=fn.rule.name, EventBusName=topology.EVENT_BUS, Targets=[{"Id": fn.name, "Arn": arn}])
            res.rules.append(RuleQueues(rule=fn.rule, function=fn, queue_url=queue, dlq_url=dlq))
    return res
