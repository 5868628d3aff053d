"""The synthesised stack does what the topology declares, and nothing more.

Expected values come from `backorders.topology` (the one declaration) and from the
ops requirements written out literally here (e.g. which IAM actions "read" means),
never from copies of the stack's own constants.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from backorders import topology

ROOT = Path(__file__).resolve().parents[2]

READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
GRANTED = {"read": READ, "write": WRITE, "read_write": READ | WRITE}


def granted(access) -> set[str]:
    """The actions of an access level, or of several levels together."""
    return set().union(*(GRANTED[level] for level in ((access,) if isinstance(access, str) else access)))

STREAM_FUNCTIONS = [fn for fn in topology.FUNCTIONS if fn.stream is not None]
RULE_FUNCTIONS = [fn for fn in topology.FUNCTIONS if fn.rule is not None]
HTTP_FUNCTIONS = [fn for fn in topology.FUNCTIONS if fn.routes]
ids = lambda fns: [fn.name for fn in fns]  # noqa: E731

# Every acknowledged cdk-nag finding; a new one must be reviewed and added here.
ACKNOWLEDGED = {
    "AwsSolutions-IAM5",
    "AwsSolutions-L1",
    "AwsSolutions-SQS3",
    "AwsSolutions-SMG4",
    "AwsSolutions-APIG2",
    "AwsSolutions-APIG3",
    "AwsSolutions-APIG4",
    "AwsSolutions-APIG6",
    "AwsSolutions-COG4",
}


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def function_props(synth, name: str) -> dict:
    stage = synth.stack.stages[name]
    return synth.resources[synth.logical_id(stage.function)]["Properties"]


# --- tables -------------------------------------------------------------------


@pytest.mark.parametrize("table", topology.TABLES, ids=[t.name for t in topology.TABLES])
def test_table_is_on_demand_encrypted_with_pitr_and_a_stream_only_where_declared(synth, table):
    # given the table from the topology
    props = synth.resources[synth.logical_id(synth.stack.tables[table.name])]["Properties"]

    # then
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    index_keys = {k: "S" for i in table.indexes for k in (i.partition_key, i.sort_key)}
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {"pk": "S", "sk": "S", **index_keys}
    # the lists' indexes project their keys and filters only: other writes cost them nothing
    assert props.get("GlobalSecondaryIndexes", []) == [
        {
            "IndexName": i.name,
            "KeySchema": [{"AttributeName": i.partition_key, "KeyType": "HASH"}, {"AttributeName": i.sort_key, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": i.projection, **({"NonKeyAttributes": list(i.include)} if i.include else {})},
        }
        for i in table.indexes
    ]
    stream = props.get("StreamSpecification")
    assert stream == ({"StreamViewType": "NEW_AND_OLD_IMAGES"} if table.stream else None)


def test_tables_outlive_the_stack(synth):
    for table in synth.of_type("AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Retain"


# --- functions ------------------------------------------------------------------


@pytest.mark.parametrize("fn", topology.FUNCTIONS, ids=ids(topology.FUNCTIONS))
def test_function_runs_python312_or_newer_on_arm64_traced_with_topology_settings(synth, fn):
    props = function_props(synth, fn.name)

    major, minor = map(int, re.fullmatch(r"python(\d+)\.(\d+)", props["Runtime"]).groups())
    assert (major, minor) >= (3, 12)
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == fn.handler == "app.handler"
    assert props["Timeout"] == fn.timeout_s
    assert props["MemorySize"] == fn.memory_mb
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Layers"] == [{"Ref": synth.logical_id(synth.stack.layer)}]


@pytest.mark.parametrize("fn", HTTP_FUNCTIONS, ids=ids(HTTP_FUNCTIONS))
def test_http_function_finishes_before_api_gateway_gives_up(synth, fn):
    assert function_props(synth, fn.name)["Timeout"] < 29


@pytest.mark.parametrize("fn", topology.FUNCTIONS, ids=ids(topology.FUNCTIONS))
def test_function_logs_to_its_own_log_group_with_retention(synth, fn):
    log_group = function_props(synth, fn.name)["LoggingConfig"]["LogGroup"]
    logical_id = log_group["Ref"]
    assert synth.resources[logical_id]["Properties"]["RetentionInDays"] > 0


@pytest.mark.parametrize("fn", topology.FUNCTIONS, ids=ids(topology.FUNCTIONS))
def test_function_environment_names_its_resources(synth, fn):
    variables = function_props(synth, fn.name)["Environment"]["Variables"]

    for table in topology.TABLES:
        assert canonical(variables[table.env_var]) == synth.ref(
            synth.stack.tables[table.name].table_name
        )
    assert canonical(variables[topology.EVENT_BUS_ENV_VAR]) == synth.ref(
        synth.stack.event_bus.event_bus_name
    )
    assert variables["POWERTOOLS_SERVICE_NAME"] == fn.name
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == topology.METRICS_NAMESPACE
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
    if fn.routes:
        assert canonical(variables["ADMIN_TOKEN_SECRET_ARN"]) == synth.ref(
            synth.stack.admin_secret.secret_arn
        )
    else:
        assert "ADMIN_TOKEN_SECRET_ARN" not in variables


# --- least privilege --------------------------------------------------------------


def granted_pairs(synth, fn_name: str) -> set[tuple[str, str]]:
    """(action, resource) pairs of every policy attached to the function's role."""
    role_ref = {"Ref": synth.logical_id(synth.stack.stages[fn_name].role)}
    role = synth.resources[role_ref["Ref"]]
    assert not role["Properties"].get("ManagedPolicyArns")
    assert not role["Properties"].get("Policies")
    pairs = set()
    for policy in synth.of_type("AWS::IAM::Policy").values():
        if role_ref not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    pairs.add((action, canonical(resource)))
    return pairs


