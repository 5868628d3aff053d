"""Hostile requests over real HTTP to `backorders local`: no 5xx, refusals in the error shape."""

import pytest
import requests

CASES = [
    ("POST", "/v1/sellers/s1/orders", b"\x00\xff" * 100, {}),
    ("POST", "/v1/sellers/s1/orders", b"{" * 5000, {"X-Signature": "sha256=" + "0" * 64}),
    ("POST", "/v1/sellers/s1/orders", b"x" * 400_000, {"X-Signature": "sha256=00"}),
    ("PUT", "/v1/sellers/" + "a" * 2000, b"{}", {"Authorization": "Bearer nope"}),
    ("GET", "/v1/sellers/s1/orders/../../vendors", b"", {}),
    ("GET", "/v1/sellers/%00/orders/x", b"", {"X-Api-Key": "sk.%00.x"}),
    ("DELETE", "/v1/sellers/s1", b"", {}),
    ("PATCH", "/v1/health", b"", {}),
    ("GET", "/v1/vendors/v1/orders", b"", {"X-Api-Key": "vk.v1." + "A" * 10_000}),
    ("POST", "/v1/vendors/v1/orders/x/handovers", b'{"handover_id": "h", "lines": [{"sku": "A", "qty": 1e308}]}', {"X-Api-Key": "vk.v1.x"}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), CASES)
def test_hostile_requests_are_refused_in_the_error_shape(api, method, path, body, headers):
    answer = requests.request(method, api.url + path, data=body, headers=headers, timeout=10)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
    error = answer.json()["error"]
    assert set(error) == {"code", "message", "details"}
