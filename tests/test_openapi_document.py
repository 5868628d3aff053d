"""The served OpenAPI document tells a client what API.md tells a person: which credential
each path takes, what it answers on success, and that every refusal has the error shape.
(tests/e2e/test_openapi_fuzz.py checks the running API against this document.)"""

import pytest

from backorders import topology


@pytest.fixture(scope="module")
def document():
    from tests.chain import Chain

    with Chain.started() as chain:
        yield chain.call("GET", "/v1/openapi.json").body


def operation(document, method, path):
    return document["paths"][path][method.lower()]


def test_every_api_path_is_documented_and_the_web_pages_are_not(document):
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    api = {(r.method, r.path) for r, _ in topology.all_routes() if not r.path.startswith(topology.PANEL)}
    assert documented == api


@pytest.mark.parametrize(
    ("method", "path", "credentials"),
    [
        ("GET", "/v1/health", []),
        ("PUT", "/v1/sellers/{seller_id}", [{"admin": []}]),
        ("POST", "/v1/sellers/{seller_id}/orders", [{"webhookSignature": []}, {"admin": []}]),
        ("GET", "/v1/sellers/{seller_id}/skus/{sku}/stock", [{"sellerKey": []}, {"admin": []}]),
        ("POST", "/v1/sellers/{seller_id}/orders/{order_id}/cancel",
         [{"webhookSignature": []}, {"sellerKey": []}, {"admin": []}]),
        ("POST", "/v1/vendors/{vendor_id}/orders/{vendor_order_id}/handovers", [{"vendorKey": []}, {"admin": []}]),
    ],
)
def test_each_path_names_the_credentials_it_takes(document, method, path, credentials):
    assert operation(document, method, path)["security"] == credentials


def test_the_credential_schemes_are_the_headers_of_the_contract(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["admin"] == {"type": "http", "scheme": "bearer", "description": schemes["admin"]["description"]}
    assert (schemes["sellerKey"]["in"], schemes["sellerKey"]["name"]) == ("header", "X-Api-Key")
    assert (schemes["vendorKey"]["in"], schemes["vendorKey"]["name"]) == ("header", "X-Api-Key")
    assert (schemes["webhookSignature"]["in"], schemes["webhookSignature"]["name"]) == ("header", "X-Signature")


@pytest.mark.parametrize(
    ("method", "path", "answers"),
    [
        ("GET", "/v1/health", {"200"}),
        ("PUT", "/v1/sellers/{seller_id}", {"201", "200", "400", "401", "404", "413", "503"}),
        ("POST", "/v1/sellers/{seller_id}/orders", {"201", "200", "400", "401", "404", "409", "413", "422", "503"}),
        ("GET", "/v1/sellers/{seller_id}/orders/{order_id}", {"200", "400", "401", "403", "404"}),
        ("POST", "/v1/vendors/{vendor_id}/orders/{vendor_order_id}/handovers",
         {"202", "400", "401", "403", "404", "409", "413", "422", "503"}),
    ],
)
def test_each_path_lists_the_answers_it_gives(document, method, path, answers):
    assert set(operation(document, method, path)["responses"]) == answers


def test_every_refusal_is_documented_in_the_one_error_shape(document):
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for ops in document["paths"].values():
        for op in ops.values():
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}



def test_every_success_body_has_its_schema(document):
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            for status, answer in op["responses"].items():
                if status.startswith("2") and status != "204":
                    ref = answer["content"]["application/json"]["schema"].get("$ref", "")
                    assert ref.startswith("#/components/schemas/"), f"{method.upper()} {path} {status}: no schema"
                    assert ref.rsplit("/", 1)[1] in schemas, f"{method.upper()} {path}: {ref} is not defined"
