"""Pydantic models: what crosses a boundary (HTTP bodies, stored items, events)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from backorders.domain.skus import SKU_MAX_LENGTH, SKU_RULE, is_valid_sku

# Ids appear in keys, paths and API keys ("<kind>.<account>.<secret>"), so no dots.
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")]


def _sku(value: str) -> str:
    if not is_valid_sku(value):
        raise PydanticCustomError("sku", SKU_RULE)
    return value


# Free text from the marketplaces; the rule is in domain.skus, shared with the router.
Sku = Annotated[
    StrictStr,
    AfterValidator(_sku),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": SKU_MAX_LENGTH, "description": SKU_RULE}),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MAX_QTY = 1_000_000_000
Qty = Annotated[StrictInt, Field(ge=1, le=MAX_QTY)]
MAX_LINES = 500
# A PO (and its vendor order) holds at most this many SKUs, so that its biggest step fits
# in one transaction of at most 100 items: a handover with auto GRN writes the vendor order
# (the handover is kept on it), the GRN and the PO, plus each SKU's open-PO figure and bin
# (3 + 2 x 48).
MAX_PO_SKUS = 48

MAX_CONSOLIDATION_MINUTES = 24 * 60

MAIN_LOCATION = "main"
DEFAULT_BIN = "default"

# A hot SKU's Default Bin may be split into shards: items of their own, so that orders
# taking stock at once write different items (one item takes about 1,000 write units a
# second). Shard 0 is the bin itself; shard k > 0 is stored as bin "default~k". Bin ids
# never hold "~" (the Id pattern), so no bin a seller names can be a shard.
SHARD_MARK = "~"
MAX_STOCK_SHARDS = 16


def shard_bin(bin_: str, shard: int) -> str:
    """The bin id shard `shard` of `bin_` is stored under."""
    return bin_ if shard == 0 else f"{bin_}{SHARD_MARK}{shard}"


def base_bin(bin_: str) -> str:
    """The bin a stored bin id belongs to (itself, unless it is a shard)."""
    return bin_.split(SHARD_MARK, 1)[0]

# "accepting": an order of a seller who does not allow backorders, too big to take its
# stock in one transaction, while it is taken in steps (shown as "received").
OrderStatus = Literal["accepting", "received", "backordered", "ready", "cancelled"]
OrderListStatus = Literal["received", "backordered", "ready", "cancelled"]  # as an order shows it
NoPoReason = Literal[
    "stock_available", "sku_not_mapped", "auto_po_disabled", "vendor_not_eligible", "po_cancelled", "vendor_declined"
]
# Reasons a line was left without a PO that go away when their cause is fixed.
HEALABLE: tuple[NoPoReason, ...] = ("sku_not_mapped", "vendor_not_eligible", "auto_po_disabled")
# "open": collecting shortfalls for its vendor until its consolidation window closes (no
# vendor order yet).
PoStatus = Literal["open", "approved", "partially_received", "received", "cancelled"]
VendorOrderStatus = Literal["unapproved", "approved", "partially_handed_over", "handed_over", "cancelled", "declined"]
# Why an allocation went where it did.
AllocationReason = Literal["in_stock", "received_for_order", "freed_stock_oldest_first"]
ReturnStatus = Literal["expected", "received"]


class Input(BaseModel):
    """Request bodies: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class Stored(BaseModel):
    """Items read back from DynamoDB (numbers arrive as Decimal, extra keys ignored)."""

    model_config = ConfigDict(extra="ignore")


# --- ops (admin) ------------------------------------------------------------


class SellerIn(Input):
    name: Name
    allow_backorders: Annotated[StrictBool, Field(description="Accept orders beyond the stock (false: such an order is refused whole).")]
    auto_po_vendor_level: Annotated[StrictBool, Field(description="Raise an approved PO for the missing quantity against the SKU's vendor.")]
    auto_grn_through_backorder: Annotated[
        StrictBool, Field(description="Inward a vendor's handover at once (GRN into the Default Bin); false: a manual GRN does it.")
    ]
    po_consolidation_minutes: Annotated[
        StrictInt,
        Field(
            ge=0,
            le=MAX_CONSOLIDATION_MINUTES,
            description="Whole minutes. 0: a PO per order and vendor. Above 0: shortfalls for one vendor join one open PO "
            "until the window the first one opened closes; then it is approved, rounded and sent to the vendor.",
        ),
    ] = 0


