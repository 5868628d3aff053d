"""Shared fixtures: the whole chain on moto, driven the way Lambda would drive it."""

from __future__ import annotations

import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # moto does not intercept the account-id endpoints botocore would use for streams
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_SERVICE_NAME": "backorders-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "Backorders",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        # webhooks: receivers on 127.0.0.1, and retries due at once (each test says when)
        "BACKORDERS_WEBHOOKS_ALLOW_LOCAL": "1",
        "BACKORDERS_WEBHOOK_RETRY_SCHEDULE": "0,0,0,0,0,0,0",
        # what the stack sets (tests/chain.py checks moto gives the queue this URL)
        "WEBHOOK_DELIVERIES_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/webhook-deliveries",
        "PO_WINDOWS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/po-windows",
    }
)

import gc

import pytest

# moto keeps every item as a tree of small objects and copies trees at most calls: with
# the default thresholds the cyclic collector runs through the whole heap again and again
# (about 13% of a 500-line order's run). Nothing here makes cycles worth collecting early.
gc.freeze()
gc.set_threshold(100_000, 50, 1000)

# The longest files (measured, seconds on one core) go to the workers first, so that the
# two finish together; the rest follow in collection order.
LONGEST_FIRST = (
    "tests/test_big_orders.py",  # 77
    "tests/test_big_order_whole_chain.py",  # 61
    "tests/e2e/test_openapi_fuzz.py",  # 40
    "tests/browser/test_pages.py",  # 32
    "tests/simulation/test_simulation.py",  # 27
    "tests/infra/test_iam_calls.py",  # 18
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: within a file and among the rest, nothing moves


from tests.iam_calls import iam_calls, install  # noqa: E402, F401  (iam_calls: a fixture)

# Before any botocore session exists, so that every client carries the recording hook.
install()
from tests.chain import ADMIN_TOKEN, Chain  # noqa: E402

os.environ["ADMIN_TOKEN_SHA256"] = __import__("hashlib").sha256(ADMIN_TOKEN.encode()).hexdigest()


@pytest.fixture
def chain():
    with Chain.started() as running:
        yield running
