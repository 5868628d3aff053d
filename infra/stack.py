"""The backorders stack, built from the one topology (`backorders.topology`).

Tables, functions, stream mappings, EventBridge rules and HTTP routes are all loops over
`topology.TABLES` / `topology.FUNCTIONS`: adding a stage to the topology adds it here
(and in the local runtime) with no new code. One `FunctionStage` construct per function
owns its role, log group, trigger, failure queues and alarms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import (
    Annotations,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Stage,
    Tags,
)
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from backorders import topology
from infra import assets

# The dependency layer is bundled for this runtime and architecture (assets.LayerTarget.of):
# its compiled wheels (pydantic-core) follow them.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64

# API Gateway REST gives up on an integration after 29 s: an HTTP function must finish first.
API_GATEWAY_INTEGRATION_TIMEOUT_S = 29

# What each access level of the topology may do on a table: the actions the code makes,
# nothing more (no BatchWriteItem or ConditionCheckItem: no code makes them; no
# DescribeTable, no table management). Transactions need no action of their own:
# TransactWriteItems is authorised per item as Put/Update/Delete/ConditionCheck.
# tests/infra/test_iam_calls.py fails when a level holds an action no call makes.
READ_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
)
WRITE_ACTIONS = (
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
TABLE_ACTIONS: dict[str, tuple[str, ...]] = {
    "read": READ_ACTIONS,
    "write": WRITE_ACTIONS,
    "read_write": tuple(sorted(set(READ_ACTIONS) | set(WRITE_ACTIONS))),
}


def table_actions(access: topology.Access | tuple[topology.Access, ...]) -> list[str]:
    """The actions of one access level, or of several together."""
    levels = (access,) if isinstance(access, str) else access
    return sorted({action for level in levels for action in TABLE_ACTIONS[level]})


# A stream consumer this far behind is stuck (a poison record retried, or throttling).
ITERATOR_AGE_ALARM = Duration.minutes(5)
FAILURE_QUEUE_RETENTION = Duration.days(14)

# EventBridge event pattern keys -> aws_events.EventPattern fields.
_EVENT_PATTERN_FIELDS = {
    "source": "source",
    "detail-type": "detail_type",
    "detail": "detail",
    "account": "account",
    "region": "region",
    "resources": "resources",
    "id": "id",
    "time": "time",
    "version": "version",
}

# API Gateway's own refusals, in the API's error shape ({"error": {code, message, details}}).
# An unknown route is a 404 here, not REST API's default 403 "Missing Authentication Token".
_GATEWAY_ERRORS: tuple[tuple[apigw.ResponseType, str | None, str, str], ...] = (
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", '"no such endpoint"'),
    (apigw.ResponseType.THROTTLED, "429", "throttled", "$context.error.messageString"),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", "body_too_large", "$context.error.messageString"),
    (apigw.ResponseType.DEFAULT_4_XX, None, "bad_request", "$context.error.messageString"),
    (apigw.ResponseType.DEFAULT_5_XX, None, "gateway_error", "$context.error.messageString"),
)

_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "integrationError": "$context.integration.error",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}


@dataclass(frozen=True)
class DeploySettings:
    """What an operator may change per deployment (CDK context, see cdk.json)."""

    alarm_email: str | None = None
    api_throttle_rate_limit: float = 50.0
    api_throttle_burst_limit: int = 100
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH

    @classmethod
    def from_context(cls, node) -> DeploySettings:
        def get(key: str):
            value = node.try_get_context(f"backorders:{key}")
            return None if value in (None, "") else value

        defaults = cls()
        retention = get("logRetention")
        return cls(
            alarm_email=get("alarmEmail"),
            api_throttle_rate_limit=float(
                get("apiThrottleRateLimit") or defaults.api_throttle_rate_limit
            ),
            api_throttle_burst_limit=int(
                get("apiThrottleBurstLimit") or defaults.api_throttle_burst_limit
            ),
            log_retention=(
                logs.RetentionDays[str(retention)] if retention else defaults.log_retention
            ),
        )


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def event_pattern(pattern: dict) -> events.EventPattern:
    """A topology rule pattern (EventBridge JSON shape) as a CDK EventPattern, unchanged."""
    unknown = set(pattern) - set(_EVENT_PATTERN_FIELDS)
    if unknown:
        raise ValueError(f"unsupported event pattern keys: {sorted(unknown)}")
    return events.EventPattern(**{_EVENT_PATTERN_FIELDS[k]: v for k, v in pattern.items()})


def failure_queue(scope: Construct, id: str, purpose: str) -> sqs.Queue:
    """An encrypted, TLS-only queue that keeps what a trigger gave up on."""
    queue = sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=FAILURE_QUEUE_RETENTION,
        removal_policy=RemovalPolicy.DESTROY,
    )
    NagSuppressions.add_resource_suppressions(
        queue,
        [
            NagPackSuppression(
                id="AwsSolutions-SQS3",
                reason=f"This queue is itself the dead-letter/on-failure queue ({purpose}); "
                "a DLQ for a DLQ is not needed: its depth alarms at one message and an "
                "operator redrives or inspects it within its 14-day retention.",
            )
        ],
    )
    return queue


@dataclass
class Shared:
    """What every stage gets from the stack."""

    tables: dict[str, dynamodb.Table]
    event_bus: events.EventBus
    admin_secret: secretsmanager.Secret
    layer: lambda_.LayerVersion
    alarm_action: cloudwatch.IAlarmAction
    log_retention: logs.RetentionDays
    queues: dict[str, sqs.Queue]  # the topology's work queues, by name


class FunctionStage(Construct):
    """One topology function: role, log group, function, trigger, failure queues, alarms."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        spec: topology.Function,
        code: lambda_.Code,
        shared: Shared,
    ) -> None:
        super().__init__(scope, id)
        self.spec = spec
        self._shared = shared
        self.queues: dict[str, sqs.IQueue] = {}
        self.rule: events.Rule | None = None
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        if spec.routes and spec.timeout_s >= API_GATEWAY_INTEGRATION_TIMEOUT_S:
            raise ValueError(
                f"{spec.name}: timeout {spec.timeout_s}s must be below API Gateway's "
                f"{API_GATEWAY_INTEGRATION_TIMEOUT_S}s integration timeout"
            )

        self.log_group = logs.LogGroup(
            self, "Logs", retention=shared.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"backorders {spec.name}: only the tables and actions it uses",
        )
        self._grant(spec)

        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.description,
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            handler=spec.handler,
            code=code,
            layers=[shared.layer],
            role=self.role,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment=self._environment(spec),
        )

        if spec.stream is not None:
            self._listen_to_stream(spec.stream)
        if spec.rule is not None:
            self._listen_to_rule(spec.rule)
        if spec.queue is not None:
            self._listen_to_queue(spec.queue)
        if spec.schedule_minutes is not None:
            self._run_on_schedule(spec.schedule_minutes)
        self._add_alarms()
        self._suppress_nag_findings()

    # --- permissions and configuration -------------------------------------

    def _grant(self, spec: topology.Function) -> None:
        self.log_group.grant_write(self.role)
        for table_name, access in sorted(spec.tables.items()):
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=table_actions(access),
                    resources=[self._shared.tables[table_name].table_arn],
                )
            )
            for index in topology.table(table_name).indexes:
                if index in spec.queries_indexes:
                    self.role.add_to_policy(
                        iam.PolicyStatement(
                            actions=["dynamodb:Query"],
                            resources=[f"{self._shared.tables[table_name].table_arn}/index/{index.name}"],
                        )
                    )
        if spec.publishes_events:
            self._shared.event_bus.grant_put_events_to(self.role)
        for queue in spec.sends_to:
            # SendMessage only: not grant_send_messages(), which adds GetQueueAttributes and GetQueueUrl
            self._shared.queues[queue.name].grant(self.role, "sqs:SendMessage")
        if spec.routes:
            # The admin token, read once per cold start. Not grant_read(): the code never
            # calls DescribeSecret, and the secret uses the AWS-managed key (no kms grant).
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self._shared.admin_secret.secret_arn],
                )
            )

    def _environment(self, spec: topology.Function) -> dict[str, str]:
        env = {t.env_var: self._shared.tables[t.name].table_name for t in topology.TABLES}
        env |= {
            topology.EVENT_BUS_ENV_VAR: self._shared.event_bus.event_bus_name,
            "POWERTOOLS_SERVICE_NAME": spec.name,
            "POWERTOOLS_METRICS_NAMESPACE": topology.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        if spec.routes:
            env["ADMIN_TOKEN_SECRET_ARN"] = self._shared.admin_secret.secret_arn
        for queue in {*spec.sends_to, *([spec.queue] if spec.queue else [])}:
            env[queue.env_var] = self._shared.queues[queue.name].queue_url
        return env

    # --- triggers -----------------------------------------------------------

    def _listen_to_stream(self, trigger: topology.StreamTrigger) -> None:
        table = self._shared.tables[trigger.table.name]
        on_failure = failure_queue(self, "StreamFailures", f"stream of {trigger.table.name}")
        self.queues["stream_failures"] = on_failure
        self.function.add_event_source(
            event_sources.DynamoEventSource(
                table,
                # TRIM_HORIZON, not LATEST: a mapping created (or re-created by a deploy)
                # after writes started would skip them for good with LATEST, and every
                # skipped INSERT is an order or GRN that never moves on. Re-reading up to
                # 24 h of records is safe because every handler is idempotent, and
                # max_record_age bounds how old a record may be before it is parked in
                # the on-failure queue.
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=trigger.batch_size,
                max_batching_window=Duration.seconds(trigger.max_batching_window_s),
                parallelization_factor=trigger.parallelization_factor,
                filters=[lambda_.FilterCriteria.filter(pattern) for pattern in trigger.filters],
                report_batch_item_failures=True,
                bisect_batch_on_error=trigger.bisect_batch_on_error,
                retry_attempts=trigger.retry_attempts,
                max_record_age=Duration.seconds(trigger.max_record_age_s),
                on_failure=event_sources.SqsDlq(on_failure),
            )
        )

    def _listen_to_rule(self, trigger: topology.RuleTrigger) -> None:
        # EventBridge invokes Lambda asynchronously, so there are two ways to fail:
        # EventBridge cannot deliver (throttled, no permission) -> its retry policy, then
        # the target's DLQ; the handler raises -> Lambda's async retries, then the
        # function's on-failure destination. Each gets a queue, each queue an alarm.
        delivery_dlq = failure_queue(self, "DeliveryDlq", f"rule {trigger.name} delivery")
        handler_failures = failure_queue(self, "HandlerFailures", f"rule {trigger.name} handler")
        self.queues["delivery_dlq"] = delivery_dlq
        self.queues["handler_failures"] = handler_failures
        max_age = Duration.seconds(trigger.max_event_age_s)
        self.function.configure_async_invoke(
            retry_attempts=trigger.async_retry_attempts,
            max_event_age=Duration.seconds(trigger.async_max_event_age_s),
            on_failure=destinations.SqsDestination(handler_failures),
        )
        self.rule = events.Rule(
            self,
            f"{pascal(trigger.name)}Rule",
            description=f"{trigger.name} -> {self.spec.name}",
            event_bus=self._shared.event_bus,
            event_pattern=event_pattern(trigger.pattern),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=delivery_dlq,
                retry_attempts=trigger.retry_attempts,
                max_event_age=max_age,
            )
        )

    def _listen_to_queue(self, trigger: topology.QueueTrigger) -> None:
        queue = self._shared.queues[trigger.name]
        if queue.dead_letter_queue is not None:
            self.queues["queue_dlq"] = queue.dead_letter_queue.queue
        self.function.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=trigger.batch_size,
                max_concurrency=trigger.max_concurrency,
                report_batch_item_failures=True,
            )
        )

    def _run_on_schedule(self, minutes: int) -> None:
        dlq = failure_queue(self, "ScheduleDlq", f"schedule of {self.spec.name}")
        self.queues["schedule_dlq"] = dlq
        schedule = events.Rule(
            self,
            "Schedule",
            description=f"every {minutes} min -> {self.spec.name}",
            schedule=events.Schedule.rate(Duration.minutes(minutes)),
        )
        schedule.add_target(targets.LambdaFunction(self.function, dead_letter_queue=dlq, retry_attempts=2))

    def replay_from(self, queues: list[sqs.IQueue]) -> None:
        """Let this function read and replay the given dead-letter queues."""
        urls = Stack.of(self).to_json_string([q.queue_url for q in queues])
        self.function.add_environment(topology.DEAD_LETTER_QUEUES_ENV_VAR, urls)
        for queue in queues:
            # What a replay does: receive, republish, delete. Not grant_consume_messages(),
            # which adds ChangeMessageVisibility, GetQueueUrl and GetQueueAttributes.
            queue.grant(self.role, "sqs:ReceiveMessage", "sqs:DeleteMessage")

    # --- monitoring ---------------------------------------------------------

    def _alarm(self, id: str, metric: cloudwatch.IMetric, threshold: float, what: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            id,
            alarm_description=f"backorders {self.spec.name}: {what}",
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._shared.alarm_action)
        self.alarms[id] = alarm

    def _add_alarms(self) -> None:
        self._alarm(
            "ErrorsAlarm",
            self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            1,
            "the function failed (error or timeout)",
        )
        for key, queue in self.queues.items():
            self._alarm(
                f"{pascal(key)}DepthAlarm",
                queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                1,
                f"{key.replace('_', ' ')} queue holds messages: a step was given up on",
            )
        if self.spec.stream is not None:
            self._alarm(
                "IteratorAgeAlarm",
                self.function.metric(
                    "IteratorAge", period=Duration.minutes(1), statistic="Maximum"
                ),
                ITERATOR_AGE_ALARM.to_milliseconds(),
                f"stream records wait over {ITERATOR_AGE_ALARM.to_minutes()} min",
            )

    def dashboard_row(self, api: apigw.RestApi | None) -> list[cloudwatch.IWidget]:
        fn = self.function
        five_min = Duration.minutes(5)
        trigger = (
            f"stream of `{self.spec.stream.table.name}`" if self.spec.stream
            else f"rule `{self.spec.rule.name}`" if self.spec.rule
            else f"{len(self.spec.routes)} HTTP routes"
        )
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.TextWidget(
                markdown=f"### {self.spec.name}\n{self.spec.description}\n\nTrigger: {trigger}",
                width=6,
                height=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{self.spec.name}: invocations, errors, throttles",
                left=[
                    fn.metric_invocations(period=five_min),
                    fn.metric_errors(period=five_min),
                    fn.metric_throttles(period=five_min),
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{self.spec.name}: duration",
                left=[
                    fn.metric_duration(period=five_min, statistic=stat)
                    for stat in ("p50", "p99", "Maximum")
                ],
                width=6,
            ),
        ]
        trigger_metrics: list[cloudwatch.IMetric] = [
            queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum", label=f"{key} depth"
            )
            for key, queue in self.queues.items()
        ]
        right: list[cloudwatch.IMetric] = []
        if self.spec.stream is not None:
            right.append(fn.metric("IteratorAge", period=Duration.minutes(1), statistic="Maximum"))
        if self.spec.routes and api is not None:
            trigger_metrics += [
                api.metric_client_error(period=five_min, label="API 4XX (all routes)"),
                api.metric_server_error(period=five_min, label="API 5XX (all routes)"),
            ]
            right.append(api.metric_latency(period=five_min, statistic="p99"))
        widgets.append(
            cloudwatch.GraphWidget(
                title=f"{self.spec.name}: trigger", left=trigger_metrics, right=right, width=6
            )
        )
        return widgets

    def _suppress_nag_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Resource '*' only for actions that have no resource-level "
                    "permissions: xray:PutTraceSegments/PutTelemetryRecords (active tracing) "
                    "and dynamodb:ListStreams (stream event source). Table, stream, queue, "
                    "bus, secret and log group access is scoped to their ARNs.",
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason="python3.12 on purpose: the dependency layer's compiled wheels "
                    "(pydantic-core) are bundled for cp312 (infra/assets.LayerBundler); the "
                    "runtime and the layer move to a newer Python together.",
                )
            ],
        )


class BackordersStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploySettings | None = None,
        project_root: Path = assets.PROJECT_ROOT,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        settings = settings or DeploySettings()
        Tags.of(self).add("app", topology.APP_NAME)
        cdk_stage = Stage.of(self)
        if cdk_stage is None:
            raise ValueError("the stack must belong to an App or Stage (its assets are staged in its output directory)")
        staging = Path(cdk_stage.outdir).resolve() / assets.STAGING_DIR

        self.tables = {t.name: self._table(t) for t in topology.TABLES}
        self.event_bus = events.EventBus(self, "Bus", event_bus_name=topology.EVENT_BUS)
        self.admin_secret = self._admin_secret()
        self.alarm_topic = self._alarm_topic(settings.alarm_email)
        # Bytecode for the runtime's Python, made only for a deployment (the bundling stacks)
        # and only where such an interpreter is found (assets.find_python).
        python = assets.find_python(LAMBDA_RUNTIME.name.removeprefix("python")) if self.bundling_required else None
        self.layer = self._layer(project_root, staging, python)

        self.queues = {q.name: self._work_queue(q) for q in topology.QUEUES}
        shared = Shared(
            queues=self.queues,
            tables=self.tables,
            event_bus=self.event_bus,
            admin_secret=self.admin_secret,
            layer=self.layer,
            alarm_action=cw_actions.SnsAction(self.alarm_topic),
            log_retention=settings.log_retention,
        )
        self.stages: dict[str, FunctionStage] = {}
        for spec in topology.FUNCTIONS:
            if spec.stream is not None and not spec.stream.table.stream:
                raise ValueError(f"{spec.name} listens to {spec.stream.table.name}, which has no stream")
            code = lambda_.Code.from_asset(
                str(assets.stage_function_code(project_root, spec, staging, python))
            )
            self.stages[spec.name] = FunctionStage(
                self, pascal(spec.name), spec=spec, code=code, shared=shared
            )

        rule_dead_letters = [
            stage.queues[name]
            for stage in self.stages.values()
            if stage.spec.rule is not None
            for name in ("delivery_dlq", "handler_failures")
        ]
        for stage in self.stages.values():
            if stage.spec.replays_dead_letters:
                stage.replay_from(rule_dead_letters)

        self.api = self._http_api(settings) if topology.all_routes() else None
        self._dashboard()

        if self.api is not None:
            CfnOutput(self, "ApiUrl", value=self.api.url, description="Base URL of the HTTP API")
        CfnOutput(
            self,
            "AdminTokenSecretArn",
            value=self.admin_secret.secret_arn,
            description="Secrets Manager secret holding the admin bearer token",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        CfnOutput(self, "EventBusName", value=self.event_bus.event_bus_name)

    # --- shared resources ---------------------------------------------------

    def _table(self, spec: topology.Table) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            f"{pascal(spec.name)}Table",
            partition_key=dynamodb.Attribute(
                name=spec.partition_key, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if spec.stream else None,
            # Business data outlives the stack: `cdk destroy` leaves the tables behind.
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=index.sort_key, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType(index.projection),
                non_key_attributes=list(index.include) or None,
            )
        return table

    def _work_queue(self, spec: topology.QueueTrigger) -> sqs.Queue:
        """A queue a function works from; what it gives up on (after the receive count) is
        parked in the queue's DLQ, which alarms at one message."""
        dlq = failure_queue(self, f"{pascal(spec.name)}Dlq", f"queue {spec.name}")
        return sqs.Queue(
            self,
            f"{pascal(spec.name)}Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=spec.max_receive_count),
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _admin_secret(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "AdminToken",
            description="backorders admin bearer token (Authorization: Bearer <token>)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48, exclude_punctuation=True, include_space=False
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        NagSuppressions.add_resource_suppressions(
            secret,
            [
                NagPackSuppression(
                    id="AwsSolutions-SMG4",
                    reason="A static operator token, not a database credential: there is "
                    "no rotation Lambda to call. Ops rotate it by putting a new value "
                    "(see README, Deploy); functions read it at cold start.",
                )
            ],
        )
        return secret

    def _alarm_topic(self, email: str | None) -> sns.Topic:
        # CloudWatch cannot publish to a topic encrypted with the AWS-managed aws/sns key,
        # so the topic gets its own key whose policy lets CloudWatch use it.
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="backorders alarm topic encryption",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key.grant(cloudwatch_principal, "kms:Decrypt", "kms:GenerateDataKey*")
        topic = sns.Topic(
            self, "AlarmTopic", display_name="backorders alarms", master_key=key, enforce_ssl=True
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[cloudwatch_principal],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        if email:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic

    def _layer(self, project_root: Path, staging: Path, bytecode_python: str | None = None) -> lambda_.LayerVersion:
        # CDK bundles only the stacks in aws:cdk:bundling-stacks: `cdk synth`, `diff` and
        # `deploy` bundle; `cdk ls`, `cdk destroy` and the tests skip it.
        bundled = self.bundling_required
        layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            description="backorders runtime dependencies (pyproject [project.dependencies])",
            code=assets.layer_code(
                project_root,
                staging,
                runtime=LAMBDA_RUNTIME,
                architecture=LAMBDA_ARCHITECTURE,
                bundle=bundled,
                bytecode_python=bytecode_python,
            ),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
        )
        if not bundled:
            message = (
                "The dependency layer was not bundled (this stack is not in "
                "aws:cdk:bundling-stacks): it is an EMPTY placeholder and must not be "
                "deployed. `npx aws-cdk deploy Backorders` bundles it."
            )
            allowed = self.node.try_get_context(assets.ALLOW_PLACEHOLDER_CONTEXT)
            if str(allowed).lower() == "true":
                Annotations.of(layer).add_warning_v2("backorders:placeholder-layer", message)
            else:
                # An error, not an exception: `cdk ls` and `cdk destroy` synthesise without
                # bundling and must keep working; deploying this assembly fails on it.
                Annotations.of(layer).add_error(
                    f"{message} To synthesise the placeholder on purpose (tests), set "
                    f"-c {assets.ALLOW_PLACEHOLDER_CONTEXT}=true."
                )
        return layer

    # --- HTTP API -----------------------------------------------------------

    def _http_api(self, settings: DeploySettings) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        api = apigw.RestApi(
            self,
            "HttpApi",
            description="backorders HTTP API (marketplace webhooks, ops, sellers, vendors)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name="prod",
                throttling_rate_limit=settings.api_throttle_rate_limit,
                throttling_burst_limit=settings.api_throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FIELDS)),
                tracing_enabled=True,
            ),
        )
        # One URL output, ApiUrl below, instead of RestApi's generated "Endpoint" twin.
        api.node.try_remove_child("Endpoint")
        for response_type, status, code, message in _GATEWAY_ERRORS:
            api.add_gateway_response(
                f"{code}-response",
                type=response_type,
                status_code=status,
                templates={
                    "application/json": (
                        f'{{"error": {{"code": "{code}", "message": {message}, "details": []}}}}'
                    )
                },
            )

        # Lambda proxy integration (the handlers use powertools' APIGatewayRestResolver).
        # Request body size: API Gateway REST only has its hard 10 MB limit, and a WAF
        # size rule would be overkill, so the API's own limit is enforced in the handler:
        # backorders.http.gate.Gate.check (MAX_BODY_BYTES), the first thing every HTTP handler
        # does, before the credential check and before any parsing.
        integrations = {
            name: apigw.LambdaIntegration(stage.function, allow_test_invoke=False)
            for name, stage in self.stages.items()
            if stage.spec.routes
        }
        owners: dict[str, str] = {}
        for route, spec in topology.all_routes():
            # No API Gateway authorizer, on purpose: each handler checks credentials as its
            # FIRST step, before any business logic. Webhook HMAC signatures cover the raw
            # request body, which a Lambda authorizer never sees; API keys and the admin
            # bearer token are checked in the same place so that there is one code path.
            api.root.resource_for_path(route.path).add_method(
                route.method,
                integrations[spec.name],
                authorization_type=apigw.AuthorizationType.NONE,
            )
            if owners.setdefault(route.path, spec.name) != spec.name:
                raise ValueError(f"{route.path}: served by {owners[route.path]} and {spec.name}; one function per path")
        # Any other method on a known path goes to the path's function too, whose route
        # table answers it: 405 with Allow, or HEAD like GET.
        for path, name in owners.items():
            api.root.resource_for_path(path).add_method(
                "ANY", integrations[name], authorization_type=apigw.AuthorizationType.NONE
            )

        NagSuppressions.add_resource_suppressions(
            api,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG2",
                    reason="Requests are validated in the handlers (powertools + pydantic "
                    "models) so that every refusal follows the API's JSON error contract "
                    "(400 naming the field); API Gateway's validator answers in its own shape.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-APIG3",
                    reason="No WAF: stage throttling bounds the request rate, credentials are "
                    "checked first in every handler, and the body size limit is enforced there "
                    "too (backorders.http.gate.Gate, MAX_BODY_BYTES); a web ACL is overkill for this "
                    "B2B webhook/ops API.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-APIG4",
                    reason="Authorization happens in the handler as its first step: HMAC "
                    "webhook signatures need the raw body, which an authorizer cannot see; "
                    "seller/vendor API keys and the admin token use the same path. Only "
                    "GET /v1/health, GET /v1/openapi.json and the static web pages "
                    "(GET /panel*, nothing secret in them) are public by design.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-COG4",
                    reason="No Cognito: callers are marketplaces (HMAC-signed webhooks), "
                    "vendors and sellers (API keys) and ops (bearer token), all checked in "
                    "the handler as its first step.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-APIG6",
                    reason="Access logs are on for every request (status, latency, "
                    "integration error). Execution logging needs the region-wide API Gateway "
                    "CloudWatch role (AWS::ApiGateway::Account), which this stack must not own; "
                    "handler logs are in each function's log group.",
                ),
            ],
            apply_to_children=True,
        )
        return api

    def _dashboard(self) -> None:
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        for stage in self.stages.values():
            dashboard.add_widgets(*stage.dashboard_row(self.api))  # each call adds one row
        CfnOutput(self, "DashboardName", value=dashboard.dashboard_name)
