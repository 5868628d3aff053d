"""OrderBackordered (EventBridge rule) -> approved PO + vendor B2B order, or the reason why not."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders import purchasing
from backorders.models import OrderBackordered
from backorders.store import Store

logger = Logger()
metrics = Metrics()
store = Store()


class OrderBackorderedEvent(EventBridgeModel):
    detail: OrderBackordered


@logger.inject_lambda_context
@metrics.log_metrics
@event_parser(model=OrderBackorderedEvent)
def handler(event: OrderBackorderedEvent, context: LambdaContext) -> dict:
    detail = event.detail
    logger.set_correlation_id(detail.correlation_id)
    created = purchasing.raise_purchase_orders(store, detail.seller_id, detail.order_id)
    if created:
        metrics.add_metric(name="PurchaseOrdersCreated", unit=MetricUnit.Count, value=len(created))
    logger.info("purchase orders raised", extra={"seller_id": detail.seller_id, "po_ids": created})
    return {"order_id": detail.order_id, "purchase_orders_created": created}