class VendorIn(Input):
    """A vendor gets POs only with is_b2b_new true, vendor_panel_type 2 and is_warehouse_location false."""

    name: Name
    is_b2b_new: Annotated[StrictBool, Field(description="Uses the new B2B flow (must be true to get POs).")]
    vendor_panel_type: Annotated[StrictInt, Field(description="2: the vendor works in the vendor panel (must be 2 to get POs).")]
    is_warehouse_location: Annotated[StrictBool, Field(description="A warehouse of the seller, not a vendor (must be false to get POs).")]
    approval_required: Annotated[StrictBool, Field(description="Its B2B orders wait for its approval before a handover.")]


class RotateIn(Input):
    rotate: Annotated[list[Literal["api_key", "webhook_secret"]], Field(min_length=1, max_length=2)]
    grace_minutes: Annotated[StrictInt, Field(ge=0, le=7 * 24 * 60)] = 60

    @field_validator("rotate")
    @classmethod
    def _once_each(cls, rotate: list[str]) -> list[str]:
        if len(set(rotate)) != len(rotate):
            raise ValueError("name each credential once")
        return rotate


class VendorRotateIn(Input):
    """Vendors have one credential; an empty body is fine."""


class SkuMappingIn(Input):
    vendor_id: Annotated[Id | None, Field(description="The vendor POs for this SKU are raised against; null unmaps it.")]
    # every PO line is raised for max(min_order_qty, ceil(need / pack_size) * pack_size)
    min_order_qty: Annotated[StrictInt, Field(ge=1, le=MAX_QTY, description="The vendor's minimum per PO line.")] = 1
    pack_size: Annotated[StrictInt, Field(ge=1, le=MAX_QTY, description="The vendor sells in multiples of this.")] = 1
    stock_shards: Annotated[
        StrictInt,
        Field(
            ge=1,
            le=MAX_STOCK_SHARDS,
            description="Items the Default Bin's stock of this SKU is spread over, so that many orders at once "
            "(a flash sale) do not all write one item. Setting it spreads the available stock at once.",
        ),
    ] = 1


class AdjustmentIn(Input):
    adjustment_id: Id
    sku: Sku
    qty: Annotated[StrictInt, Field(ge=-MAX_QTY, le=MAX_QTY)]
    location: Id = MAIN_LOCATION
    bin: Id = DEFAULT_BIN

    @field_validator("qty")
    @classmethod
    def _not_zero(cls, qty: int) -> int:
        if qty == 0:
            raise ValueError("qty must not be 0")
        return qty


# --- marketplace webhooks ---------------------------------------------------


class OrderLineIn(BaseModel):
    line_id: Id
    sku: Sku
    qty: Qty


class OrderIn(BaseModel):
    """A marketplace order. Extra fields a marketplace sends are ignored."""

    order_id: Id
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=MAX_LINES)]

    @field_validator("lines")
    @classmethod
    def _unique_line_ids(cls, lines: list[OrderLineIn]) -> list[OrderLineIn]:
        seen: set[str] = set()
        for line in lines:
            if line.line_id in seen:
                raise ValueError(f"line_id {line.line_id!r} appears more than once")
            seen.add(line.line_id)
        return lines


class CancelIn(BaseModel):
    """A cancellation names its order, so a captured signature cancels only that one."""

    order_id: str | None = None


class SkuQty(BaseModel):
    sku: Sku
    qty: Qty


def _unique_skus(lines: list[SkuQty]) -> list[SkuQty]:
    seen: set[str] = set()
    for line in lines:
        if line.sku in seen:
            raise ValueError(f"sku {line.sku!r} appears more than once")
        seen.add(line.sku)
    return lines


class ReturnIn(Input):
    return_id: Id
    sku: Sku
    qty: Qty
    status: ReturnStatus


