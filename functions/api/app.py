"""HTTP API: marketplace webhooks, ops admin, seller reads, vendor reads and approval."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders.adapters import outbound
from backorders.adapters.config import settings
from backorders.adapters.store import Store
from backorders.domain.errors import InvalidRequest, NotFound
from backorders.domain.marketplaces import ChannelIn
from backorders.domain.models import (
    AdjustmentIn,
    ApproveIn,
    CancelIn,
    DeclineIn,
    GrnIn,
    Id,
    ManualPoIn,
    OrderIn,
    OrderListStatus,
    PoCancelIn,
    PoStatus,
    ReturnIn,
    RotateIn,
    SellerIn,
    Sku,
    SkuMappingIn,
    VendorIn,
    VendorOrderStatus,
    VendorRotateIn,
)
from backorders.domain.webhooks import AccountKind, EndpointIn
from backorders.http import contract
from backorders.http.gate import Gate, Principal, error_response, handle, json_response, make_app, raw_body, require_found
from backorders.http.handover_route import router as handover_router
from backorders.services import accounts, channels, credentials, inventory, lists, notifications, ordering, purchasing

logger = Logger()
metrics = Metrics()
app = make_app()
app.include_router(handover_router)  # served by on_handover; here for the OpenAPI document
store = Store()
gate = Gate(store)


Limit = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100).")]
Cursor = Annotated[str | None, Query(max_length=400, description="`next_cursor` of the previous page.")]


def principal() -> Principal:
    return app.context["principal"]


@app.get("/v1/health")
def health():
    return {"status": "ok"}


@cache
def openapi_document() -> str:
    generated = json.loads(app.get_openapi_json_schema(title="Backorders API", version="1.0.0"))
    return json.dumps(contract.complete(generated))


@app.get("/v1/openapi.json")
def openapi():
    return Response(200, content_types.APPLICATION_JSON, openapi_document())


# --- ops (admin) ----------------------------------------------------------------------


@app.put("/v1/sellers/<seller_id>")
def put_seller(seller_id: Id, body: Annotated[SellerIn, Body()]):
    return json_response(*accounts.put_seller(store, seller_id, body))


@app.get("/v1/sellers/<seller_id>")
def get_seller(seller_id: Id):
    return json_response(200, credentials.seller(store, seller_id))


@app.post("/v1/sellers/<seller_id>/credentials/rotate")
def rotate_seller_credentials(seller_id: Id, body: Annotated[RotateIn, Body()]):
    answer = credentials.rotate_seller(store, seller_id, body)
    logger.info("seller credentials rotated", extra={"seller_id": seller_id, "rotated": body.rotate})
    return json_response(200, answer)


@app.put("/v1/vendors/<vendor_id>")
def put_vendor(vendor_id: Id, body: Annotated[VendorIn, Body()]):
    return json_response(*accounts.put_vendor(store, vendor_id, body))


@app.get("/v1/vendors/<vendor_id>")
def get_vendor(vendor_id: Id):
    return json_response(200, credentials.vendor(store, vendor_id))


@app.post("/v1/vendors/<vendor_id>/credentials/rotate")
def rotate_vendor_credentials(vendor_id: Id, body: Annotated[VendorRotateIn | None, Body()] = None):
    answer = credentials.rotate_vendor(store, vendor_id)
    logger.info("vendor credentials rotated", extra={"vendor_id": vendor_id})
    return json_response(200, answer)


@app.put("/v1/sellers/<seller_id>/skus/<sku>")
def map_sku(seller_id: Id, sku: Sku, body: Annotated[SkuMappingIn, Body()]):
    return json_response(200, accounts.map_sku(store, seller_id, sku, body))


@app.get("/v1/sellers/<seller_id>/skus/<sku>")
def get_sku_mapping(seller_id: Id, sku: Sku):
    return json_response(200, credentials.mapping(store, seller_id, sku))


@app.post("/v1/sellers/<seller_id>/inventory/adjustments")
def adjust_inventory(seller_id: Id, body: Annotated[AdjustmentIn, Body()]):
    return json_response(*accounts.adjust_inventory(store, seller_id, body))


# --- marketplace webhooks -------------------------------------------------------------


@app.post("/v1/sellers/<seller_id>/orders")
def receive_order(seller_id: Id, body: Annotated[OrderIn, Body()]):
    logger.set_correlation_id(body.order_id)
    seller = principal().seller or accounts.existing_seller(store, seller_id)
    status, answer = ordering.receive_order(store, seller, body)
    if status == 201:
        metrics.add_metric(name="OrdersReceived", unit=MetricUnit.Count, value=1)
        if answer["warnings"]:
            metrics.add_metric(name="OrdersShort", unit=MetricUnit.Count, value=1)
    logger.info("order received", extra={"seller_id": seller_id, "status": answer["status"], "http": status})
    return json_response(status, answer)


@app.post("/v1/sellers/<seller_id>/orders/<order_id>/cancel")
def cancel_order(seller_id: Id, order_id: Id, body: Annotated[CancelIn | None, Body()] = None):
    logger.set_correlation_id(order_id)
    if body is None or body.order_id != order_id:
        # The signature covers the body only: the body must name the order it cancels.
        raise InvalidRequest(
            f'the body must name the order it cancels: {{"order_id": "{order_id}"}}',
            code="order_id_mismatch",
            details=[{"field": "order_id", "problem": "must equal the order id in the path"}],
        )
    accounts.existing_seller(store, seller_id)
    order = ordering.cancel_order(store, seller_id, order_id)
    logger.info("order cancelled", extra={"seller_id": seller_id})
    return json_response(200, order.public())


@app.post("/v1/sellers/<seller_id>/returns")
def record_return(seller_id: Id, body: Annotated[ReturnIn, Body()]):
    accounts.existing_seller(store, seller_id)
    return json_response(*inventory.record_return(store, seller_id, body))


# --- marketplace channels -------------------------------------------------------------------


@app.put("/v1/sellers/<seller_id>/channels/<channel_id>")
def put_channel(seller_id: Id, channel_id: Id, body: Annotated[ChannelIn, Body()]):
    status, answer = channels.put_channel(store, seller_id, channel_id, body)
    logger.info("channel saved", extra={"seller_id": seller_id, "channel_id": channel_id, "kind": body.kind, "http": status})
    return json_response(status, answer)


@app.post("/v1/sellers/<seller_id>/channels/<channel_id>/webhooks")
def channel_webhook(seller_id: Id, channel_id: Id):
    """A marketplace's own webhook, verified by the gate with the channel's secret."""
    who = principal()
    if who.kind == "ping":
        return json_response(200, {"outcome": "ignored", "order_id": None, "reason": "the webhook's activation ping"})
    assert who.seller is not None and who.channel is not None  # the gate let only a verified delivery through
    event = app.current_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    answer = channels.receive_delivery(store, who.seller, who.channel, headers, raw_body(event.raw_event))
    metrics.add_metric(name=f"ChannelDeliveries_{answer['outcome']}", unit=MetricUnit.Count, value=1)
    logger.info("channel delivery", extra={"seller_id": seller_id, "channel_id": channel_id, **answer})
    return json_response(200, answer)


@app.get("/v1/sellers/<seller_id>/channels/<channel_id>/deliveries")
def channel_deliveries(
    seller_id: Id,
    channel_id: Id,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    return json_response(200, channels.deliveries(store, seller_id, channel_id, limit, cursor))


# --- outbound webhook endpoints (seller key, vendor key, or admin) ----------------------------


def _check_url(url: str) -> None:
    try:
        outbound.check(url, allow_local=settings().webhooks_allow_local)
    except outbound.Refused as e:
        raise InvalidRequest(f"this URL cannot receive webhooks: {e}", code="invalid_url", details=[{"field": "url"}]) from None


def _account(kind: AccountKind, account_id: str) -> None:
    if kind == "seller":
        accounts.existing_seller(store, account_id)
    elif store.vendor(account_id) is None:
        raise NotFound(f"vendor {account_id} not found")


@app.get("/v1/sellers/<seller_id>/webhook-endpoints")
def list_seller_endpoints(seller_id: Id):
    _account("seller", seller_id)
    return json_response(200, notifications.list_endpoints(store, "seller", seller_id))


@app.put("/v1/sellers/<seller_id>/webhook-endpoints/<endpoint_id>")
def put_seller_endpoint(seller_id: Id, endpoint_id: Id, body: Annotated[EndpointIn, Body()]):
    _account("seller", seller_id)
    return json_response(*notifications.put_endpoint(store, "seller", seller_id, endpoint_id, body, _check_url))


@app.delete("/v1/sellers/<seller_id>/webhook-endpoints/<endpoint_id>")
def delete_seller_endpoint(seller_id: Id, endpoint_id: Id):
    notifications.delete_endpoint(store, "seller", seller_id, endpoint_id)
    return Response(204, content_types.APPLICATION_JSON, "")


@app.get("/v1/sellers/<seller_id>/webhook-endpoints/<endpoint_id>/deliveries")
def seller_endpoint_deliveries(seller_id: Id, endpoint_id: Id, limit: Limit = 50, cursor: Cursor = None):
    return json_response(200, notifications.attempts(store, "seller", seller_id, endpoint_id, limit, cursor))


@app.get("/v1/vendors/<vendor_id>/webhook-endpoints")
def list_vendor_endpoints(vendor_id: Id):
    _account("vendor", vendor_id)
    return json_response(200, notifications.list_endpoints(store, "vendor", vendor_id))


@app.put("/v1/vendors/<vendor_id>/webhook-endpoints/<endpoint_id>")
def put_vendor_endpoint(vendor_id: Id, endpoint_id: Id, body: Annotated[EndpointIn, Body()]):
    _account("vendor", vendor_id)
    return json_response(*notifications.put_endpoint(store, "vendor", vendor_id, endpoint_id, body, _check_url))


@app.delete("/v1/vendors/<vendor_id>/webhook-endpoints/<endpoint_id>")
def delete_vendor_endpoint(vendor_id: Id, endpoint_id: Id):
    notifications.delete_endpoint(store, "vendor", vendor_id, endpoint_id)
    return Response(204, content_types.APPLICATION_JSON, "")


@app.get("/v1/vendors/<vendor_id>/webhook-endpoints/<endpoint_id>/deliveries")
def vendor_endpoint_deliveries(vendor_id: Id, endpoint_id: Id, limit: Limit = 50, cursor: Cursor = None):
    return json_response(200, notifications.attempts(store, "vendor", vendor_id, endpoint_id, limit, cursor))


# --- sellers ------------------------------------------------------------------------------


OrderStatusIn = Annotated[OrderListStatus | None, Query(description="Only orders with this status.")]
SkuIn = Annotated[Sku | None, Query(description="Only orders with a line of this SKU.")]


@app.get("/v1/sellers/<seller_id>/orders")
def list_orders(seller_id: Id, status: OrderStatusIn = None, sku: SkuIn = None, limit: Limit = 50, cursor: Cursor = None):
    return json_response(200, lists.orders(store, seller_id, status, sku, limit, cursor))


@app.get("/v1/sellers/<seller_id>/orders/<order_id>")
def get_order(seller_id: Id, order_id: Id):
    order = require_found(store.order(seller_id, order_id), f"order {order_id}")
    return json_response(200, order.public())


@app.get("/v1/sellers/<seller_id>/purchase-orders")
def list_purchase_orders(
    seller_id: Id,
    status: Annotated[PoStatus | None, Query(description="Only purchase orders with this status.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    return json_response(200, lists.purchase_orders(store, seller_id, status, limit, cursor))


@app.post("/v1/sellers/<seller_id>/purchase-orders")
def raise_purchase_order(seller_id: Id, body: Annotated[ManualPoIn, Body()]):
    seller = principal().seller or accounts.existing_seller(store, seller_id)
    status, answer = purchasing.manual_purchase_order(store, seller, body)
    logger.info("purchase order raised by hand", extra={"seller_id": seller_id, "po_id": answer["po_id"], "http": status})
    return json_response(status, answer)


@app.get("/v1/sellers/<seller_id>/purchase-orders/<po_id>")
def get_purchase_order(seller_id: Id, po_id: Id):
    return json_response(200, purchasing.purchase_order_view(store, seller_id, po_id))


@app.post("/v1/sellers/<seller_id>/purchase-orders/<po_id>/cancel")
def cancel_purchase_order(seller_id: Id, po_id: Id, body: Annotated[PoCancelIn, Body()]):
    answer = purchasing.cancel_purchase_order(store, seller_id, po_id, body)
    logger.info("purchase order cancelled", extra={"seller_id": seller_id, "po_id": po_id, "status": answer["status"]})
    return json_response(200, answer)


@app.post("/v1/sellers/<seller_id>/purchase-orders/<po_id>/grns")
def manual_grn(seller_id: Id, po_id: Id, body: Annotated[GrnIn, Body()]):
    seller = principal().seller or accounts.existing_seller(store, seller_id)
    return json_response(*purchasing.manual_grn(store, seller, po_id, body))


@app.get("/v1/sellers/<seller_id>/skus/<sku>/stock")
def sku_stock(seller_id: Id, sku: Sku):
    accounts.existing_seller(store, seller_id)
    return json_response(200, inventory.stock_view(store, seller_id, sku))


# --- vendors ------------------------------------------------------------------------------


@app.get("/v1/vendors/<vendor_id>/orders")
def list_vendor_orders(
    vendor_id: Id,
    status: Annotated[VendorOrderStatus | None, Query(description="Only vendor orders with this status.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    return json_response(200, lists.vendor_orders(store, vendor_id, status, limit, cursor))


@app.get("/v1/vendors/<vendor_id>/orders/<vendor_order_id>")
def get_vendor_order(vendor_id: Id, vendor_order_id: Id):
    vo, _ = purchasing.vendor_order(store, vendor_id, vendor_order_id)
    return json_response(200, vo.public())


@app.post("/v1/vendors/<vendor_id>/orders/<vendor_order_id>/approve")
def approve_vendor_order(vendor_id: Id, vendor_order_id: Id, body: Annotated[ApproveIn | None, Body()] = None):
    return json_response(200, purchasing.approve(store, vendor_id, vendor_order_id, body).public())


@app.post("/v1/vendors/<vendor_id>/orders/<vendor_order_id>/decline")
def decline_vendor_order(vendor_id: Id, vendor_order_id: Id, body: Annotated[DeclineIn, Body()]):
    declined = purchasing.decline(store, vendor_id, vendor_order_id, body)
    logger.info("vendor order declined", extra={"vendor_id": vendor_id, "vendor_order_id": vendor_order_id})
    return json_response(200, declined.public())


# --- web pages: the vendor panel and the seller console --------------------------------------
# Static files from ./panel, by an allow-list (the name is looked up, never joined to a path).
# No credential: the pages hold nothing secret; in the browser they call the API above with
# the user's own key. Not part of the API contract, so not in the OpenAPI document.

PANEL_DIR = Path(__file__).resolve().parent / "panel"
_HTML, _CSS, _JS, _SVG = "text/html; charset=utf-8", "text/css; charset=utf-8", "text/javascript; charset=utf-8", "image/svg+xml"
PANEL_ASSETS: dict[str, str] = {
    "index.html": _HTML,
    "vendor.html": _HTML,
    "seller.html": _HTML,
    "panel.css": _CSS,
    "common.js": _JS,
    "vendor.js": _JS,
    "seller.js": _JS,
    "timeline.js": _JS,
    "icon.svg": _SVG,
}
PANEL_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}
_panel_cache: dict[str, tuple[str, str]] = {}


def _panel_file(name: str) -> tuple[str, str] | None:
    """(text, etag) of an allowed asset, read once per cold start."""
    if name not in PANEL_ASSETS:
        return None
    if name not in _panel_cache:
        text = (PANEL_DIR / name).read_text(encoding="utf-8")
        _panel_cache[name] = (text, '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"')
    return _panel_cache[name]


def _etags(header: str | None) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in (header or "").split(",")}


@app.get("/panel", include_in_schema=False)
def panel_root():
    # Relative, so that it works under the API stage's prefix (/prod/panel) as well as locally.
    target = "index.html" if app.current_event.path.endswith("/") else "panel/index.html"
    return Response(302, content_types.TEXT_PLAIN, "", headers={"Location": target, "Cache-Control": "no-cache"})


@app.get("/panel/<asset>", include_in_schema=False)
def panel_asset(asset: str):
    found = _panel_file(asset)
    if found is None:
        return error_response(404, "not_found", "no such page or file")
    text, etag = found
    # Pages are revalidated on every visit (a 304 is cheap); scripts and styles live 5 minutes.
    cache = "no-cache" if asset.endswith(".html") else "public, max-age=300"
    headers = {"Cache-Control": cache, "ETag": etag, **PANEL_SECURITY_HEADERS}
    if etag in _etags(app.current_event.get_header_value("if-none-match")):
        return Response(304, None, "", headers=headers)
    return Response(200, PANEL_ASSETS[asset], text, headers=headers)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, gate, event, context)
