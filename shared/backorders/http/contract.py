"""The API's OpenAPI document.

The resolver generates paths, parameters and request bodies from the handlers' models.
This completes it with what only the topology and the domain know: who may call each
path (the credential kinds, as security schemes), the success codes each path really
answers, and the refusals in the API's one error shape (the resolver alone would
document a 422 in its own shape for every route).
"""

from __future__ import annotations

import copy

from pydantic import BaseModel

from backorders import topology
from backorders.domain.models import Order, PurchaseOrder, VendorOrder

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z_]+$", "description": "stable, snake_case"},
                "message": {"type": "string", "description": "for a person"},
                "details": {"type": "array", "items": {}},
            },
        }
    },
}

SECURITY_SCHEMES = {
    "admin": {"type": "http", "scheme": "bearer", "description": "The ops admin token. Reaches everything."},
    "sellerKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "A seller's api_key."},
    "vendorKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "A vendor's api_key."},
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Signature",
        "description": "sha256=<hex HMAC-SHA256 of the raw request body, keyed by the seller's webhook_secret>",
    },
    "shopifySignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Shopify-Hmac-Sha256",
        "description": "Shopify's own: base64 HMAC-SHA256 of the raw body, keyed by the channel's secret.",
    },
    "wooCommerceSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-WC-Webhook-Signature",
        "description": "WooCommerce's own: base64 HMAC-SHA256 of the raw body, keyed by the channel's secret.",
    },
}
# Any one of the listed schemes is enough; the admin token reaches every route.
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "none": [],
    "admin": [{"admin": []}],
    "seller": [{"sellerKey": []}, {"admin": []}],
    "vendor": [{"vendorKey": []}, {"admin": []}],
    "signed": [{"webhookSignature": []}, {"admin": []}],
    "signed_or_seller": [{"webhookSignature": []}, {"sellerKey": []}, {"admin": []}],
    "channel": [{"shopifySignature": []}, {"wooCommerceSignature": []}],
}

