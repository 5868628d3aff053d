"""The one declaration of what runs where.

Which function listens to which table stream, EventBridge rule or HTTP route, with
which filters, batch sizes and table access, is declared here once. The CDK stack
(`infra/`) and the local runtime (`backorders_local`) both build from this module,
so the deployed system and the one on a laptop cannot drift apart.

Pure data: no AWS, no CDK, nothing imported beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

APP_NAME = "backorders"
METRICS_NAMESPACE = "Backorders"

# --- tables ---------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    """A global secondary index (string keys). Sparse: only items that carry its keys are
    in it. It projects the keys and `include`, so writes that change neither cost it
    nothing."""

    name: str
    partition_key: str
    sort_key: str
    include: tuple[str, ...]

    @property
    def projection(self) -> Literal["KEYS_ONLY", "INCLUDE"]:
        return "INCLUDE" if self.include else "KEYS_ONLY"


# The lists a seller or vendor pages through, newest first: one partition per list
# (`SELLER#<id>#ORDERS`, `SELLER#<id>#POS`, `VENDOR#<id>#ORDERS`), sorted by
# `<created_at>#<id>`. It projects an order's SKU digests (for the SKU filter), which
# never change: an item enters the index once, on its put, and no later write of it
# (status, lines) writes the index again. The status filter reads the items.
LISTS = Index(name="lists", partition_key="list_pk", sort_key="list_sk", include=("skus",))

# Open work, for the reconciler: an item is in it only while it may still need a repair,
# so a pass reads in proportion to that, not to the tables. Orders not yet ready or
# cancelled (or cancelled with goods received for them still to give; those with a line
# waiting for a fix are a kind of their own), open POs (consolidation windows). A GRN not
# yet given is found through its order.
# `work_pk` is `<kind>#<shard>` (WORK_SHARDS per kind, so no index partition is hot),
# `work_sk` when the work becomes due (created, or closes). Keys only: an item enters on
# a write that sets the keys and leaves on the one that removes them; writes between
# cost the index nothing.
WORK = Index(name="work", partition_key="work_pk", sort_key="work_sk", include=())
WORK_SHARDS = 8


@dataclass(frozen=True)
class Table:
    """A DynamoDB table keyed by `pk` (string) and `sk` (string)."""

    name: str
    env_var: str
    stream: bool
    purpose: str
    partition_key: str = "pk"
    sort_key: str = "sk"
    indexes: tuple[Index, ...] = ()


ACCOUNTS = Table(
    name="accounts",
    env_var="ACCOUNTS_TABLE",
    stream=False,
    purpose="sellers, vendors, SKU -> vendor mappings",
)
INVENTORY = Table(
    name="inventory",
    env_var="INVENTORY_TABLE",
    stream=True,
    purpose="stock per seller, SKU, location and bin; lines waiting per SKU; adjustments, returns",
)
ORDERS = Table(
    name="orders",
    env_var="ORDERS_TABLE",
    stream=True,
    purpose="seller orders with their lines, assignments and allocations",
    indexes=(LISTS, WORK),
)
PURCHASING = Table(
    name="purchasing",
    env_var="PURCHASING_TABLE",
    stream=True,
    purpose="purchase orders, vendor (B2B) orders, handovers, GRNs",
    indexes=(LISTS, WORK),
)
TABLES: tuple[Table, ...] = (ACCOUNTS, INVENTORY, ORDERS, PURCHASING)

# --- events ---------------------------------------------------------------

EVENT_BUS = "backorders"
EVENT_BUS_ENV_VAR = "EVENT_BUS_NAME"
EVENT_SOURCE = "backorders.orders"


class DetailType:
    """detail-type of every event the domain puts on the bus."""

    ORDER_BACKORDERED = "OrderBackordered"


# --- triggers -------------------------------------------------------------


@dataclass(frozen=True)
class StreamTrigger:
    """A DynamoDB stream event source mapping.

    `filters` are Lambda filter criteria patterns (each matched against the whole
    stream record, as Lambda does); a record passes when any pattern matches.
    """

    table: Table
    filters: tuple[dict, ...]
    batch_size: int = 10
    max_batching_window_s: int = 0
    retry_attempts: int = 5
    max_record_age_s: int = 3600
    bisect_batch_on_error: bool = True
    parallelization_factor: int = 1


@dataclass(frozen=True)
class RuleTrigger:
    """An EventBridge rule on the backorders bus targeting the function.

    EventBridge invokes Lambda asynchronously, so two retry policies apply, as on AWS:
    the rule target's, for delivering the event to Lambda (`retry_attempts`,
    `max_event_age_s`, then the target's DLQ), and Lambda's, for an invocation whose
    handler fails (`async_retry_attempts`, 0 to 2, `async_max_event_age_s`, then the
    function's on-failure destination).
    """

    name: str
    pattern: dict
    retry_attempts: int = 8
    max_event_age_s: int = 3600
    async_retry_attempts: int = 2
    async_max_event_age_s: int = 3600


@dataclass(frozen=True)
class QueueTrigger:
    """An SQS queue whose messages invoke the function (Lambda's SQS event source).

    `max_concurrency` bounds how many invocations the queue runs at once, so a slow
    receiver takes at most that many; a message whose handler fails is received again
    after `visibility_timeout_s`, up to `max_receive_count` times, then parked in the
    queue's DLQ. Functions that put messages on it name it in `sends_to`.
    """

    name: str
    batch_size: int = 1
    max_concurrency: int = 10
    visibility_timeout_s: int = 60
    max_receive_count: int = 5

    @property
    def env_var(self) -> str:
        return f"{self.name.upper().replace('-', '_')}_QUEUE_URL"


WEBHOOK_DELIVERIES = QueueTrigger(name="webhook-deliveries", batch_size=1, max_concurrency=10, visibility_timeout_s=60)
# An open PO's consolidation window closing: a message delayed until it closes (SQS
# delays at most 15 minutes, so a longer window's message comes back until it is due).
PO_WINDOWS = QueueTrigger(name="po-windows", batch_size=10, max_concurrency=2, visibility_timeout_s=60)
QUEUES = (WEBHOOK_DELIVERIES, PO_WINDOWS)


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    # "signed_or_seller": the webhook signature, or the seller's own key.
    # "channel": the marketplace's own signature, with the channel's secret.
    auth: Literal["none", "admin", "seller", "signed", "signed_or_seller", "vendor", "channel"]
    # The schema of its success body in the OpenAPI document (http/contract.py), by name.
    body: str | None = None


# What a function may do on a table (infra/stack.py maps each level to IAM actions).
# No level scans a whole table: what the reconciler looks for is in the work index.
Access = Literal["read", "write", "read_write"]


@dataclass(frozen=True)
class Function:
    """One Lambda function: its folder under `functions/` and what triggers it."""

    name: str
    description: str
    handler: str = "app.handler"
    memory_mb: int = 512
    timeout_s: int = 30
    tables: dict[str, Access | tuple[Access, ...]] = field(default_factory=dict)
    publishes_events: bool = False
    routes: tuple[Route, ...] = ()
    stream: StreamTrigger | None = None
    rule: RuleTrigger | None = None
    queue: QueueTrigger | None = None
    sends_to: tuple[QueueTrigger, ...] = ()  # queues it puts messages on
    schedule_minutes: int | None = None  # run every N minutes
    replays_dead_letters: bool = False  # may read and replay the rules' dead-letter queues
    queries_indexes: tuple[Index, ...] = ()  # indexes it may query, on each of its tables that has them

    @property
    def directory(self) -> str:
        return f"functions/{self.name}"


def _image_is(entity: str, *, status: str | None = None) -> dict:
    image: dict = {"entity": {"S": [entity]}}
    if status is not None:
        image["status"] = {"S": [status]}
    return {"eventName": ["INSERT"], "dynamodb": {"NewImage": image}}


V = "/v1"


def _endpoint_routes(account: str, auth: Literal["seller", "vendor"]) -> tuple[Route, ...]:
    """An account's outbound webhook endpoints, managed with its own key (or admin)."""
    return (
        Route("GET", f"{V}/{account}/webhook-endpoints", auth, body="WebhookEndpointList"),
        Route("PUT", f"{V}/{account}/webhook-endpoints/{{endpoint_id}}", auth, body="WebhookEndpoint"),
        Route("DELETE", f"{V}/{account}/webhook-endpoints/{{endpoint_id}}", auth),
        Route("GET", f"{V}/{account}/webhook-endpoints/{{endpoint_id}}/deliveries", auth, body="WebhookAttemptPage"),
    )
# The web pages (vendor panel, seller console): static files served by the api function
# with no credential. They are not part of the API contract (not in the OpenAPI
# document); in the browser they call the API with the user's own key.
PANEL = "/panel"
PANEL_ROUTES: tuple[Route, ...] = (
    Route("GET", PANEL, "none"),
    Route("GET", f"{PANEL}/{{asset}}", "none"),
)
API_ROUTES: tuple[Route, ...] = (
    Route("GET", f"{V}/health", "none", body="Health"),
    Route("GET", f"{V}/openapi.json", "none", body="OpenApiDocument"),
    # ops
    Route("PUT", f"{V}/sellers/{{seller_id}}", "admin", body="Seller"),
    Route("GET", f"{V}/sellers/{{seller_id}}", "admin", body="Seller"),
    Route("POST", f"{V}/sellers/{{seller_id}}/credentials/rotate", "admin", body="Credentials"),
    Route("PUT", f"{V}/vendors/{{vendor_id}}", "admin", body="Vendor"),
    Route("GET", f"{V}/vendors/{{vendor_id}}", "admin", body="Vendor"),
    Route("POST", f"{V}/vendors/{{vendor_id}}/credentials/rotate", "admin", body="Credentials"),
    Route("PUT", f"{V}/sellers/{{seller_id}}/skus/{{sku}}", "admin", body="SkuMapping"),
    Route("GET", f"{V}/sellers/{{seller_id}}/skus/{{sku}}", "admin", body="SkuMapping"),
    Route("POST", f"{V}/sellers/{{seller_id}}/inventory/adjustments", "admin", body="Adjustment"),
    # marketplace webhooks
    Route("POST", f"{V}/sellers/{{seller_id}}/orders", "signed", body="OrderReceipt"),
    Route("POST", f"{V}/sellers/{{seller_id}}/orders/{{order_id}}/cancel", "signed_or_seller", body="Order"),
    Route("POST", f"{V}/sellers/{{seller_id}}/returns", "signed", body="Return"),
    # marketplace channels: a marketplace posts its own webhooks, unchanged
    Route("PUT", f"{V}/sellers/{{seller_id}}/channels/{{channel_id}}", "admin", body="Channel"),
    Route("POST", f"{V}/sellers/{{seller_id}}/channels/{{channel_id}}/webhooks", "channel", body="ChannelOutcome"),
    Route("GET", f"{V}/sellers/{{seller_id}}/channels/{{channel_id}}/deliveries", "seller", body="ChannelDeliveryPage"),
    # sellers
    Route("GET", f"{V}/sellers/{{seller_id}}/orders", "seller", body="OrderPage"),
    Route("GET", f"{V}/sellers/{{seller_id}}/orders/{{order_id}}", "seller", body="Order"),
    Route("GET", f"{V}/sellers/{{seller_id}}/purchase-orders", "seller", body="PurchaseOrderPage"),
    Route("POST", f"{V}/sellers/{{seller_id}}/purchase-orders", "seller", body="PurchaseOrder"),
    Route("GET", f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}", "seller", body="PurchaseOrder"),
    Route("POST", f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}/grns", "seller", body="Grn"),
    Route("POST", f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}/cancel", "seller", body="PurchaseOrder"),
    Route("GET", f"{V}/sellers/{{seller_id}}/skus/{{sku}}/stock", "seller", body="StockView"),
    *_endpoint_routes("sellers/{seller_id}", "seller"),
    *_endpoint_routes("vendors/{vendor_id}", "vendor"),
    # vendors
    Route("GET", f"{V}/vendors/{{vendor_id}}/orders", "vendor", body="VendorOrderPage"),
    Route("GET", f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}", "vendor", body="VendorOrder"),
    Route("POST", f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/approve", "vendor", body="VendorOrder"),
    Route("POST", f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/decline", "vendor", body="VendorOrder"),
    *PANEL_ROUTES,
)
HANDOVER_ROUTES: tuple[Route, ...] = (
    Route("POST", f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/handovers", "vendor", body="Handover"),
)

FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="api",
        description="HTTP API: marketplace webhooks, ops admin, seller and vendor reads",
        timeout_s=20,
        tables={
            ACCOUNTS.name: "read_write",
            INVENTORY.name: "read_write",
            ORDERS.name: "read_write",
            PURCHASING.name: "read_write",
        },
        routes=API_ROUTES,
        queries_indexes=(LISTS,),
    ),
    Function(
        name="on_order_created",
        description="Assigns available stock to a new order; announces its shortfall",
        tables={INVENTORY.name: "read_write", ORDERS.name: "read_write"},
        publishes_events=True,
        stream=StreamTrigger(table=ORDERS, filters=(_image_is("ORDER", status="received"),)),
    ),
    Function(
        name="create_po",
        description="Raises the approved PO for the missing quantity and the vendor's B2B order",
        # inventory: the SKU summaries (surplus on order to take first; the open PO quantity
        # moves in the PO's transaction); purchasing: the POs whose surplus it takes
        tables={ACCOUNTS.name: "read", INVENTORY.name: "read_write", ORDERS.name: "read_write", PURCHASING.name: "read_write"},
        rule=RuleTrigger(
            name="order-backordered",
            pattern={"source": [EVENT_SOURCE], "detail-type": [DetailType.ORDER_BACKORDERED]},
        ),
    ),
    Function(
        name="on_handover",
        description="Vendor handover: records it and, with auto GRN on, inwards the goods and gives them to their orders",
        timeout_s=20,
        # orders: the goods go to the orders they were bought for in the same transaction
        # (inventory: their bins, and the lines leaving the queue of waiting lines)
        tables={
            ACCOUNTS.name: "read",
            INVENTORY.name: "write",
            ORDERS.name: "read_write",
            PURCHASING.name: "read_write",
        },
        routes=HANDOVER_ROUTES,
    ),
    Function(
        name="on_goods_received",
        description="Assigns inwarded goods (a GRN) to the pending quantity of their order",
        # the GRN comes in the stream record: no read of purchasing
        # purchasing: the receipts still due to an order cancelled meanwhile
        tables={INVENTORY.name: "write", ORDERS.name: "read_write", PURCHASING.name: "read"},
        # GRNs whose goods were not given to their orders as they were received
        stream=StreamTrigger(
            table=PURCHASING,
            filters=({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["GRN"]}, "given_on_receipt": {"BOOL": [False]}}}},),
        ),
    ),
    Function(
        name="on_stock_changed",
        description="Offers stock that became available to the orders waiting longest for it",
        # purchasing: a line filled from free stock hands its PO allocation on (or the PO is
        # cut, to the vendor's terms it keeps on its lines)
        tables={INVENTORY.name: "read_write", ORDERS.name: "read_write", PURCHASING.name: "read_write"},
        stream=StreamTrigger(
            table=INVENTORY,
            filters=(
                # stock became available ...
                {
                    "eventName": ["INSERT", "MODIFY"],
                    "dynamodb": {"NewImage": {"entity": {"S": ["STOCK_BIN"]}, "available": {"N": [{"anything-but": ["0"]}]}}},
                },
                # ... or the goods received for orders that held free stock back are all
                # given out (the bin was marked when stock was held back for them)
                {
                    "eventName": ["MODIFY"],
                    "dynamodb": {
                        "NewImage": {"entity": {"S": ["STOCK_BIN"]}, "reserved": {"N": ["0"]}, "offer_when_received": {"BOOL": [True]}}
                    },
                },
            ),
        ),
    ),
)


