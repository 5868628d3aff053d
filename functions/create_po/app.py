"""OrderBackordered (EventBridge rule) -> approved PO + vendor B2B order, or the reason why not."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from backorders.adapters.store import Store
from backorders.domain.models import OrderBackordered
from backorders.services import purchasing

logger = Logger()
metrics = Metrics()
store = Store()


class OrderBackorderedEvent(BaseModel):
    """The event as the rule delivers it: EventBridge's envelope (the fields powertools'
    EventBridgeModel checks) around our own detail. Validated with pydantic directly:
    powertools' parser utility costs ~10 ms more per cold start (~50 ms without bytecode)."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: OrderBackordered
    replay_name: str | None = Field(None, alias="replay-name")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    detail = OrderBackorderedEvent.model_validate(event).detail
    logger.set_correlation_id(detail.correlation_id)
    created, _ = purchasing.raise_purchase_orders(store, detail.seller_id, detail.order_id)
    if created:
        metrics.add_metric(name="PurchaseOrdersCreated", unit=MetricUnit.Count, value=len(created))
    logger.info("purchase orders raised", extra={"seller_id": detail.seller_id, "po_ids": created})
    return {"order_id": detail.order_id, "purchase_orders_created": created}