V = topology.V
SUCCESS: dict[tuple[str, str], dict[int, str]] = {
    ("GET", f"{V}/health"): {200: "The API can serve."},
    ("GET", f"{V}/openapi.json"): {200: "This document."},
    ("PUT", f"{V}/sellers/{{seller_id}}"): {
        201: "Created; its webhook_secret and api_key are shown this once.",
        200: "Updated.",
    },
    ("GET", f"{V}/sellers/{{seller_id}}"): {200: "The seller, without its secrets."},
    ("POST", f"{V}/sellers/{{seller_id}}/credentials/rotate"): {
        200: "The new credentials, shown this once; the old api_key is refused at once, the old "
        "webhook_secret still verifies for grace_minutes."
    },
    ("PUT", f"{V}/vendors/{{vendor_id}}"): {201: "Created; its api_key is shown this once.", 200: "Updated."},
    ("GET", f"{V}/vendors/{{vendor_id}}"): {200: "The vendor, without its api_key."},
    ("POST", f"{V}/vendors/{{vendor_id}}/credentials/rotate"): {
        200: "The new api_key, shown this once; the old one is refused at once."
    },
    ("PUT", f"{V}/sellers/{{seller_id}}/skus/{{sku}}"): {200: "Mapped (or unmapped, with a null vendor_id)."},
    ("GET", f"{V}/sellers/{{seller_id}}/skus/{{sku}}"): {200: "The SKU's mapping."},
    ("POST", f"{V}/sellers/{{seller_id}}/inventory/adjustments"): {
        201: "Applied.",
        200: "The same adjustment again: nothing changed.",
    },
    ("POST", f"{V}/sellers/{{seller_id}}/orders"): {
        201: "Received; `warnings` lists each line short of stock.",
        200: "The same order again: nothing new.",
    },
    ("POST", f"{V}/sellers/{{seller_id}}/orders/{{order_id}}/cancel"): {
        200: "Cancelled (again: unchanged); what was assigned to it is free stock again.",
    },
    ("POST", f"{V}/sellers/{{seller_id}}/returns"): {
        201: "Recorded; a received return adds stock.",
        200: "The same return again: nothing changed.",
    },
    ("PUT", f"{V}/sellers/{{seller_id}}/channels/{{channel_id}}"): {
        201: "Created: the webhook_path to give the marketplace (the secret is never shown).",
        200: "Updated.",
    },
    ("POST", f"{V}/sellers/{{seller_id}}/channels/{{channel_id}}/webhooks"): {
        200: "A verified delivery and its outcome (created, duplicate, cancelled, ignored, refused), "
        "even when a business rule refuses it; the activation ping too.",
    },
    ("GET", f"{V}/sellers/{{seller_id}}/channels/{{channel_id}}/deliveries"): {
        200: "The channel's deliveries, newest first: {items, next_cursor}.",
    },
    **{
        key: value
        for account in ("sellers/{seller_id}", "vendors/{vendor_id}")
        for key, value in {
            ("GET", f"{V}/{account}/webhook-endpoints"): {200: "The account's webhook endpoints, without secrets."},
            ("PUT", f"{V}/{account}/webhook-endpoints/{{endpoint_id}}"): {
                201: "Created; its `secret` (whsec_...) is shown this once.",
                200: "Updated (and enabled again if it was disabled).",
            },
            ("DELETE", f"{V}/{account}/webhook-endpoints/{{endpoint_id}}"): {204: "Deleted; nothing more is sent to it."},
            ("GET", f"{V}/{account}/webhook-endpoints/{{endpoint_id}}/deliveries"): {
                200: "Each delivery attempt, newest first: {items, next_cursor}.",
            },
        }.items()
    },
    ("GET", f"{V}/sellers/{{seller_id}}/orders/{{order_id}}"): {200: "The order."},
    ("GET", f"{V}/sellers/{{seller_id}}/orders"): {200: "The seller's orders, newest first: {items, next_cursor}."},
    ("GET", f"{V}/sellers/{{seller_id}}/purchase-orders"): {
        200: "The seller's purchase orders, newest first, each with its vendor_order_status: {items, next_cursor}."
    },
    ("POST", f"{V}/sellers/{{seller_id}}/purchase-orders"): {
        201: "Raised, with the vendor's order; its units allocated to the lines waiting for its SKUs, oldest first.",
        200: "This po_ref was raised before with this body: the same purchase order, nothing new.",
    },
    ("GET", f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}"): {200: "The purchase order."},
    ("POST", f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}/grns"): {
        201: "Recorded; the goods go to the waiting order.",
        200: "The same grn_ref again: nothing changed.",
    },
    ("GET", f"{V}/sellers/{{seller_id}}/skus/{{sku}}/stock"): {200: "Live stock figures of the SKU."},
    ("POST", f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}/cancel"): {
        200: "The PO as it is now (again: unchanged); its vendor order shrank with it.",
    },
    ("GET", f"{V}/vendors/{{vendor_id}}/orders"): {200: "The vendor's orders, newest first: {items, next_cursor}."},
    ("GET", f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}"): {200: "The vendor order."},
    ("POST", f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/approve"): {200: "Approved (again: unchanged)."},
    ("POST", f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/decline"): {
        200: "Declined (again: unchanged); the seller's PO is cancelled and its lines wait with vendor_declined.",
    },
    ("POST", f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/handovers"): {
        202: "Recorded (again: unchanged); inwarded at once when the seller has auto GRN on.",
    },
}
# Paths whose ids can come again with a different body (409), and whose valid requests
# a business rule can refuse (422).
CONFLICTS = {
    f"POST {V}/sellers/{{seller_id}}/purchase-orders",  # (the list of them, on the same path, is a GET)
    f"{V}/sellers/{{seller_id}}/inventory/adjustments",
    f"{V}/sellers/{{seller_id}}/orders",
    f"{V}/sellers/{{seller_id}}/returns",
    f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}/grns",
    f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/handovers",
}
RULES = {
    f"POST {V}/sellers/{{seller_id}}/purchase-orders",
    f"{V}/sellers/{{seller_id}}/webhook-endpoints/{{endpoint_id}}",
    f"{V}/vendors/{{vendor_id}}/webhook-endpoints/{{endpoint_id}}",
    f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}/cancel",
    f"{V}/sellers/{{seller_id}}/skus/{{sku}}",
    f"{V}/sellers/{{seller_id}}/inventory/adjustments",
    f"{V}/sellers/{{seller_id}}/orders",
    f"{V}/sellers/{{seller_id}}/purchase-orders/{{po_id}}/grns",
    f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/handovers",
}
CONFLICTS |= {
    f"{V}/sellers/{{seller_id}}/credentials/rotate",
    f"{V}/vendors/{{vendor_id}}/credentials/rotate",
    f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/approve",  # a cancelled or declined vendor order
    f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/decline",
}
RULES |= {f"{V}/vendors/{{vendor_id}}/orders/{{vendor_order_id}}/decline"}  # goods already handed over
REFUSALS = {
    400: "Malformed JSON, an invalid field, or JSON nested too deep.",
    401: "No credential, or one that is not valid here.",
    403: "A valid credential of another account.",
    404: "No such account or resource.",
    409: "The same id again with a different body, or a state that forbids it (a cancelled vendor order).",
    413: "A body over 256 KiB.",
    422: "Valid, but refused by a business rule.",
    503: "Other requests kept changing the same records at the same moment: the step that lost wrote nothing; send it again (Retry-After).",
}


