"""Every AWS call a function makes is allowed by that function's role in the synthesised
template, and every grant of the role is used by some call.

moto checks no IAM, so this is the only place a missing grant shows before a deploy.
A representative workload (the existing chain scenarios, the reconciler with a
dead-letter replay, redelivery, a few simulation seeds, the admin token read from its
secret) runs with tests/iam_calls.py recording (function, action, resource) for each
call made inside a handler. The records are then checked against the template alone:

* a recorded resource is the value the code got from its environment (a table name,
  the bus name, the secret ARN, the dead-letter queue URLs); the function's environment
  in the template says which logical resource that variable names in the deployment;
* each call must be allowed by a statement of THAT function's role on that resource;
* each grant of the role must be used by some call of the function (a DynamoDB grant:
  some call of its kind, read or write, on that table; see KINDS), unless the
  Lambda service itself, not the code, makes that call with the role
  (`not_made_by_the_code`, the short allow-list);
* each granted action must be made by some function somewhere.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import NamedTuple

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

import tests.simulation.test_simulation as simulation
import tests.test_consolidation as consolidation
import tests.test_edge_cases as edge_cases
import tests.test_lists as lists_test
import tests.test_purchasing as purchasing
import tests.test_reconcile as reconciling
import tests.test_redelivery as redelivery
import tests.test_seed_scenario as seed
import tests.test_stock_returns_cancellation as stock_returns
import tests.test_webhooks as webhooks_test
from backorders import topology
from backorders.adapters import config
from backorders.http import gate as http
from backorders_local import functions, provision, shapes
from tests.chain import ADMIN_TOKEN, Chain, receipts_given_later
from tests.iam_calls import Call, recording

SIMULATION_SEEDS = (0, 1, 2, 3)  # the four cover every function; 30 seeds record no new kind of call

# --- the workload -----------------------------------------------------------------


def shop(chain: Chain) -> Chain:
    """The `shop` fixture of the scenario modules: seller s1, vendor v1, A -> v1."""
    return reconciling.stocked_shop(chain)


def mug_shop(chain: Chain) -> Chain:
    """tests/test_purchasing.py's `shop` fixture: seller s1, vendor v1, MUG -> v1."""
    chain.seller("s1")
    chain.vendor("v1")
    chain.map_sku("s1", "MUG", "v1")
    return chain


def manual_grn_shop(chain: Chain):
    """TestManualGrn's `manual` fixture."""
    chain.seller("s1", auto_grn_through_backorder=False)
    chain.vendor("v1")
    chain.map_sku("s1", "A", "v1")
    chain.order("s1", "o1", ("A", 3))
    stock_returns.step(chain)
    [po] = chain.purchase_orders("s1")
    return chain, po


def reconcile_handler(chain: Chain, older_than: timedelta = timedelta(0)) -> dict:
    """test_reconcile's `run`, through the scheduled function (as deployed) rather than
    the domain call, with the rules' dead-letter queues in its environment."""
    module = sys.modules["backorders_fn_reconcile"]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(module, "older_than", older_than)
        m.setattr(module, "queue_urls", [url for rule in chain.resources.rules for url in rule.dead_letter_urls])
        out = chain.handlers["reconcile"](shapes.scheduled_event("reconcile"), functions.context_for(topology.RECONCILE))
    return out["repairs"]


def fresh_settings() -> None:
    """Forget the configuration read at cold start (each `functools.cache` of the modules
    that read it), so the next invocation reads the environment again."""
    for module in (config, http):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == module.__name__:
                value.cache_clear()
    parameters.clear_caches()  # the admin token, kept by powertools for a few minutes


@contextmanager
def admin_token_in_a_secret() -> Iterator[str]:
    """As deployed: the functions read the admin token from Secrets Manager."""
    arn = boto3.client("secretsmanager").create_secret(Name="admin-token", SecretString=ADMIN_TOKEN)["ARN"]
    with pytest.MonkeyPatch.context() as m:
        m.delenv("ADMIN_TOKEN_SHA256")
        m.setenv("ADMIN_TOKEN_SECRET_ARN", arn)
        fresh_settings()
        try:
            yield arn
        finally:
            fresh_settings()