def expected_pairs(synth, fn: topology.Function) -> set[tuple[str, str]]:
    stack, stage = synth.stack, synth.stack.stages[fn.name]

    def on(actions, token) -> set[tuple[str, str]]:
        resource = canonical("*") if token == "*" else synth.ref(token)
        return {(action, resource) for action in actions}

    pairs = on({"logs:CreateLogStream", "logs:PutLogEvents"}, stage.log_group.log_group_arn)
    pairs |= on({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, "*")
    for table_name, access in fn.tables.items():
        pairs |= on(granted(access), stack.tables[table_name].table_arn)
        for index in topology.table(table_name).indexes:
            if index in fn.queries_indexes:
                pairs |= on({"dynamodb:Query"}, f"{stack.tables[table_name].table_arn}/index/{index.name}")
    if fn.stream is not None:
        table = stack.tables[fn.stream.table.name]
        pairs |= on({"dynamodb:ListStreams"}, "*")
        pairs |= on(
            {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"},
            table.table_stream_arn,
        )
    # The function itself writes only to its own failure queue (EventBridge, not the
    # function, writes to a rule's delivery DLQ).
    for key in ("stream_failures", "handler_failures"):
        if key in stage.queues:
            pairs |= on(
                {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
                stage.queues[key].queue_arn,
            )
    if fn.publishes_events:
        pairs |= on({"events:PutEvents"}, stack.event_bus.event_bus_arn)
    if fn.replays_dead_letters:
        consume = {"sqs:ReceiveMessage", "sqs:DeleteMessage"}  # receive, republish, delete
        for other in stack.stages.values():
            for key in ("delivery_dlq", "handler_failures"):
                if key in other.queues:
                    pairs |= on(consume, other.queues[key].queue_arn)
    if fn.routes:
        pairs |= on({"secretsmanager:GetSecretValue"}, stack.admin_secret.secret_arn)
    for queue in fn.sends_to:
        pairs |= on({"sqs:SendMessage"}, stack.queues[queue.name].queue_arn)
    if fn.queue is not None:  # what Lambda's poller does with the function's role (CDK's SqsEventSource)
        polling = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
        pairs |= on(polling, stack.queues[fn.queue.name].queue_arn)
    return pairs


@pytest.mark.parametrize("fn", topology.FUNCTIONS, ids=ids(topology.FUNCTIONS))
def test_role_grants_exactly_what_the_topology_declares(synth, fn):
    assert granted_pairs(synth, fn.name) == expected_pairs(synth, fn)


def test_each_function_has_its_own_role(synth):
    roles = {function_props(synth, fn.name)["Role"]["Fn::GetAtt"][0] for fn in topology.FUNCTIONS}
    assert len(roles) == len(topology.FUNCTIONS)


# --- stream triggers ---------------------------------------------------------------


@pytest.mark.parametrize("fn", STREAM_FUNCTIONS, ids=ids(STREAM_FUNCTIONS))
def test_stream_mapping_settings_equal_the_topology(synth, fn):
    # given
    stage = synth.stack.stages[fn.name]
    trigger = fn.stream
    fn_ref = {"Ref": synth.logical_id(stage.function)}
    [mapping] = [
        m["Properties"]
        for m in synth.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == fn_ref
    ]

    # then
    assert canonical(mapping["EventSourceArn"]) == synth.ref(
        synth.stack.tables[trigger.table.name].table_stream_arn
    )
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BatchSize"] == trigger.batch_size
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == trigger.max_batching_window_s
    assert mapping.get("ParallelizationFactor", 1) == trigger.parallelization_factor
    assert [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]] == list(
        trigger.filters
    )
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is trigger.bisect_batch_on_error
    assert mapping["MaximumRetryAttempts"] == trigger.retry_attempts
    assert mapping["MaximumRecordAgeInSeconds"] == trigger.max_record_age_s
    assert canonical(mapping["DestinationConfig"]["OnFailure"]["Destination"]) == synth.ref(
        stage.queues["stream_failures"].queue_arn
    )


def test_only_declared_stream_and_queue_triggers_exist(synth):
    queue_functions = [f for f in topology.FUNCTIONS if f.queue]
    assert len(synth.of_type("AWS::Lambda::EventSourceMapping")) == len(STREAM_FUNCTIONS) + len(queue_functions)


QUEUE_FUNCTIONS = [fn for fn in topology.FUNCTIONS if fn.queue is not None]


@pytest.mark.parametrize("fn", QUEUE_FUNCTIONS, ids=ids(QUEUE_FUNCTIONS))
def test_a_queue_runs_its_function_bounded_and_parks_what_keeps_failing(synth, fn):
    trigger = fn.queue
    fn_ref = {"Ref": synth.logical_id(synth.stack.stages[fn.name].function)}
    [props] = [m["Properties"] for m in synth.of_type("AWS::Lambda::EventSourceMapping").values() if m["Properties"]["FunctionName"] == fn_ref]
    assert props["ScalingConfig"] == {"MaximumConcurrency": trigger.max_concurrency}
    assert props["BatchSize"] == trigger.batch_size and props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert canonical(props["EventSourceArn"]) == synth.ref(synth.stack.queues[trigger.name].queue_arn)
    queue = synth.resources[synth.logical_id(synth.stack.queues[trigger.name])]
    assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == trigger.max_receive_count
    assert queue["Properties"]["VisibilityTimeout"] > fn.timeout_s


# --- EventBridge ------------------------------------------------------------------


def test_bus_has_the_topology_name(synth):
    [bus] = synth.of_type("AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == topology.EVENT_BUS


@pytest.mark.parametrize("fn", RULE_FUNCTIONS, ids=ids(RULE_FUNCTIONS))
def test_rule_pattern_retries_and_dlq_equal_the_topology(synth, fn):
    # given
    stage = synth.stack.stages[fn.name]
    rule = synth.resources[synth.logical_id(stage.rule)]["Properties"]

    # then
    assert rule["EventBusName"] == {"Ref": synth.logical_id(synth.stack.event_bus)}
    assert rule["EventPattern"] == fn.rule.pattern
    [target] = rule["Targets"]
    assert canonical(target["Arn"]) == synth.ref(stage.function.function_arn)
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": fn.rule.retry_attempts,
        "MaximumEventAgeInSeconds": fn.rule.max_event_age_s,
    }
    assert canonical(target["DeadLetterConfig"]["Arn"]) == synth.ref(
        stage.queues["delivery_dlq"].queue_arn
    )


@pytest.mark.parametrize("fn", RULE_FUNCTIONS, ids=ids(RULE_FUNCTIONS))
def test_rule_function_parks_failed_invocations_in_a_queue(synth, fn):
    # EventBridge invokes asynchronously: a failing handler is Lambda's to retry and park.
    stage = synth.stack.stages[fn.name]
    fn_ref = {"Ref": synth.logical_id(stage.function)}
    [config] = [
        c["Properties"]
        for c in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == fn_ref
    ]
    assert canonical(config["DestinationConfig"]["OnFailure"]["Destination"]) == synth.ref(
        stage.queues["handler_failures"].queue_arn
    )
    assert config["MaximumRetryAttempts"] == fn.rule.async_retry_attempts
    assert config["MaximumEventAgeInSeconds"] == fn.rule.async_max_event_age_s


def test_every_rule_target_has_a_dlq_and_retry_policy(synth):
    rules = synth.of_type("AWS::Events::Rule").values()
    scheduled = [f for f in topology.FUNCTIONS if f.schedule_minutes]
    assert len(rules) == len(RULE_FUNCTIONS) + len(scheduled)
    for rule in rules:
        for target in rule["Properties"]["Targets"]:
            assert "Arn" in target["DeadLetterConfig"]
            assert "MaximumRetryAttempts" in target["RetryPolicy"]


def _domain_events() -> dict[str, dict]:
    """Each detail-type the domain declares, built by the domain's own event builder."""
    from backorders.adapters.events import order_backordered_entry
    from backorders.domain.models import OrderBackordered, SkuQty

    built = {
        topology.DetailType.ORDER_BACKORDERED: order_backordered_entry(
            OrderBackordered(
                correlation_id="c-1",
                seller_id="s-1",
                order_id="o-1",
                pending=[SkuQty(sku="SKU-1", qty=2)],
            )
        ),
    }
    declared = {v for k, v in vars(topology.DetailType).items() if not k.startswith("_")}
    assert set(built) == declared, "add a sample for every detail-type the domain emits"
    return built


def test_synthesised_rule_patterns_match_the_events_the_domain_emits(synth, monkeypatch):
    # given: moto's EventBridge with each synthesised rule routed to an SQS queue
    # (moto cannot target Lambda, see TRAPS.md)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(key, value)
    import boto3
    from moto import mock_aws

    with mock_aws():
        eventbridge = boto3.client("events")
        sqs = boto3.client("sqs")
        eventbridge.create_event_bus(Name=topology.EVENT_BUS)
        queues = {}
        for logical_id, rule in synth.of_type("AWS::Events::Rule").items():
            if "EventPattern" not in rule["Properties"]:
                continue  # a schedule
            url = sqs.create_queue(QueueName=logical_id)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            eventbridge.put_rule(
                Name=logical_id,
                EventBusName=topology.EVENT_BUS,
                EventPattern=json.dumps(rule["Properties"]["EventPattern"]),
            )
            eventbridge.put_targets(
                Rule=logical_id,
                EventBusName=topology.EVENT_BUS,
                Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}],
            )
            queues[logical_id] = url

        # when: the domain's events, and one from a source nobody listens to
        domain_events = _domain_events()
        stranger = {**domain_events[topology.DetailType.ORDER_BACKORDERED], "Source": "someone.else"}
        result = eventbridge.put_events(Entries=[*domain_events.values(), stranger])
        assert result["FailedEntryCount"] == 0

        # then: every rule catches a domain event, and none catches the stranger
        caught = {}
        for logical_id, url in queues.items():
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            received = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
            assert received, f"rule {logical_id} matches no event the domain emits"
            assert all(e["source"] == topology.EVENT_SOURCE for e in received)
            caught[logical_id] = received

    # and create_po's rule catches OrderBackordered, detail intact
    create_po = synth.logical_id(synth.stack.stages["create_po"].rule)
    [event] = caught[create_po]
    sent = domain_events[topology.DetailType.ORDER_BACKORDERED]
    assert event["detail-type"] == topology.DetailType.ORDER_BACKORDERED
    assert event["detail"] == json.loads(sent["Detail"])


