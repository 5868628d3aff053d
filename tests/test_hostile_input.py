"""Hostile input against every endpoint: never a 5xx, every refusal in the error shape,
and a refused request writes nothing. Generated with Hypothesis from the topology's routes."""

import json
import os
import re
from collections import Counter
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backorders import topology
from backorders.adapters import dynamo, events
from tests import credentials
from tests.chain import ADMIN_TOKEN, Chain

ROUTES = [route for route, _ in topology.all_routes() if not route.path.startswith("/panel")]
WRITES = {"PUT", "POST", "DELETE"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# ids that are fine, odd, or hostile
path_ids = st.sampled_from(["s1", "v1", "o1", "A", "nope", "x" * 200, "..", "%2e%2e", "a b", "é", "sk.s1.x", "0"]) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"), min_size=1, max_size=20
)
# SKUs are free text: wide ones that are fine, and ones one character away from fine
wide_skus = st.sampled_from([
    "Mug 350ml / Blue #2", "Café-Tasse ☕", "é" * 255, "😀" * 255, "x#SKU#y", "PROFILE", "<b>x</b>", ".",
    "", "x" * 256, "a\tb", "a\nb", "a\u2028b", " a", "a ", "a\x00",
])
skus = path_ids | wide_skus
# in a path a SKU is percent-encoded (or not, or half)
path_skus = path_ids | wide_skus.map(lambda sku: quote(sku, safe="")) | wide_skus
credential_kinds = st.sampled_from(credentials.KINDS)


def near_valid(route) -> st.SearchStrategy:
    """Bodies that look like the real thing with one part wrong, and plain garbage."""
    line = st.fixed_dictionaries({"line_id": path_ids, "sku": skus, "qty": json_values | st.integers()})
    shapes = {
        "/orders": st.fixed_dictionaries({"order_id": path_ids, "lines": st.lists(line, max_size=3)}),
        "/handovers": st.fixed_dictionaries(
            {"handover_id": path_ids, "lines": st.lists(st.fixed_dictionaries({"sku": skus, "qty": json_values}), max_size=3)}
        ),
        "/adjustments": st.fixed_dictionaries({"adjustment_id": path_ids, "sku": skus, "qty": json_values}),
        "/returns": st.fixed_dictionaries({"return_id": path_ids, "sku": skus, "qty": json_values, "status": json_values}),
    }
    for suffix, strategy in shapes.items():
        if route.path.endswith(suffix):
            return strategy | json_values
    return json_values


@st.composite
def requests(draw):
    route = draw(st.sampled_from(ROUTES))
    path = re.sub(r"\{(\w+)\}", lambda m: draw(path_skus if m[1] == "sku" else path_ids).replace("/", "_"), route.path)
    body = draw(near_valid(route)) if route.method in WRITES else None
    raw = draw(st.sampled_from([json.dumps(body).encode(), b"{", b"", b"\xff\xfe", json.dumps(body).encode() * 2]))
    return route, path, raw, draw(credential_kinds)


def headers_for(chain: Chain, kind: str, raw: bytes) -> dict:
    return credentials.headers(
        kind, raw, admin_token=ADMIN_TOKEN, seller=chain.sellers["s1"], other_seller=chain.sellers["s2"],
        vendor=chain.vendors["v1"], other_vendor=chain.vendors["v2"],
    )


# Every call that can change a table or emit an event.
WRITE_CALLS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem", "PutEvents"}


@contextmanager
def counting_writes():
    """Counts the writes DynamoDB and EventBridge accepted through the clients the handlers
    use (a refused call, e.g. a failed condition, wrote nothing and is not counted). A
    request that wrote nothing also left no stream record or event for the chain to act on."""
    written: Counter[str] = Counter()

    def after_call(http_response, model, **_):
        if model.name in WRITE_CALLS and http_response.status_code < 300:
            written[model.name] += 1

    clients = [dynamo.client(), events.client()]
    for c in clients:
        c.meta.events.register("after-call", after_call, unique_id="hostile-input-writes")
    try:
        yield written
    finally:
        for c in clients:
            c.meta.events.unregister("after-call", unique_id="hostile-input-writes")


@pytest.fixture(scope="module")
def world():
    with Chain.started() as chain:
        chain.seller("s1")
        chain.seller("s2")
        chain.vendor("v1")
        chain.vendor("v2")
        chain.map_sku("s1", "A", "v1")
        chain.order("s1", "o1", ("A", 2))
        chain.drain()
        with counting_writes() as written:
            chain.written = written
            yield chain


@settings(max_examples=int(os.environ.get("BACKORDERS_FUZZ_EXAMPLES", "400")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_no_input_gets_a_5xx_and_every_refusal_is_shaped_and_writes_nothing(world, request):
    route, path, raw, kind = request
    world.written.clear()
    answer = world.call(route.method, path, headers=headers_for(world, kind, raw), raw=raw)
    assert answer.status < 500, (route, path, raw, kind, answer)
    if answer.status >= 400:
        assert set(answer.body) == {"error"} and set(answer.body["error"]) == {"code", "message", "details"}
        assert re.fullmatch(r"[a-z_]+", answer.body["error"]["code"])
        assert not world.written, (route, path, raw, kind, answer, dict(world.written))
    else:
        world.drain()  # what an accepted write set off, before the next request is counted
        assert kind in credentials.ADMITS[route.auth], f"{kind} credential was accepted: {route.method} {path} -> {answer.status}"
        if kind in ("seller", "signed") and route.auth != "none":
            assert path.startswith("/v1/sellers/s1/"), path
        if kind == "vendor" and route.auth != "none":
            assert path.startswith("/v1/vendors/v1/"), path