class Workload(NamedTuple):
    name: str
    run: Callable[[Chain], object]


def with_the_secret(chain: Chain) -> None:
    with admin_token_in_a_secret() as arn:
        LOCAL_ENVIRONMENT[arn] = "ADMIN_TOKEN_SECRET_ARN"
        shop(chain)  # the api reads the token on its first authenticated request
        chain.order("s1", "o1", ("A", 2))
        chain.drain()
        [vo] = chain.vendor_orders("v1")
        fresh_settings()  # on_handover runs in its own process on Lambda: its own cold start
        assert chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 2)).status == 202


def grns_given_by_the_stream(chain: Chain) -> None:
    shop(chain)
    chain.order("s1", "o1", ("A", 2))
    chain.drain()
    [vo] = chain.vendor_orders("v1")
    with receipts_given_later():
        assert chain.hand_over("v1", vo["vendor_order_id"], "h1", ("A", 1)).status == 202
        assert chain.hand_over("v1", vo["vendor_order_id"], "h2", ("A", 1)).status == 202
    chain.drain()
    assert chain.get_order("s1", "o1")["status"] == "ready"


WORKLOAD: tuple[Workload, ...] = (
    Workload("seed scenario", seed.test_stock_3_order_5_handover_1_then_1_ends_ready),
    Workload("two vendors, one needing approval, partial handovers", redelivery.seed_scenario),
    Workload("approval required", edge_cases.test_a_vendor_that_requires_approval_gets_an_unapproved_order_to_approve),
    Workload("auto GRN off", edge_cases.test_auto_grn_off_records_the_handover_alone),
    Workload("no backorders allowed", edge_cases.test_a_seller_without_backorders_is_refused_a_short_order_and_nothing_is_written),
    Workload("stock view", lambda c: stock_returns.TestStockView().test_the_figures_follow_the_seed_scenario(shop(c))),
    Workload("returns", stock_returns.TestReturns().test_an_expected_return_then_received_adds_stock_for_the_waiting_order),
    Workload("free stock", stock_returns.TestFreeStock().test_stock_that_arrives_goes_to_the_orders_waiting_longest),
    Workload("surplus GRN", lambda c: stock_returns.TestFreeStock().test_a_later_order_takes_the_surplus_of_an_open_po_and_its_grn_gives_it_its_share(shop(c))),
    Workload("freed stock cuts a PO", lambda c: purchasing.test_freed_stock_that_fills_a_waiting_line_cuts_its_po_so_nothing_is_bought_for_nobody(mug_shop(c))),
    Workload("re-peg", lambda c: purchasing.test_a_line_filled_from_freed_stock_hands_its_allocation_to_the_oldest_line_waiting_without_one(mug_shop(c))),
    Workload("netting", lambda c: purchasing.test_what_a_cancelled_order_leaves_on_order_is_taken_by_the_next_shortfall_before_a_new_po(mug_shop(c))),
    Workload(
        "a consolidation window",
        lambda c: consolidation.test_five_orders_in_one_window_become_one_po_and_one_vendor_order_rounded_to_the_vendor_terms(consolidation.window_shop(c)),
    ),
    Workload(
        "a window closing for a vendor that may no longer get POs",
        lambda c: consolidation.test_a_vendor_that_can_no_longer_get_pos_when_the_window_closes_gets_none_and_the_lines_wait_until_it_is_fixed(
            consolidation.window_shop(c)
        ),
    ),
    Workload(
        "a window message early",
        lambda c: consolidation.test_a_window_message_that_comes_early_comes_back_and_the_one_on_time_closes_it(consolidation.window_shop(c)),
    ),
    Workload("GRNs given out by the purchasing stream", grns_given_by_the_stream),
    Workload("manual GRN", lambda c: stock_returns.TestManualGrn().test_a_manual_grn_inwards_and_assigns_like_an_automatic_one(manual_grn_shop(c))),
    Workload("cancel before the PO", stock_returns.TestCancellation().test_before_the_po_assigned_stock_goes_to_the_next_waiting_order),
    Workload("cancel after the PO", lambda c: stock_returns.TestCancellation().test_after_the_po_the_po_and_vendor_order_are_cancelled(shop(c))),
    Workload(
        "cancel after a partial handover",
        lambda c: stock_returns.TestCancellation().test_after_a_partial_handover_the_po_keeps_what_was_handed_over(shop(c)),
    ),
    Workload(
        "cancel before the GRN is assigned",
        lambda c: stock_returns.TestCancellation()
        .test_goods_received_for_an_order_cancelled_before_they_were_assigned_become_free_stock(shop(c)),
    ),
    Workload("reconcile a parked order", lambda c: reconciling.test_an_order_whose_record_was_parked_is_assigned_and_gets_its_po(shop(c))),
    Workload("reconcile a dead letter", lambda c: reconciling.test_a_dead_lettered_shortfall_is_announced_again(shop(c))),
    Workload("reconcile a receipt", lambda c: reconciling.test_goods_received_but_never_assigned_are_assigned(shop(c))),
    Workload("reconcile free stock", reconciling.test_free_stock_while_orders_wait_is_assigned),
    Workload("reconcile free stock for a PO", lambda c: reconciling.test_free_stock_for_a_line_on_a_po_is_assigned_and_the_po_cut(shop(c))),
    Workload("redelivery after a lost announcement", redelivery.test_an_announcement_lost_after_the_write_is_made_again_on_the_retry),
    Workload("lists", lambda c: lists_test.test_orders_filter_by_status_and_sku(lists_test.stocked_shop(c))),
    Workload("admin token from its secret", with_the_secret),
    Workload("outbound webhooks", webhooks_test.test_the_seller_and_the_vendor_hear_of_the_seed_scenario_signed_as_standard_webhooks_say),
    Workload("a webhook retried", webhooks_test.test_a_failing_receiver_gets_each_retry_with_the_same_webhook_id_and_the_attempts_are_listed),
    Workload("a webhook endpoint gone", webhooks_test.test_a_receiver_that_answers_410_disables_its_endpoint),
    Workload("a webhook endpoint deleted", webhooks_test.test_another_accounts_key_cannot_read_or_change_an_endpoint),
)