# --- HTTP API ---------------------------------------------------------------------


def _resource_paths(synth) -> dict[str, str]:
    resources = synth.of_type("AWS::ApiGateway::Resource")
    paths: dict[str, str] = {}

    def path(logical_id: str) -> str:
        if logical_id not in paths:
            props = resources[logical_id]["Properties"]
            parent = props["ParentId"]
            prefix = "" if "Fn::GetAtt" in parent else path(parent["Ref"])
            paths[logical_id] = f"{prefix}/{props['PathPart']}"
        return paths[logical_id]

    for logical_id in resources:
        path(logical_id)
    return paths


def test_api_serves_exactly_the_topology_routes_through_lambda_proxy(synth):
    # given
    paths = _resource_paths(synth)
    function_ids = {
        synth.logical_id(stage.function): name for name, stage in synth.stack.stages.items()
    }

    # when
    served = set()
    for method in synth.of_type("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        [target] = [name for lid, name in function_ids.items() if lid in json.dumps(integration["Uri"])]
        # credentials are checked in the handler, first (see infra/stack.py)
        assert props["AuthorizationType"] == "NONE"
        served.add((props["HttpMethod"], paths[props["ResourceId"]["Ref"]], target))

    # then: each route, and every other method of its path to the same function (405, HEAD)
    routes = {(r.method, r.path, fn.name) for r, fn in topology.all_routes()}
    assert served == routes | {("ANY", path, name) for _, path, name in routes}


def test_api_stage_is_throttled_traced_and_access_logged(synth):
    [stage] = synth.of_type("AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    [settings] = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"] > 0
    assert settings["ThrottlingBurstLimit"] > 0
    assert props["TracingEnabled"] is True
    access_log = props["AccessLogSetting"]
    assert "$context.requestId" in access_log["Format"]
    assert "ApiAccessLogs" in json.dumps(access_log["DestinationArn"])


def test_unknown_route_answers_404_in_the_api_error_shape(synth):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    body = json.loads(missing["ResponseTemplates"]["application/json"])
    assert body["error"]["code"] == "not_found"


def test_outputs_give_the_api_url_and_admin_token_secret(synth):
    outputs = synth.template.to_json()["Outputs"]
    assert "ApiUrl" in outputs
    assert canonical(outputs["AdminTokenSecretArn"]["Value"]) == synth.ref(
        synth.stack.admin_secret.secret_arn
    )


# --- queues, alarms, dashboard ---------------------------------------------------


def test_every_queue_is_encrypted_and_tls_only(synth):
    queues = synth.of_type("AWS::SQS::Queue")
    policies = synth.of_type("AWS::SQS::QueuePolicy").values()
    for logical_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        denies = [
            s
            for p in policies
            if {"Ref": logical_id} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
        ]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def _alarms(synth) -> list[dict]:
    return [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]


def _notifies_topic(synth, alarm: dict) -> bool:
    return alarm["AlarmActions"] == [{"Ref": synth.logical_id(synth.stack.alarm_topic)}]


def test_every_queue_alarms_on_its_first_visible_message(synth):
    queues = synth.of_type("AWS::SQS::Queue")
    scheduled = [f for f in topology.FUNCTIONS if f.schedule_minutes]
    assert len(queues) == len(STREAM_FUNCTIONS) + 2 * len(RULE_FUNCTIONS) + len(scheduled) + 2 * len(topology.QUEUES)
    work_queues = {i for i, q in queues.items() if "RedrivePolicy" in q["Properties"]}  # their DLQs alarm instead
    for logical_id in set(queues) - work_queues:
        [alarm] = [
            a
            for a in _alarms(synth)
            if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [logical_id, "QueueName"]}}]
        ]
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert _notifies_topic(synth, alarm)


