"""What the stream handlers share."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord


def new_image(record: DynamoDBRecord) -> dict[str, Any]:
    """The item as written (every filter of ours asks for records that have one)."""
    if record.dynamodb is None or record.dynamodb.new_image is None:
        raise ValueError(f"stream record {record.event_id} has no new image")
    return record.dynamodb.new_image


def old_image(record: DynamoDBRecord) -> dict[str, Any] | None:
    """The item before the write; None for an insert."""
    if record.dynamodb is None:
        return None
    return record.dynamodb.old_image or None  # powertools gives {} when there is none


def attribute(record: DynamoDBRecord, image: str, name: str) -> str | None:
    """One string attribute of a record's `NewImage` or `OldImage`, read without turning the
    whole image into Python (a 500-line order's image is costly to read)."""
    value = (record.raw_event.get("dynamodb", {}).get(image) or {}).get(name) or {}
    return value.get("S")
