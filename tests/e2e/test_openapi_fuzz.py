"""Every operation of the served OpenAPI document, fuzzed with Schemathesis against
`backorders local`: valid and invalid data, every kind of credential, random ids and
the ids of real accounts and orders.

Each answer must be one the document declares, in its declared shape (so refusals are in
the error shape), never a 5xx; a refusal writes nothing; and a request is accepted only
with a credential its route admits, for that credential's own account."""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from backorders import topology
from tests import credentials
from tests.e2e.local import Api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CREDENTIAL_HEADERS = {"authorization", "x-api-key", "x-signature", "x-shopify-hmac-sha256"}
EXAMPLES = int(os.environ.get("BACKORDERS_OPENAPI_FUZZ_EXAMPLES", "20"))
# The calls that can change a table or emit an event, as the embedded AWS sees them.
WRITES = {f"DynamoDB_20120810.{op}" for op in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")}
WRITES.add("AWSEvents.PutEvents")


class World:
    """Two sellers and two vendors; seller A has an order waiting on a PO of vendor A."""

    def __init__(self, api: Api):
        self.api = api
        self.seller, self.vendor, self.sku = api.setup(stock=1)
        self.other_seller, self.other_vendor, _ = api.setup(stock=0)
        for seller in (self.seller, self.other_seller):
            secret = credentials.channel_secret(api.sellers[seller])
            channel = {"kind": "shopify", "secret": secret}
            assert api.admin("PUT", f"/v1/sellers/{seller}/channels/{credentials.CHANNEL}", channel).status == 201
        self.order = "fuzz-o1"
        assert api.order(self.seller, self.order, (self.sku, 3)).status == 201
        [po] = api.until("the PO", lambda: api.purchase_orders(self.seller) or None)
        self.po, self.vendor_order = po["po_id"], po["vendor_order_id"]
        self.dynamodb = boto3.client(
            "dynamodb", endpoint_url=api.aws_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        self.last = self.settled()
        self.changed = False

    def before_request(self) -> dict[str, list[str]]:
        """The stored state before a request: settled again after an accepted write."""
        if self.changed:
            self.last, self.changed = self.settled(), False
        self.recorder("reset-recording")
        return self.last

    def recorder(self, action: str) -> str:
        """moto's record of the requests the embedded AWS received (whoever sent them)."""
        response = requests.post(f"{self.api.aws_url}/moto-api/recorder/{action}", timeout=10)
        response.raise_for_status()
        return response.text

    def writes_sent(self) -> list[str]:
        """The write calls sent to the embedded AWS since `before_request`. None sent:
        nothing changed (far cheaper than comparing every table). One sent may have been
        refused (a failed condition), so only then are the tables compared."""
        entries = [json.loads(line) for line in self.recorder("download-recording").splitlines() if line.strip()]
        targets = ({k.lower(): v for k, v in e["headers"].items()}.get("x-amz-target", "") for e in entries)
        return [t for t in targets if t in WRITES]

    def real_ids(self) -> dict[str, str]:
        return {"seller_id": self.seller, "vendor_id": self.vendor, "sku": self.sku, "order_id": self.order,
                "po_id": self.po, "vendor_order_id": self.vendor_order, "channel_id": credentials.CHANNEL}

    def headers(self, kind: str, raw: bytes) -> dict[str, str]:
        api = self.api
        return credentials.headers(
            kind, raw, admin_token=api.admin_token, seller=api.sellers[self.seller],
            other_seller=api.sellers[self.other_seller], vendor=api.vendors[self.vendor],
            other_vendor=api.vendors[self.other_vendor],
        )

    def everything(self) -> dict[str, list[str]]:
        return {
            t.name: sorted(json.dumps(i, sort_keys=True) for i in self.dynamodb.scan(TableName=t.name)["Items"])
            for t in topology.TABLES
        }

    def settled(self) -> dict[str, list[str]]:
        """Everything, once the chain has stopped writing (accepted requests write later too)."""
        return self.api.until("the chain to settle", lambda: self._same_twice())

    def _same_twice(self):
        first = self.everything()
        time.sleep(0.2)
        second = self.everything()
        return second if first == second else None


@pytest.fixture(scope="module")
def world(local_api: Api):
    world = World(local_api)
    world.recorder("start-recording")
    yield world
    world.recorder("stop-recording")


@pytest.fixture(scope="module")
def api_schema(local_api: Api):
    document = requests.get(local_api.url + "/v1/openapi.json", timeout=10).json()
    return schemathesis.openapi.from_dict(document)


OPERATIONS = [(route.method, route.path) for route in topology.API_ROUTES + topology.HANDOVER_ROUTES
              if route not in topology.PANEL_ROUTES]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_answer_is_declared_and_a_refusal_writes_nothing(api_schema, world: World, method: str, path: str):
    route = next(r for r, _ in topology.all_routes() if (r.method, r.path) == (method, path))
    operation = api_schema[path][method]
    cases = st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]).flatmap(operation.as_strategy)

    # Half the time a credential the route admits, so that requests get past the gate.
    kinds = st.sampled_from(sorted(credentials.ADMITS[route.auth])) | st.sampled_from(credentials.KINDS)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=cases, kind=kinds, use_real_ids=st.booleans())
    def fuzz(case, kind, use_real_ids):
        if use_real_ids and case.path_parameters:
            real = world.real_ids()
            case.path_parameters = {name: real.get(name, value) for name, value in case.path_parameters.items()}
        request = case.as_transport_kwargs(base_url=world.api.url)
        # Sign exactly the bytes that are sent: serialize the JSON body here, not in `requests`.
        raw = json.dumps(request.pop("json")).encode() if "json" in request else request.pop("data", None) or b""
        raw = raw.encode() if isinstance(raw, str) else raw
        headers = request.pop("headers")
        if kind != "none":  # generated credentials stay only where we send none of our own
            headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
        headers.update(world.headers(kind, raw))
        before = world.before_request()
        response = requests.request(**request, data=raw, headers=headers, timeout=30)

        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            if world.writes_sent():
                assert world.everything() == before, f"a refused request wrote: {case.as_curl_command()}"
            return
        assert kind in credentials.ADMITS[route.auth], f"{kind} credential accepted: {method} {request['url']} -> {response.status_code}"
        if route.auth != "none" and kind in ("seller", "signed", "channel"):
            assert case.path_parameters["seller_id"] == world.seller
        if route.auth != "none" and kind == "vendor":
            assert case.path_parameters["vendor_id"] == world.vendor
        if method != "GET":
            world.changed = True

    fuzz()