def _function_alarms(synth, fn_name: str, metric: str) -> list[dict]:
    fn_ref = {"Ref": synth.logical_id(synth.stack.stages[fn_name].function)}
    return [
        a
        for a in _alarms(synth)
        if a.get("MetricName") == metric
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": fn_ref}]
    ]


@pytest.mark.parametrize("fn", topology.FUNCTIONS, ids=ids(topology.FUNCTIONS))
def test_every_function_alarms_on_errors(synth, fn):
    [alarm] = _function_alarms(synth, fn.name, "Errors")
    assert alarm["Threshold"] == 1
    assert _notifies_topic(synth, alarm)


@pytest.mark.parametrize("fn", STREAM_FUNCTIONS, ids=ids(STREAM_FUNCTIONS))
def test_every_stream_function_alarms_on_iterator_age(synth, fn):
    [alarm] = _function_alarms(synth, fn.name, "IteratorAge")
    assert alarm["Statistic"] == "Maximum"
    assert 0 < alarm["Threshold"] < fn.stream.max_record_age_s * 1000
    assert _notifies_topic(synth, alarm)


def test_alarm_topic_is_encrypted_and_tls_only(synth):
    [topic] = synth.of_type("AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    [policy] = synth.of_type("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_dashboard_has_one_row_per_function(synth):
    [dashboard] = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    widgets = json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))["widgets"]
    rows = {}
    for widget in widgets:
        if widget["type"] == "text":
            name = widget["properties"]["markdown"].splitlines()[0].removeprefix("### ")
            rows[name] = widget["y"]
    assert sorted(rows) == sorted(fn.name for fn in topology.FUNCTIONS)
    assert len(set(rows.values())) == len(rows)


