"""An order too big for DynamoDB's 400 KB item is refused whole, before anything is
written, never half-stored or a 5xx; big orders that fit are taken as usual."""

from __future__ import annotations

import json

import boto3

from backorders import topology
from backorders.domain import security


def everything() -> dict[str, list]:
    client = boto3.client("dynamodb")
    return {t.name: client.scan(TableName=t.name)["Items"] for t in topology.TABLES}


def test_an_order_of_500_long_multibyte_skus_is_a_clear_400_and_writes_nothing(chain):
    chain.seller("s1")
    before = everything()
    lines = [{"line_id": f"l{i}", "sku": f"{i:03d}" + "☕" * 252, "qty": 1} for i in range(500)]
    answer = chain.signed("s1", "/v1/sellers/s1/orders", {"order_id": "o-big", "lines": lines})
    assert answer.status in (400, 413), answer  # 413 when the body alone is over 256 KiB
    assert everything() == before


def test_an_order_under_the_body_limit_but_too_big_to_store_is_refused_by_name(chain):
    chain.seller("s1")
    before = everything()
    lines = [{"line_id": f"l{i}", "sku": f"{i:03d}" + "☕" * 252, "qty": 1} for i in range(240)]
    raw = json.dumps({"order_id": "o-big", "lines": lines}, ensure_ascii=False).encode()  # 4 bytes a character
    assert len(raw) < 256 * 1024
    answer = chain.call("POST", "/v1/sellers/s1/orders", headers={"X-Signature": security.sign(raw, chain.sellers["s1"]["webhook_secret"])}, raw=raw)
    assert answer.status == 400 and answer.error["code"] == "order_too_large", answer
    assert everything() == before


def test_a_big_order_that_fits_is_taken(chain):
    chain.seller("s1")
    lines = [{"line_id": f"l{i}", "sku": f"{i:03d}-" + "x" * 100, "qty": 1} for i in range(500)]
    assert chain.signed("s1", "/v1/sellers/s1/orders", {"order_id": "o-big", "lines": lines}).status == 201
