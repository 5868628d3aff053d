"""Vendor handover endpoint: records the handover and, with auto GRN on, inwards the goods and gives them to their orders."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from backorders.adapters.store import Store
from backorders.http.gate import Gate, handle, make_app
from backorders.http.handover_route import router

logger = Logger()
metrics = Metrics()
app = make_app()
app.include_router(router)
gate = Gate(Store())


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return handle(app, gate, event, context)