# What the code got from its environment, locally: value -> variable. Table and bus
# names are the topology's; the secret ARN and the queue URLs are added as they are made.
LOCAL_ENVIRONMENT: dict[str, str] = {
    value: name for name, value in provision.environment().items() if name != "POWERTOOLS_METRICS_NAMESPACE"
}


@pytest.fixture(scope="module")
def recorded() -> dict[str, set[Call]]:
    quiet = [logging.getLogger(name) for name in ("backorders-tests", "backorders.local")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        with recording() as recorder, pytest.MonkeyPatch.context() as m:
            m.setenv("POWERTOOLS_METRICS_DISABLED", "true")
            m.setattr(reconciling, "run", reconcile_handler)
            for work in WORKLOAD:
                with Chain.started() as chain:
                    for rule in chain.resources.rules:
                        for url in rule.dead_letter_urls:
                            LOCAL_ENVIRONMENT[url] = topology.DEAD_LETTER_QUEUES_ENV_VAR
                    for q in topology.QUEUES:
                        LOCAL_ENVIRONMENT[chain.resources.queue_urls[q.name]] = q.env_var
                    try:
                        work.run(chain)
                    except Exception as e:
                        raise AssertionError(f"workload {work.name!r} failed: {e!r}") from e
            redelivery.test_every_record_and_event_delivered_twice_ends_in_the_same_state()
            for seed_ in SIMULATION_SEEDS:
                simulation.run(simulation.Example(seed_))
    finally:
        for lg, level in zip(quiet, levels, strict=False):
            lg.setLevel(level)
    assert recorder.count > 0, "no AWS call was recorded: is the hook installed before any session?"
    return recorder.by_function()


# --- the template -------------------------------------------------------------------


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def referenced(value) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt), at any depth."""
    if isinstance(value, dict):
        if "Ref" in value and not str(value["Ref"]).startswith("AWS::"):
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        return set().union(*(referenced(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value)) if value else set()
    return set()


def arn_of(resource) -> str:
    """The logical id whose ARN a policy resource is (a table, queue, bus: Fn::GetAtt
    Arn; a secret: Ref), "*", or the resource itself as JSON (a stream ARN, a pattern)."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict):
        if set(resource) == {"Ref"}:
            return resource["Ref"]
        if set(resource) == {"Fn::GetAtt"} and resource["Fn::GetAtt"][1] == "Arn":
            return resource["Fn::GetAtt"][0]
        match resource:  # a table's index: <table ARN>/index/<name>
            case {"Fn::Join": ["", [{"Fn::GetAtt": [logical_id, "Arn"]}, str(suffix)]]} if suffix.startswith("/index/"):
                return f"{logical_id}{suffix}"
    return json.dumps(resource, sort_keys=True)


