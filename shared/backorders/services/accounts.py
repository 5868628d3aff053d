"""Ops actions: sellers, vendors, SKU mappings and inventory adjustments."""

from __future__ import annotations

from backorders.adapters.dynamo import WriteRefused, with_retries
from backorders.adapters.store import Store, now, seller_key, vendor_key
from backorders.domain import rules, security
from backorders.domain.errors import BusinessRuleViolation, Conflict, InsufficientStock, NotFound
from backorders.domain.models import DEFAULT_BIN, MAIN_LOCATION, AdjustmentIn, Seller, SellerIn, SkuMappingIn, VendorIn
from backorders.services import inventory, purchasing
from backorders.services.once import create_once
from backorders.services.ordering import body_fingerprint


def _public(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("api_key_sha256", "webhook_secret", "entity")}


def put_seller(store: Store, seller_id: str, body: SellerIn) -> tuple[int, dict]:
    """Create a seller (201, with its secrets, shown this once) or update it (200)."""
    data = {"entity": "SELLER", "seller_id": seller_id, **body.model_dump(), "updated_at": now()}
    api_key = security.new_api_key("seller", seller_id)
    secret = security.new_webhook_secret()
    created = {**data, "webhook_secret": secret, "api_key_sha256": security.sha256_hex(api_key)}
    try:
        store.write(store.put_account(seller_key(seller_id), created, create=True))
    except WriteRefused as refused:
        if not refused.failed(0):  # not "it exists": a conflict, nothing to update
            raise
        store.write(store.put_account(seller_key(seller_id), data, create=False))
        return 200, _public(data)
    return 201, {**_public(data), "webhook_secret": secret, "api_key": api_key}


def put_vendor(store: Store, vendor_id: str, body: VendorIn) -> tuple[int, dict]:
    """Create a vendor account (201, with its API key, shown this once) or update it (200)."""
    data = {"entity": "VENDOR", "vendor_id": vendor_id, **body.model_dump(), "updated_at": now()}
    api_key = security.new_api_key("vendor", vendor_id)
    created = {**data, "api_key_sha256": security.sha256_hex(api_key)}
    try:
        store.write(store.put_account(vendor_key(vendor_id), created, create=True))
    except WriteRefused as refused:
        if not refused.failed(0):  # not "it exists": a conflict, nothing to update
            raise
        store.write(store.put_account(vendor_key(vendor_id), data, create=False))
        return 200, _public(data)
    return 201, {**_public(data), "api_key": api_key}


def existing_seller(store: Store, seller_id: str) -> Seller:
    seller = store.seller(seller_id)
    if not seller:
        raise NotFound(f"seller {seller_id} not found")
    return seller


def map_sku(store: Store, seller_id: str, sku: str, body: SkuMappingIn) -> dict:
    existing_seller(store, seller_id)
    if body.vendor_id is not None and not store.vendor(body.vendor_id):
        raise BusinessRuleViolation(
            f"vendor {body.vendor_id} does not exist; create it first",
            code="vendor_not_found",
            details=[{"field": "vendor_id", "value": body.vendor_id}],
        )
    mapping = store.put_mapping(seller_id, sku, body.vendor_id, body.min_order_qty, body.pack_size, body.stock_shards)
    if store.stock_shards(seller_id, sku) == body.stock_shards:
        store.write(mapping)
    else:
        with_retries(lambda: inventory.reshard(store, seller_id, sku, body.stock_shards, mapping))
    answer: dict = {
        "seller_id": seller_id,
        "sku": sku,
        "vendor_id": body.vendor_id,
        "min_order_qty": body.min_order_qty,
        "pack_size": body.pack_size,
        "stock_shards": body.stock_shards,
    }
    vendor = store.vendor(body.vendor_id) if body.vendor_id else None
    if vendor is not None and not rules.vendor_is_eligible(vendor):
        answer["warning"] = (
            f"vendor {vendor.vendor_id} cannot receive purchase orders (it must be a B2B vendor with "
            "is_b2b_new true, vendor_panel_type 2 and is_warehouse_location false): orders for this SKU will wait"
        )
    if body.vendor_id is not None:
        purchasing.heal_waiting_lines(store, seller_id, sku)  # orders already waiting for it get their PO now
    return answer


def adjust_inventory(store: Store, seller_id: str, body: AdjustmentIn) -> tuple[int, dict]:
    """Add (or, negative, remove) available stock in a bin, once per adjustment id. The
    Default Bin of the main location takes it over its shards (see SkuMappingIn.stock_shards)."""
    existing_seller(store, seller_id)
    record = {**body.model_dump(), "seller_id": seller_id}
    fingerprint = body_fingerprint(record)
    into_default = (body.location, body.bin) == (MAIN_LOCATION, DEFAULT_BIN)

    def short() -> InsufficientStock:
        return InsufficientStock(
            f"cannot remove {-body.qty} x {body.sku}: not that much available in {body.location}/{body.bin}",
            details=[{"field": "qty", "value": body.qty}],
        )

    def create() -> tuple[int, dict]:
        if into_default and body.qty > 0:
            moves = inventory.default_bin_in(store, seller_id, body.sku, body.qty)
        elif into_default:
            found = inventory.default_bin_out(store, seller_id, body.sku, -body.qty)
            if found is None:
                raise short()
            moves = found
        else:
            need = -body.qty if body.qty < 0 else 0
            moves = [store.change_bin(seller_id, body.sku, body.location, body.bin, available=body.qty, need_available=need)]
        try:
            store.commit([store.put_adjustment(seller_id, {**record, "body_sha256": fingerprint, "created_at": now()}), *moves])
        except WriteRefused as refused:
            # (moves planned from a read of the Default Bin's shards are guarded: their
            # refusal is a RetryableConflict, and the step runs again from a new read)
            if refused.failed(0) or not any(refused.failed(i) for i in range(1, len(moves) + 1)):
                raise
            raise short() from None
        return 201, {**record}

    return create_once(
        read=lambda: store.adjustment(seller_id, body.adjustment_id),
        same=lambda stored: stored.get("body_sha256") == fingerprint,
        conflict=lambda stored: Conflict(
            f"adjustment {body.adjustment_id} was already applied with different content", code="adjustment_id_conflict"
        ),
        create=create,
        replay=lambda stored: (200, {**record}),
    )