# Outbound webhooks: the changes that concern a seller or vendor become events for their
# endpoints, queued one message per endpoint; the sender delivers them, off the chain.
FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="notify_orders",
        description="Order status changes -> webhook events for the seller's endpoints",
        tables={ACCOUNTS.name: "read_write"},
        sends_to=(WEBHOOK_DELIVERIES,),
        stream=StreamTrigger(
            table=ORDERS,
            # only orders in a status that is news; the handler tells a change of status from a step
            filters=(
                {
                    "eventName": ["INSERT", "MODIFY"],
                    "dynamodb": {"NewImage": {"entity": {"S": ["ORDER"]}, "status": {"S": ["backordered", "ready", "cancelled"]}}},
                },
            ),
        ),
    ),
    Function(
        name="notify_purchasing",
        description="New POs, vendor orders and GRNs, vendor order changes -> webhook events; "
        "a PO opened for a consolidation window -> the message that closes it on time",
        # purchasing: a handover's GRN, as its PO keeps it
        tables={ACCOUNTS.name: "read_write", PURCHASING.name: "read"},
        sends_to=(WEBHOOK_DELIVERIES, PO_WINDOWS),
        stream=StreamTrigger(
            table=PURCHASING,
            filters=(
                {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"entity": {"S": ["PO", "VENDOR_ORDER", "GRN"]}}}},
                {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"entity": {"S": ["VENDOR_ORDER"]}}}},
            ),
        ),
    ),
    Function(
        name="send_webhooks",
        description="Delivers webhook events to endpoints (signed), retrying on the schedule",
        # a receiver may take 15 s; the queue's visibility timeout covers that and more
        timeout_s=30,
        memory_mb=256,
        tables={ACCOUNTS.name: "read_write"},
        queue=WEBHOOK_DELIVERIES,
        sends_to=(WEBHOOK_DELIVERIES,),
    ),
)

