"""Vendor handover endpoint: records the handover and, with auto GRN on, inwards the goods."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders import purchasing
from backorders.http import Gate, handle, json_response, make_app
from backorders.models import HandoverIn, Id
from backorders.store import Store

logger = Logger()
metrics = Metrics()
app = make_app()
store = Store()
gate = Gate(store)


@app.post("/v1/vendors/<vendor_id>/orders/<vendor_order_id>/handovers")
def hand_over(vendor_id: Id, vendor_order_id: Id, body: Annotated[HandoverIn, Body()]):
    status, answer, handover = purchasing.hand_over(store, vendor_id, vendor_order_id, body)
    logger.set_correlation_id(handover.source_order_id)
    metrics.add_metric(name="Handovers", unit=MetricUnit.Count, value=1)
    if answer["grn_id"]:
        metrics.add_metric(name="GoodsReceived", unit=MetricUnit.Count, value=1)
    logger.info("handover", extra={"vendor_id": vendor_id, **answer})
    return json_response(status, answer)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, gate, event, context)