def refusals(route: topology.Route) -> list[int]:
    """The error statuses a route can answer."""
    has_input = "{" in route.path or route.method in ("PUT", "POST")
    codes = []
    if has_input:
        codes.append(400)
    if route.auth != "none":
        codes.append(401)
    if route.auth in ("seller", "vendor", "signed_or_seller"):
        codes.append(403)
    if "{" in route.path:
        codes.append(404)
    if route.path in CONFLICTS or f"{route.method} {route.path}" in CONFLICTS:
        codes.append(409)
    if route.method in ("PUT", "POST"):
        codes.append(413)
    if route.path in RULES or f"{route.method} {route.path}" in RULES:
        codes.append(422)
    if route.method in ("PUT", "POST"):
        codes.append(503)  # lost a race too many times in a row: nothing written, send it again
    return codes


# The bodies of the answers that show an order, a PO or a vendor order, or a page of them:
# the stored models' JSON schemas, cut to the fields `public()` shows.
_ORDER_FIELDS = ("order_id", "status", "lines", "created_at", "updated_at")
_PO_FIELDS = (
    "po_id", "seller_id", "vendor_id", "status", "source_order_id", "vendor_order_id", "lines", "grns", "created_at", "updated_at",
    "po_ref", "closes_at", "approved_at",
)
_VENDOR_ORDER_FIELDS = (
    "vendor_order_id", "vendor_id", "po_id", "seller_id", "seller_name", "status", "lines", "declined_reason",
    "expected_ship_date", "handovers", "created_at", "updated_at", "approved_at",
)


