"""EventBridge adapter: the versioned events the domain announces."""

from __future__ import annotations

import json
from functools import cache

from pydantic import BaseModel

from backorders import topology
from backorders.adapters.config import settings
from backorders.domain.models import OrderBackordered


class PublishFailed(Exception):
    """EventBridge took the request but refused an entry; the caller must retry."""


@cache
def client():
    import boto3

    return boto3.client("events")


def entry(detail_type: str, detail: BaseModel, bus: str) -> dict:
    return {
        "Source": topology.EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": detail.model_dump_json(),
        "EventBusName": bus,
    }


def order_backordered_entry(detail: OrderBackordered, bus: str = topology.EVENT_BUS) -> dict:
    return entry(topology.DetailType.ORDER_BACKORDERED, detail, bus)


class EventBridgePublisher:
    def __init__(self, bus: str | None = None):
        self.bus = bus or settings().event_bus

    def order_backordered(self, detail: OrderBackordered) -> None:
        self._put([order_backordered_entry(detail, self.bus)])

    def republish(self, source: str, detail_type: str, detail: dict) -> None:
        """An event as it was first published (a replay from a dead-letter queue)."""
        self._put([{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": self.bus}])

    def _put(self, entries: list[dict]) -> None:
        out = client().put_events(Entries=entries)
        if out.get("FailedEntryCount", 0):
            errors = [e.get("ErrorCode") for e in out.get("Entries", []) if e.get("ErrorCode")]
            raise PublishFailed(f"{out['FailedEntryCount']} event(s) not accepted: {errors}")