class Grant(NamedTuple):
    action: str  # may hold wildcards
    resource: str  # see arn_of

    def allows(self, action: str, logical_id: str) -> bool:
        return fnmatch.fnmatchcase(action, self.action) and self.resource in ("*", logical_id)


class Deployed(NamedTuple):
    """One function as the template deploys it."""

    environment: dict
    grants: frozenset[Grant]
    log_group: str | None
    stream: str | None  # the stream its event source mapping reads (as arn_of gives it)
    failure_queues: frozenset[str]  # where Lambda parks what the function failed on
    queue: str | None  # the queue its event source mapping polls (logical id)


def deployed(resources: dict) -> dict[str, Deployed]:
    """Each function of the template, by the name its environment gives its code."""
    out = {}
    for fn_id, fn in resources.items():
        if fn["Type"] != "AWS::Lambda::Function":
            continue
        props = fn["Properties"]
        env = props.get("Environment", {}).get("Variables", {})
        name = env.get("POWERTOOLS_SERVICE_NAME")
        if name is None:  # CDK's own helper functions
            continue
        [role] = referenced(props["Role"])
        assert not resources[role]["Properties"].get("ManagedPolicyArns"), f"{name}: managed policies"
        assert not resources[role]["Properties"].get("Policies"), f"{name}: inline policies"
        grants = set()
        for policy in resources.values():
            if policy["Type"] == "AWS::IAM::Policy" and {"Ref": role} in policy["Properties"]["Roles"]:
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                    assert statement["Effect"] == "Allow" and set(statement) <= {"Effect", "Action", "Resource"}, statement
                    for action in as_list(statement["Action"]):
                        for resource in as_list(statement["Resource"]):
                            grants.add(Grant(action, arn_of(resource)))
        stream, failure_queues, queue = None, set(), None
        for other in resources.values():
            p = other.get("Properties", {})
            if referenced(p.get("FunctionName")) != {fn_id}:
                continue
            if other["Type"] == "AWS::Lambda::EventSourceMapping":
                source = arn_of(p["EventSourceArn"])
                if resources.get(source, {}).get("Type") == "AWS::SQS::Queue":
                    queue = source
                else:
                    stream = json.dumps(p["EventSourceArn"], sort_keys=True)
            if other["Type"] in ("AWS::Lambda::EventSourceMapping", "AWS::Lambda::EventInvokeConfig"):
                failure_queues |= referenced(p.get("DestinationConfig", {}).get("OnFailure", {}))
        log_group = props.get("LoggingConfig", {}).get("LogGroup")
        out[name] = Deployed(
            env,
            frozenset(grants),
            next(iter(referenced(log_group)), None),
            stream,
            frozenset(failure_queues),
            queue,
        )
    return out


def not_made_by_the_code(fn: Deployed, grant: Grant) -> str | None:
    """Why a grant no recorded call uses is still needed, or None: calls the Lambda
    service makes with the function's role, which no handler makes."""
    if grant.action in ("logs:CreateLogStream", "logs:PutLogEvents") and grant.resource == fn.log_group:
        return "Lambda writes the function's logs to its log group"
    if grant.action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords") and grant.resource == "*":
        return "active tracing: Lambda sends the trace segments (no resource-level permission)"
    if fn.stream is not None:
        if grant.action == "dynamodb:ListStreams" and grant.resource == "*":
            return "the event source mapping lists streams (no resource-level permission)"
        if grant.action in ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords") and grant.resource == fn.stream:
            return "the event source mapping reads the stream"
    if fn.queue is not None and grant.resource == fn.queue:
        if grant.action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"):
            return "the event source mapping polls the queue with the function's role"
        if grant.action == "sqs:GetQueueUrl":
            return "granted with the polling actions by CDK's SqsEventSource"
    if grant.resource in fn.failure_queues:
        if grant.action == "sqs:SendMessage":
            return "Lambda sends what the function failed on to its on-failure destination"
        if grant.action in ("sqs:GetQueueAttributes", "sqs:GetQueueUrl"):
            # Lambda needs only SendMessage; CDK's SqsDlq and SqsDestination add these two.
            return "granted with SendMessage by CDK's SqsDlq / SqsDestination"
    return None


