"""Credential rotation and what ops may read of an account (never a secret)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backorders.adapters import dynamo
from backorders.adapters.dynamo import WriteRefused
from backorders.adapters.store import Store
from backorders.domain import security
from backorders.domain.errors import Conflict, NotFound
from backorders.domain.models import RotateIn, Seller, Vendor

SECRET_FIELDS = {"api_key_sha256", "webhook_secret", "previous_webhook_secret", "previous_webhook_secret_until"}


def public_account(account: Seller | Vendor) -> dict:
    return account.model_dump(exclude=SECRET_FIELDS)


def seller(store: Store, seller_id: str) -> dict:
    found = store.seller(seller_id)
    if not found:
        raise NotFound(f"seller {seller_id} not found")
    return public_account(found)


def vendor(store: Store, vendor_id: str) -> dict:
    found = store.vendor(vendor_id)
    if not found:
        raise NotFound(f"vendor {vendor_id} not found")
    return public_account(found)


def mapping(store: Store, seller_id: str, sku: str) -> dict:
    if not store.seller(seller_id):
        raise NotFound(f"seller {seller_id} not found")
    mapped = store.mapping_records(seller_id, {sku})
    if sku not in mapped:
        raise NotFound(f"SKU {sku} has never been mapped for seller {seller_id}")
    terms = {k: int(mapped[sku].get(k, 1)) for k in ("min_order_qty", "pack_size", "stock_shards")}
    return {"seller_id": seller_id, "sku": sku, "vendor_id": mapped[sku].get("vendor_id"), **terms}


def rotate_seller(store: Store, seller_id: str, body: RotateIn, now: datetime | None = None) -> dict:
    """New api_key and/or webhook_secret, shown this once. The old key is refused at
    once; the old secret still verifies for `grace_minutes`, so a marketplace can be
    switched over without losing orders."""
    found = store.seller(seller_id)
    if not found:
        raise NotFound(f"seller {seller_id} not found")
    answer: dict = {"seller_id": seller_id}
    fields: dict = {}
    if "api_key" in body.rotate:
        answer["api_key"] = security.new_api_key("seller", seller_id)
        fields["api_key_sha256"] = security.sha256_hex(answer["api_key"])
    if "webhook_secret" in body.rotate:
        answer["webhook_secret"] = security.new_webhook_secret()
        fields["webhook_secret"] = answer["webhook_secret"]
        if body.grace_minutes:
            until = (now or datetime.now(UTC)) + timedelta(minutes=body.grace_minutes)
            fields["previous_webhook_secret"] = found.webhook_secret
            fields["previous_webhook_secret_until"] = until.isoformat(timespec="milliseconds")
            answer["previous_webhook_secret_valid_until"] = fields["previous_webhook_secret_until"]
        else:
            fields["previous_webhook_secret"] = None
            fields["previous_webhook_secret_until"] = None
    _replace(store, store.rotate_credentials(found, fields), f"seller {seller_id}")
    return answer


def rotate_vendor(store: Store, vendor_id: str) -> dict:
    """A new api_key, shown this once; the old one is refused at once."""
    found = store.vendor(vendor_id)
    if not found:
        raise NotFound(f"vendor {vendor_id} not found")
    api_key = security.new_api_key("vendor", vendor_id)
    _replace(store, store.rotate_credentials(found, {"api_key_sha256": security.sha256_hex(api_key)}), f"vendor {vendor_id}")
    return {"vendor_id": vendor_id, "api_key": api_key}


def _replace(store: Store, write: dynamo.Write, what: str) -> None:
    try:
        store.write(write)
    except WriteRefused:
        raise Conflict(f"the credentials of {what} were rotated at the same time; read them again", code="rotation_conflict") from None