class ApproveIn(Input):
    expected_ship_date: date | None = Field(None, description="When the vendor expects to ship (YYYY-MM-DD).")


class DeclineIn(Input):
    """A vendor's no to an order, before any handover."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), Field(description="Why, for the seller.")]


class PoCancelIn(Input):
    """What of a PO to cancel: per SKU, how many of its units are to be cancelled in all
    (so a resend changes nothing), or no lines for everything not handed over."""

    lines: Annotated[list[SkuQty], Field(max_length=MAX_LINES)] = []

    _unique = field_validator("lines")(_unique_skus)


class ManualPoIn(Input):
    """A PO the seller raises by hand (for lines waiting without one, or for stock): it
    serves the lines waiting for its SKUs oldest first; the rest is surplus."""

    po_ref: Annotated[Id, Field(description="The seller's own reference: the same one again creates nothing new.")]
    vendor_id: Id
    lines: Annotated[list[SkuQty], Field(min_length=1, max_length=MAX_PO_SKUS)]

    _unique = field_validator("lines")(_unique_skus)


class GrnIn(Input):
    """A manual GRN against a purchase order (sellers with auto GRN off)."""

    grn_ref: Id
    lines: Annotated[list[SkuQty], Field(min_length=1, max_length=MAX_LINES)]

    _unique = field_validator("lines")(_unique_skus)


class HandoverIn(Input):
    handover_id: Id
    lines: Annotated[list[SkuQty], Field(min_length=1, max_length=MAX_LINES)]

    _unique = field_validator("lines")(_unique_skus)


# --- accounts -----------------------------------------------------------------


class Seller(Stored):
    seller_id: str
    name: str
    allow_backorders: bool
    auto_po_vendor_level: bool
    auto_grn_through_backorder: bool
    po_consolidation_minutes: int = 0
    webhook_secret: str
    api_key_sha256: str
    # After a rotation with a grace period, the old secret still verifies until then.
    previous_webhook_secret: str | None = None
    previous_webhook_secret_until: str | None = None

    def webhook_secrets(self, now: str | None = None) -> list[str]:
        secrets = [self.webhook_secret]
        until = self.previous_webhook_secret_until
        if self.previous_webhook_secret and until and (now or datetime.now(UTC).isoformat(timespec="milliseconds")) < until:
            secrets.append(self.previous_webhook_secret)
        return secrets


class Vendor(Stored):
    vendor_id: str
    name: str
    is_b2b_new: bool
    vendor_panel_type: int
    is_warehouse_location: bool
    approval_required: bool
    api_key_sha256: str


class StockBin(Stored):
    """Stock of one SKU in one bin. on_hand = available + assigned + reserved.

    `reserved` is inwarded stock (a GRN) waiting to be assigned to the order it was
    bought for, so no other order can take it in between.
    """

    location: str
    bin: str
    available: int = 0
    assigned: int = 0
    reserved: int = 0
    # free stock of the SKU was held back while this bin's reserved goods were not all
    # given out: offer it when they are (the inventory stream passes that write)
    offer_when_received: bool = False
    # goods received on purchase orders into this bin, ever (only the Default Bin gets
    # them): a SKU's open PO quantity is what its summary says was ordered, less this. The
    # GRN writes the bin anyway, so a receipt moves no other figure.
    received_on_pos: int = 0

    @property
    def base(self) -> str:
        """The bin as the seller knows it (a shard's bin)."""
        return base_bin(self.bin)

    @property
    def shard(self) -> int:
        return int(self.bin.partition(SHARD_MARK)[2] or 0)

    @property
    def is_default(self) -> bool:
        return self.location == MAIN_LOCATION and self.base == DEFAULT_BIN

    @property
    def pick_key(self) -> tuple[bool, str, str, int]:
        """Where the bin comes among a SKU's bins, for taking stock and for showing them:
        the Default Bin of the main location first, a bin's shards together, in order."""
        return (not self.is_default, self.location, self.base, self.shard)


# --- orders -------------------------------------------------------------------


class Allocation(Stored):
    """Units given to a line from one bin."""

    location: str
    bin: str
    qty: int
    grn_id: Annotated[str | None, Field(description="The GRN they came in with, if any.")] = None
    reason: Annotated[
        AllocationReason,
        Field(description="in_stock: there when the order came; received_for_order: its PO's goods; "
              "freed_stock_oldest_first: stock that became free, given to the line waiting longest."),
    ] = "in_stock"
    assigned_at: str | None = None  # None on allocations made before it was kept


class OrderLine(Stored):
    line_id: str
    sku: str
    qty: Annotated[int, Field(description="Ordered.")]
    assigned_qty: Annotated[int, Field(description="Set aside for this line in the bins.")] = 0
    pending_qty: Annotated[int, Field(description="Still waited for.")] = 0
    allocations: list[Allocation] = []
    purchase_order_ids: Annotated[
        list[str], Field(description="The POs that have units on order for it (its own, or surplus of others' it took).")
    ] = []
    on_order_qty: Annotated[
        int, Field(description="Of what it waits for, on order for it: on its POs, or received and not yet assigned.")
    ] = 0
    no_po_reason: Annotated[
        NoPoReason | None, Field(description="Why it waits without a PO (e.g. sku_not_mapped); it gets one once that is fixed.")
    ] = None
    cancelled_qty: Annotated[int, Field(description="Given up by a cancellation.")] = 0

    @model_validator(mode="before")
    @classmethod
    def _one_po_id_before(cls, data: Any) -> Any:
        # lines stored before a line could be served by several POs named one
        if isinstance(data, dict) and data.get("purchase_order_id") and "purchase_order_ids" not in data:
            data = {**data, "purchase_order_ids": [data["purchase_order_id"]]}
        return data

    @property
    def purchase_order_id(self) -> str | None:
        """The first PO raised for it (what the v1 contract shows)."""
        return self.purchase_order_ids[0] if self.purchase_order_ids else None

    @property
    def needs_po(self) -> int:
        """What it waits for that nothing is on order for."""
        return max(0, self.pending_qty - self.on_order_qty)


class AvailabilityWarning(Stored):
    line_id: str
    sku: str
    requested: int
    available: int


class Order(Stored):
    seller_id: str
    order_id: str
    status: OrderStatus
    lines: list[OrderLine]
    body_sha256: str
    created_at: str
    updated_at: str | None = None
    warnings: list[AvailabilityWarning] = []
    applied_grns: set[str] = set()
    # The request that stored it: when the SDK retries a write whose answer was lost, the
    # order it finds is our own (201), not a marketplace resend (200).
    request_id: str = ""
    # Work too big for one transaction goes in steps; these say how far it got.
    # Lines, from the first, that the assignment of a new order has been through:
    lines_assigned: int = 0
    # GRN id -> SKU -> quantity of it already given to this order's lines:
    grn_progress: dict[str, dict[str, int]] = {}

    def public(self) -> dict:
        data = self.model_dump(include={"order_id", "status", "lines", "created_at", "updated_at"})
        if self.status == "accepting":  # being accepted in steps: not yet processed
            data["status"] = "received"
        for shown, line in zip(data["lines"], self.lines, strict=True):
            shown["purchase_order_id"] = line.purchase_order_id
            for allocation in shown["allocations"]:
                allocation["bin"] = base_bin(allocation["bin"])  # a shard is its bin to the seller
        return data

    def lines_needing_po(self) -> list[OrderLine]:
        return [l for l in self.lines if l.needs_po and not l.no_po_reason]

    def waits_for_a_fix(self) -> bool:
        """A line waits without a PO for a cause that may be fixed by now (a mapping, a
        vendor's flags, the seller's setting)."""
        return any(l.no_po_reason in HEALABLE and l.pending_qty for l in self.lines)

    def waiting(self) -> dict[int, int]:
        """Line index -> pending quantity, for the lines waiting for stock (a new order's
        lines from the moment their assignment is done)."""
        if self.status == "backordered":
            upto = len(self.lines)
        elif self.status == "received":
            upto = self.lines_assigned
        else:
            return {}
        return {i: line.pending_qty for i, line in enumerate(self.lines[:upto]) if line.pending_qty}

    def status_with(self, lines: list[OrderLine]) -> OrderStatus:
        """The status once `lines` replace this order's: an order still being assigned or
        accepted, or cancelled, keeps its status; else ready when nothing is pending."""
        if self.status == "cancelled" or self.status == "accepting":
            return self.status
        if self.status == "received" and self.lines_assigned < len(lines):
            return "received"
        return "ready" if all(line.pending_qty == 0 for line in lines) else "backordered"


class WaitingLine(Stored):
    """An order line waiting for stock, queued per SKU, oldest order first."""

    order_id: str
    line_id: str
    line_index: int
    pending_qty: int


class SurplusOnOrder(Stored):
    """Units of one PO's line on order for no waiting line: what a new shortfall of that
    SKU takes first, from the same vendor, before a PO is raised."""

    po_id: str
    vendor_id: str
    qty: int


SURPLUS_PREFIX = "surplus#"  # the summary item keeps one attribute per PO with surplus


class SkuSummary(Stored):
    """Per SKU figures that no single bin or order holds."""

    ordered_on_pos: int = 0  # on purchase orders, ever (received or not; less what was cut)
    expected_returns: int = 0
    surplus: list[SurplusOnOrder] = []  # oldest PO first

    @model_validator(mode="before")
    @classmethod
    def _surplus_attributes(cls, data: Any) -> Any:
        if isinstance(data, dict) and "surplus" not in data:
            found = [v for k, v in data.items() if k.startswith(SURPLUS_PREFIX)]
            data = {**data, "surplus": sorted(found, key=lambda v: (v.get("created_at", ""), v["po_id"]))}
        return data


class Return(Stored):
    return_id: str
    seller_id: str
    sku: str
    qty: int
    status: ReturnStatus


# --- purchasing -----------------------------------------------------------------


class PoAllocation(Stored):
    """Units of a PO line on order for one waiting order line (not yet received for it)."""

    order_id: str
    line_id: str
    qty: int


class PoLine(Stored):
    """qty - received_qty = the allocations' sum + surplus_qty, at every step."""

    sku: str
    qty: Annotated[int, Field(description="On order now: first ordered, less what was cancelled.")]
    received_qty: Annotated[int, Field(description="Inwarded by GRNs.")] = 0
    cancelled_qty: int = 0
    surplus_qty: Annotated[
        int, Field(description="On order and needed by no line (pack and minimum rounding, or lines filled or cancelled since).")
    ] = 0
    allocations: Annotated[
        list[PoAllocation], Field(description="Which waiting lines its units still to come are for, oldest first.")
    ] = []
    # the vendor's terms it was raised under (its SKU mapping's then): a cut keeps to them
    min_order_qty: int = 1
    pack_size: int = 1

    @property
    def allocated(self) -> int:
        return sum(a.qty for a in self.allocations)


class GrnShare(Stored):
    """Units of a GRN received for one order line (its PO allocation, now in the bin)."""

    order_id: str
    line_id: str
    sku: str
    qty: int


class Quantity(Stored):
    sku: str
    qty: int


class GrnSummary(Stored):
    grn_id: str
    lines: list[Quantity]
    location: str
    bin: str
    created_at: str | None = None  # received at (None on GRNs summarised before it was kept)
    shares: list[GrnShare] = []


class PurchaseOrder(Stored):
    po_id: str
    seller_id: str
    vendor_id: str
    status: PoStatus
    source_order_id: Annotated[str | None, Field(description="The order it was raised for; null for one the seller raised by hand.")]
    vendor_order_id: str
    lines: list[PoLine]
    grns: list[GrnSummary] = []
    created_at: str
    updated_at: str | None = None
    po_ref: Annotated[str | None, Field(description="The seller's reference of a PO raised by hand.")] = None
    body_sha256: str | None = None  # of the request that raised it by hand
    closes_at: Annotated[
        str | None, Field(description="An open PO's consolidation window ends then; null for a PO approved when raised.")
    ] = None
    approved_at: str | None = None

    @property
    def manual(self) -> bool:
        """Raised by the seller: its surplus is what the seller chose to buy, never cut for them."""
        return self.po_ref is not None

    def order_ids(self) -> list[str]:
        """The orders it was raised for, serves or has served, first come first."""
        found = [self.source_order_id] if self.source_order_id else []
        found += [a.order_id for line in self.lines for a in line.allocations]
        found += [share.order_id for grn in self.grns for share in grn.shares]
        return list(dict.fromkeys(found))

    def public(self) -> dict:
        data = self.model_dump(
            include={
                "po_id", "seller_id", "vendor_id", "status", "source_order_id", "vendor_order_id", "lines", "grns",
                "created_at", "updated_at", "po_ref", "closes_at", "approved_at",
            }
        )
        data["order_ids"] = self.order_ids()
        return data


class VendorOrderLine(Stored):
    sku: str
    qty: Annotated[int, Field(description="First ordered (what is on order now is qty - cancelled_qty).")]
    cancelled_qty: Annotated[int, Field(description="Cancelled by the seller since.")] = 0
    handed_over_qty: int = 0

    @property
    def on_order(self) -> int:
        """Ordered and not cancelled (handed over or not)."""
        return self.qty - self.cancelled_qty


class HandoverSummary(Stored):
    handover_id: str
    lines: list[Quantity]
    created_at: str
    grn_id: str | None = None  # the GRN that inwarded it (None: the seller inwards by hand)
    body_sha256: str | None = None  # the request's fingerprint: the same handover again is a replay


class VendorOrder(Stored):
    vendor_order_id: str
    vendor_id: str
    po_id: str
    seller_id: str
    status: VendorOrderStatus
    lines: list[VendorOrderLine]
    created_at: str
    updated_at: str | None = None
    approved_at: str | None = None
    source_order_id: str | None = None  # the seller's order; not shown to the vendor
    declined_reason: str | None = None
    seller_name: str | None = None
    expected_ship_date: str | None = None  # YYYY-MM-DD, as the vendor said on approval
    handovers: list[HandoverSummary] = []

    def public(self) -> dict:
        return self.model_dump(
            include={
                "vendor_order_id", "vendor_id", "po_id", "seller_id", "seller_name", "status", "lines",
                "declined_reason", "expected_ship_date", "handovers", "created_at", "updated_at", "approved_at",
            },
            exclude={"handovers": {"__all__": {"body_sha256"}}},
        )


class Grn(Stored):
    grn_id: str
    seller_id: str
    po_id: str
    vendor_id: str
    source_order_id: str | None = None
    handover_id: str | None = None
    grn_ref: str | None = None  # a manual GRN's reference
    body_sha256: str | None = None
    lines: list[Quantity]
    location: str
    bin: str
    created_at: str
    # Who the goods are for, oldest allocation first; the rest (surplus) went to available.
    shares: list[GrnShare] = []
    # The goods went to their orders in the GRN's own transaction (else the GRN's stream
    # record gives them out).
    given_on_receipt: bool = False

    @classmethod
    def kept_on(cls, po: PurchaseOrder, grn_id: str, handover_id: str | None = None) -> Grn | None:
        """The GRN as its PO keeps it (`grns`), None when the PO has no such GRN. A GRN
        a handover gave to its orders as it was received has no item of its own."""
        summary = next((g for g in po.grns if g.grn_id == grn_id), None)
        if summary is None:
            return None
        return cls(
            seller_id=po.seller_id,
            po_id=po.po_id,
            vendor_id=po.vendor_id,
            source_order_id=po.source_order_id,
            handover_id=handover_id,
            **(summary.model_dump() | {"created_at": summary.created_at or ""}),
        )

    def share_orders(self) -> list[str]:
        """The orders the GRN has goods for, in the order they are given them."""
        return list(dict.fromkeys(share.order_id for share in self.shares))


# --- events ---------------------------------------------------------------------


class WindowDue(BaseModel):
    """A message on the PO windows queue: this open PO's window closes about now."""

    seller_id: str
    po_id: str



class OrderBackordered(BaseModel):
    """detail of the OrderBackordered event: an order has quantity still pending."""

    version: Literal[1] = 1
    correlation_id: str
    seller_id: str
    order_id: str
    pending: list[SkuQty]