def _view(model: type[BaseModel], fields: tuple[str, ...], schemas: dict, extra: dict | None = None) -> dict:
    """`model`'s schema with only `fields` (its nested models added to `schemas`)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    properties = {k: v for k, v in schema["properties"].items() if k in fields} | (extra or {})
    required = [k for k in schema.get("required", []) if k in fields]
    return {"type": "object", "title": schema["title"], "properties": properties, "required": required}


_STRING_OR_NULL = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_INT = {"type": "integer"}


def _object(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties, "required": required if required is not None else list(properties)}


_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_QUANTITIES = {"type": "array", "items": _object({"sku": _STRING, "qty": _INT})}
_SHOWN_ONCE = "Shown in this answer only (on creation or rotation)."

# Answers written out here, not taken from a stored model.
_SHAPES: dict[str, dict] = {
    "Health": _object({"status": {"type": "string", "enum": ["ok"]}}),
    "OpenApiDocument": {"type": "object", "required": ["openapi", "paths"]},
    "Seller": _object(
        {
            "seller_id": _STRING, "name": _STRING, "allow_backorders": _BOOL, "auto_po_vendor_level": _BOOL,
            "auto_grn_through_backorder": _BOOL,
            "api_key": {**_STRING, "description": _SHOWN_ONCE}, "webhook_secret": {**_STRING, "description": _SHOWN_ONCE},
        },
        ["seller_id", "name", "allow_backorders", "auto_po_vendor_level", "auto_grn_through_backorder"],
    ),
    "Vendor": _object(
        {
            "vendor_id": _STRING, "name": _STRING, "is_b2b_new": _BOOL, "vendor_panel_type": _INT, "is_warehouse_location": _BOOL,
            "approval_required": _BOOL, "api_key": {**_STRING, "description": _SHOWN_ONCE},
        },
        ["vendor_id", "name", "is_b2b_new", "vendor_panel_type", "is_warehouse_location", "approval_required"],
    ),
    "Credentials": _object(
        {"seller_id": _STRING, "vendor_id": _STRING, "api_key": {**_STRING, "description": _SHOWN_ONCE},
         "webhook_secret": {**_STRING, "description": _SHOWN_ONCE}},
        [],
    ),
    "SkuMapping": _object(
        {
            "seller_id": _STRING, "sku": _STRING, "vendor_id": _STRING_OR_NULL, "min_order_qty": _INT, "pack_size": _INT,
            "stock_shards": {**_INT, "description": "Items the Default Bin's stock is spread over (see SkuMappingIn)."},
            "warning": {**_STRING, "description": "Set when the vendor can never get POs (see VendorIn)."},
        },
        ["seller_id", "sku", "vendor_id"],
    ),
    "Adjustment": _object({"adjustment_id": _STRING, "seller_id": _STRING, "sku": _STRING, "qty": _INT, "location": _STRING, "bin": _STRING}),
    "Return": _object(
        {"return_id": _STRING, "seller_id": _STRING, "sku": _STRING, "qty": _INT, "status": {"type": "string", "enum": ["expected", "received"]}}
    ),
    "Channel": _object({"channel_id": _STRING, "kind": _STRING, "webhook_path": {**_STRING, "description": "Where the marketplace posts."}}),
    "Grn": _object({"grn_id": _STRING, "grn_ref": _STRING_OR_NULL, "po_id": _STRING, "lines": _QUANTITIES, "location": _STRING, "bin": _STRING}),
    "Handover": _object(
        {
            "handover_id": _STRING, "vendor_order_id": _STRING, "po_id": _STRING, "lines": _QUANTITIES,
            "grn_id": {**_STRING_OR_NULL, "description": "The GRN that inwarded it (null: the seller inwards by hand)."},
            "vendor_order_status": _STRING,
        }
    ),
    "WebhookEndpoint": _object(
        {
            "endpoint_id": _STRING, "url": _STRING, "events": {"type": "array", "items": _STRING},
            "status": {"type": "string", "enum": ["enabled", "disabled"]}, "disabled_reason": _STRING_OR_NULL,
            "created_at": _STRING, "updated_at": _STRING,
            "secret": {**_STRING, "description": "whsec_...: " + _SHOWN_ONCE},
        },
        ["endpoint_id", "url", "events", "status"],
    ),
    "WebhookEndpointList": _object({"items": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookEndpoint"}}}),
    "OrderReceipt": _object(
        {
            "order_id": {"type": "string"},
            "status": {"type": "string", "description": "received, backordered, ready or cancelled (or accepting: taken in steps)."},
            "warnings": {"type": "array", "items": {"type": "object"}, "description": "Lines with less in stock than ordered."},
        }
    ),
    "ChannelOutcome": _object(
        {
            "outcome": {"type": "string", "enum": ["created", "duplicate", "cancelled", "ignored", "refused"]},
            "order_id": _STRING_OR_NULL,
            "reason": _STRING_OR_NULL,
        },
        ["outcome"],
    ),
    "ChannelDelivery": _object(
        {
            "received_at": {"type": "string"},
            "topic": _STRING_OR_NULL,
            "marketplace_order_id": _STRING_OR_NULL,
            "order_id": _STRING_OR_NULL,
            "outcome": {"type": "string"},
            "reason": _STRING_OR_NULL,
        },
        ["received_at", "outcome"],
    ),
    "WebhookAttempt": _object(
        {
            "webhook_id": {"type": "string", "description": "The same on every retry of one event."},
            "type": {"type": "string"},
            "attempt": _INT,
            "status_code": {"anyOf": [_INT, {"type": "null"}], "description": "null: no answer (timeout, refused connection)."},
            "at": {"type": "string"},
            "next_attempt_at": _STRING_OR_NULL,
            "error": _STRING_OR_NULL,
        },
        ["webhook_id", "type", "attempt", "status_code", "at"],
    ),
    "StockView": _object(
        {
            "sku": {"type": "string"},
            "on_hand": {**_INT, "description": "In the bins: available + assigned."},
            "assigned": {**_INT, "description": "Set aside for orders (goods just received for an order included)."},
            "available": {**_INT, "description": "Free to sell."},
            "pending_backorders": {**_INT, "description": "What waiting orders still need."},
            "open_po_qty": {**_INT, "description": "On purchase orders, not yet received."},
            "expected_returns": {**_INT, "description": "Announced customer returns not yet received."},
            "quantity_to_purchase": {**_INT, "description": "Still to buy: pending beyond available, on order and expected back."},
            "surplus_on_order": {**_INT, "description": "On order beyond what waiting orders need."},
            "bins": {
                "type": "array",
                "description": "The Default Bin of the main location first.",
                "items": _object(
                    {
                        "location": _STRING, "bin": _STRING, "available": _INT, "assigned": _INT, "reserved": _INT,
                        "shards": {**_INT, "description": "Present when the bin is spread over shards: how many."},
                    },
                    ["location", "bin", "available", "assigned", "reserved"],
                ),
            },
        }
    ),
}


def _page(item: str) -> dict:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}, "description": "Newest first."},
            "next_cursor": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    }


def views(schemas: dict) -> None:
    """Add the answer bodies the routes name (`topology.Route.body`) to `schemas`."""
    vendor_order_status = {
        "vendor_order_status": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "Where its vendor order stands: unapproved (not yet accepted by the vendor), approved, "
            "partially_handed_over, handed_over, cancelled or declined.",
        }
    }
    schemas["Order"] = _view(Order, _ORDER_FIELDS, schemas)
    schemas["OrderLine"]["properties"]["purchase_order_id"] = {  # Order.public() adds it
        **_STRING_OR_NULL,
        "description": "The first of purchase_order_ids (the PO raised for it), or null.",
    }
    order_ids = {
        "order_ids": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The orders it was raised for, serves (its lines' allocations) or has served (its GRNs' shares).",
        }
    }
    schemas["PurchaseOrder"] = _view(PurchaseOrder, _PO_FIELDS, schemas, vendor_order_status | order_ids)
    schemas["VendorOrder"] = _view(VendorOrder, _VENDOR_ORDER_FIELDS, schemas)
    schemas.update(_SHAPES)
    for name in ("Order", "PurchaseOrder", "VendorOrder", "ChannelDelivery", "WebhookAttempt"):
        schemas[f"{name}Page"] = _page(name)


def complete(document: dict) -> dict:
    """The generated document with security, success codes and refusals filled in."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # the resolver's 422 shapes, not ours: no answer of this API uses them
    for generated in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(generated, None)
    schemas["Error"] = ERROR
    views(schemas)
    components["securitySchemes"] = SECURITY_SCHEMES
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    routes = {(route.method, route.path): route for route, _ in topology.all_routes()}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes[(method.upper(), path)]
            operation["security"] = SECURITY[route.auth]
            answers: dict[str, dict] = {}
            for status, description in SUCCESS[(route.method, route.path)].items():
                answers[str(status)] = {"description": description}
                if status != 204:
                    schema = {"$ref": f"#/components/schemas/{route.body}"} if route.body else {}
                    answers[str(status)]["content"] = {"application/json": {"schema": schema}}
            for status in refusals(route):
                answers[str(status)] = {"description": REFUSALS[status], "content": error}
            operation["responses"] = answers
    return document