# --- the checks ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def functions_deployed(synth) -> dict[str, Deployed]:
    return deployed(synth.resources)


def targets(fn: Deployed, call: Call) -> set[str]:
    """The logical resources a recorded call reaches once deployed: through the variable
    of the function's environment the code took the name from."""
    name, index = (call.resource or ""), ""
    if "/index/" in name:  # an index of a table: the table's variable, the index's ARN
        name, _, index_name = name.partition("/index/")
        index = f"/index/{index_name}"
    variable = LOCAL_ENVIRONMENT.get(name)
    if variable is None or variable not in fn.environment:
        return set()
    return {f"{logical_id}{index}" for logical_id in referenced(fn.environment[variable])}


def test_the_workload_exercises_every_deployed_function(recorded, functions_deployed):
    assert set(functions_deployed) == {fn.name for fn in topology.FUNCTIONS}
    assert set(recorded) == set(functions_deployed), "a function made no AWS call in the workload"


@pytest.mark.parametrize("name", [fn.name for fn in topology.FUNCTIONS])
def test_every_call_is_allowed_by_the_functions_own_role(recorded, functions_deployed, name):
    fn = functions_deployed[name]
    refused = []
    for call in sorted(recorded.get(name, ()), key=str):
        reached = targets(fn, call)
        if not reached:
            refused.append(f"{call.action} on {call.resource}: no variable of its deployed environment names it")
        for logical_id in sorted(reached):
            if not any(grant.allows(call.action, logical_id) for grant in fn.grants):
                refused.append(f"{call.action} on {call.resource} ({logical_id})")
    assert not refused, f"{name}'s role refuses:\n  " + "\n  ".join(refused)


# How the access levels group DynamoDB's item actions (written out here, not taken from
# the stack). A table grant is used when the function made a call of the same kind on
# that table; each action of a kind must be made by some function (the next test), so a
# level holds no action the code never makes. Judging each action per function instead
# would tie the roles to the paths one workload happens to take.
KINDS = {
    "read": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"},
    "write": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"},
}


def kind(action: str) -> str:
    return next((k for k, actions in KINDS.items() if action in actions), action)


def unused(fn: Deployed, calls: set[Call]) -> list[str]:
    reached = {(kind(call.action), call.action, logical_id) for call in calls for logical_id in targets(fn, call)}
    out = []
    for grant in sorted(fn.grants):
        if not_made_by_the_code(fn, grant) is not None:
            continue
        if not any(
            grant.resource in ("*", logical_id) and (k == kind(grant.action) or fnmatch.fnmatchcase(action, grant.action))
            for k, action, logical_id in reached
        ):
            out.append(f"{grant.action} on {grant.resource}")
    return out


@pytest.mark.parametrize("name", [fn.name for fn in topology.FUNCTIONS])
def test_every_grant_of_the_role_is_used(recorded, functions_deployed, name):
    found = unused(functions_deployed[name], recorded.get(name, set()))
    assert not found, f"{name}'s role grants what no call of it used:\n  " + "\n  ".join(found)


def test_every_granted_action_is_made_by_some_function(recorded, functions_deployed):
    made = {call.action for calls in recorded.values() for call in calls}
    granted = {
        (grant.action, name)
        for name, fn in functions_deployed.items()
        for grant in fn.grants
        if not_made_by_the_code(fn, grant) is None
    }
    never = sorted(
        f"{action} (granted to {name})"
        for action, name in granted
        if not any(fnmatch.fnmatchcase(m, action) for m in made)
    )
    assert not never, "granted, but no function makes it:\n  " + "\n  ".join(never)
