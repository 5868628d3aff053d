"""The environment for in-process runs on moto (as tests/conftest.py sets it), and the
import paths (`shared/` is the source root of the domain; the repository root holds
`tests` and `benchmarks`).

Call `prepare()` before anything imports boto3 clients or the handlers: the domain
reads its settings once, and botocore reads the account-id endpoint mode once.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "test-admin-token"  # tests.chain.ADMIN_TOKEN (the in-process driver's)

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # moto does not intercept the account-id endpoints botocore would use for streams
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "POWERTOOLS_SERVICE_NAME": "backorders-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Backorders",
    # as deployed (infra/stack.py): INFO logs, metrics on; they go to a counting sink
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "ADMIN_TOKEN_SHA256": hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest(),
    # what the stack sets (tests/chain.py checks moto gives the queue this URL)
    "WEBHOOK_DELIVERIES_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/webhook-deliveries",
    "PO_WINDOWS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/po-windows",
}


def paths() -> None:
    for p in (str(ROOT / "shared"), str(ROOT)):
        if p not in sys.path:
            sys.path.insert(0, p)


def prepare() -> None:
    paths()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(ENV)
