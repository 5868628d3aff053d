"""The vendor handover route. Served by the `on_handover` function; the `api` function
includes it too so that its OpenAPI document covers the whole contract."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit

from backorders.adapters.store import Store
from backorders.domain.models import HandoverIn, Id
from backorders.http.gate import json_response
from backorders.services import purchasing

router = Router()
logger = Logger()
metrics = Metrics()


@router.post("/v1/vendors/<vendor_id>/orders/<vendor_order_id>/handovers")
def hand_over(vendor_id: Id, vendor_order_id: Id, body: Annotated[HandoverIn, Body()]):
    status, answer, vendor_order = purchasing.hand_over(Store(), vendor_id, vendor_order_id, body)
    logger.set_correlation_id(vendor_order.source_order_id)
    metrics.add_metric(name="Handovers", unit=MetricUnit.Count, value=1)
    if answer["grn_id"]:
        metrics.add_metric(name="GoodsReceived", unit=MetricUnit.Count, value=1)
    logger.info("handover", extra={"vendor_id": vendor_id, **answer})
    return json_response(status, answer)
