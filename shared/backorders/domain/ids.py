"""Ids derived from what caused them, so a redelivered cause finds the same id."""

from __future__ import annotations

import hashlib


def _derive(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]
    return f"{prefix}-{digest}"


def purchase_order_id(seller_id: str, order_id: str, vendor_id: str, part: str | None = None) -> str:
    """`part`: an order too big for one PO per vendor gets several, told apart by it."""
    return _derive("po", seller_id, order_id, vendor_id, *([part] if part else []))


def purchase_order_id_for_reference(seller_id: str, po_ref: str) -> str:
    """A PO the seller raises by hand, named by its own reference."""
    return _derive("po", seller_id, "manual", po_ref)


def vendor_order_id(seller_id: str, po_id: str, vendor_id: str) -> str:
    return _derive("vo", seller_id, po_id, vendor_id)


def grn_id_for_handover(vendor_id: str, vendor_order_id: str, handover_id: str) -> str:
    return _derive("grn", vendor_id, vendor_order_id, handover_id)


def grn_id_for_reference(seller_id: str, po_id: str, grn_ref: str) -> str:
    return _derive("grn", seller_id, po_id, grn_ref)