FUNCTIONS = (
    *FUNCTIONS,
    Function(
        name="close_po_windows",
        description="Closes a PO's consolidation window when due: rounded, approved, its vendor order created",
        # accounts: the vendor (its approval, whether it may still get POs) and the seller's
        # name; inventory: the SKU summaries; orders: lines left waiting if the vendor may not
        tables={ACCOUNTS.name: "read", INVENTORY.name: "write", ORDERS.name: "read_write", PURCHASING.name: "read_write"},
        queue=PO_WINDOWS,
        sends_to=(PO_WINDOWS,),
    ),
)

RECONCILE_EVERY_MINUTES = 15
RECONCILE = Function(
    name="reconcile",
    description="Finds stuck work (unassigned orders, shortfalls without PO or reason, unassigned "
    "receipts, free stock while orders wait, overdue PO windows, dead-lettered events) and completes it",
    timeout_s=300,
    tables={
        ACCOUNTS.name: "read",
        INVENTORY.name: "read_write",
        ORDERS.name: "read_write",
        PURCHASING.name: "read_write",
    },
    publishes_events=True,
    schedule_minutes=RECONCILE_EVERY_MINUTES,
    replays_dead_letters=True,
    queries_indexes=(WORK,),
)
FUNCTIONS = (*FUNCTIONS, RECONCILE)
RECONCILE_AFTER_ENV_VAR = "RECONCILE_AFTER_MINUTES"  # work younger than this is not stuck yet
DEAD_LETTER_QUEUES_ENV_VAR = "DEAD_LETTER_QUEUE_URLS"  # JSON list of queue URLs


def function(name: str) -> Function:
    for fn in FUNCTIONS:
        if fn.name == name:
            return fn
    raise KeyError(name)


def all_routes() -> list[tuple[Route, Function]]:
    return [(route, fn) for fn in FUNCTIONS for route in fn.routes]


def table(name: str) -> Table:
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(name)