# --- cdk-nag ------------------------------------------------------------------------


def messages(synth, kind: str) -> list[tuple[str, str]]:
    """(construct path, text) of each warning or error, read from the cloud assembly.

    Read as JSON: jsii cannot turn `Annotations.find_warning` results back into Python
    objects (it fails on the MetadataEntry struct)."""
    metadata = json.loads((Path(synth.outdir) / f"{synth.stack.artifact_id}.metadata.json").read_text())
    return [(path, str(e["data"])) for path, entries in metadata.items() for e in entries if e["type"] == f"aws:cdk:{kind}"]


def test_no_unacknowledged_cdk_nag_finding(synth):
    warnings = [w for w in messages(synth, "warning") if "backorders:placeholder-layer" not in w[1]]
    assert messages(synth, "error") == []
    assert warnings == []


def test_every_suppression_is_reviewed_and_has_a_reason(synth):
    suppressed = set()
    for resource in synth.resources.values():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert len(rule["reason"]) >= 40, rule
            suppressed.add(rule["id"])
            if rule["id"] == "AwsSolutions-IAM5":
                assert rule["applies_to"] == ["Resource::*"]
    assert suppressed == ACKNOWLEDGED


# --- assets ---------------------------------------------------------------------------


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("fn", topology.FUNCTIONS, ids=ids(topology.FUNCTIONS))
def test_bundle_is_the_function_folder_plus_the_domain_package_only(synth, fn):
    # given the asset the template deploys for this function
    s3_key = function_props(synth, fn.name)["Code"]["S3Key"]
    bundle = synth.outdir / f"asset.{s3_key.removesuffix('.zip')}"

    # then
    files = _files(bundle)
    domain = _files(synth.project / "shared" / "backorders")
    assert "app.py" in files
    assert {f"backorders/{f}" for f in domain if "__pycache__" not in f} <= files
    assert (bundle / "app.py").read_text().endswith(f"return {fn.name!r}\n")
    leaked = [f for f in files if re.search(r"(^|/)(tests|__pycache__|backorders_local|infra)(/|$)|\.pyc$", f)]
    assert leaked == []
    assert not any("aws_cdk" in f or "cdk_nag" in f for f in files)


def test_layer_is_the_allowed_placeholder_with_a_warning_when_bundling_is_skipped(synth):
    # conftest skips bundling and allows the placeholder (tests/infra/test_layer.py: the rest)
    warnings = messages(synth, "warning")
    assert [path for path, text in warnings if "backorders:placeholder-layer" in text] == [f"/{synth.stack.node.path}/Dependencies"]


def test_a_missing_handler_fails_synth(tmp_path):
    from infra.assets import stage_function_code

    with pytest.raises(FileNotFoundError, match=r"functions/api/app\.py"):
        stage_function_code(tmp_path, topology.function("api"), tmp_path / "staging")


def test_the_reconciler_runs_on_its_schedule_and_knows_the_dead_letter_queues(synth):
    fn = topology.RECONCILE
    rules = [
        r["Properties"] for r in synth.of_type("AWS::Events::Rule").values()
        if r["Properties"].get("ScheduleExpression")
    ]
    assert [r["ScheduleExpression"] for r in rules] == [f"rate({fn.schedule_minutes} minutes)"]
    [target] = rules[0]["Targets"]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    env = function_props(synth, fn.name)["Environment"]["Variables"]
    assert topology.DEAD_LETTER_QUEUES_ENV_VAR in env
