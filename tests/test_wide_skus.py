"""SKUs are the marketplaces' own free text: 1-255 printable characters (spaces, `/`, `#`,
`+`, `.`, any script or symbol), no control characters, no space at either end;
percent-encoded in paths. One rule (`backorders.domain.skus`) for bodies and paths; keys
built from them never meet another SKU's, another kind of item's or another seller's."""

from __future__ import annotations

import json
from urllib.parse import quote

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from backorders import topology
from backorders.adapters import store
from backorders.domain import routing
from backorders.domain.models import Id, Order, OrderLine, Sku
from backorders.domain.skus import SKU_RULE, is_valid_sku
from tests import invariants

WIDE = {
    "spaces, / and #": "Mug 350ml / Blue #2",
    "accents and a symbol": "Café-Tasse ☕",
    "255 two-byte characters": "é" * 255,
    "255 four-byte characters": "😀" * 255,
    "markup": "<img src=x onerror=alert(1)>",
    "percent signs": "100% cotton %2F",
    "plus and dots": "C++ .NET..",
    "a key's own words": "x#SKU#y",
    "an item kind": "PROFILE",
    "another item's key": "#ORDER#o1",
    "a dot": ".",
    "one character": "Z",
}
REFUSED = {
    "empty": "",
    "256 characters": "x" * 256,
    "a tab": "Mug\tBlue",
    "a newline": "Mug\nBlue",
    "a trailing newline": "Mug\n",
    "a carriage return": "Mug\rBlue",
    "a line separator": "Mug\u2028Blue",
    "a NUL": "Mug\x00",
    "DEL": "Mug\x7f",
    "an escape": "\x1b[31mred",
    "a zero-width space": "Mug\u200bBlue",
    "a no-break space": "Mug\u00a0Blue",
    "a leading space": " Mug",
    "a trailing space": "Mug ",
    "a lone surrogate": "Mug\ud800",
}
SKU = TypeAdapter(Sku)


def enc(sku: str) -> str:
    """A SKU as a client puts it in a path: every byte but `A-Z a-z 0-9 _ . - ~` encoded,
    and a SKU of only dots too (URL parsers drop or climb a bare `.`/`..` segment)."""
    encoded = quote(sku, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


# --- the rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("sku", WIDE.values(), ids=WIDE.keys())
def test_what_marketplaces_send_is_a_sku(sku):
    assert is_valid_sku(sku)
    assert SKU.validate_python(sku) == sku


@pytest.mark.parametrize("sku", REFUSED.values(), ids=REFUSED.keys())
def test_control_characters_line_breaks_outer_spaces_and_length_are_refused_naming_the_rule(sku):
    assert not is_valid_sku(sku)
    with pytest.raises(ValidationError) as refused:
        SKU.validate_python(sku)
    assert refused.value.errors()[0]["msg"] == SKU_RULE


def test_a_sku_is_a_string_never_a_number():
    for value in (1, 1.5, None, ["A"], b"A"):
        assert not is_valid_sku(value)
        with pytest.raises(ValidationError):
            SKU.validate_python(value)


# --- paths ------------------------------------------------------------------------------

STOCK = "/v1/sellers/s1/skus/{}/stock"
MAPPING = "/v1/sellers/s1/skus/{}"


@pytest.mark.parametrize("sku", WIDE.values(), ids=WIDE.keys())
def test_a_sku_segment_is_decoded_once_and_handed_on_encoded_whole(sku):
    for template, method in ((STOCK, "GET"), (MAPPING, "PUT"), (MAPPING, "GET")):
        found = routing.match(method, template.format(enc(sku)))
        assert isinstance(found, routing.Match), (method, template)
        assert found.params == {"seller_id": "s1", "sku": sku}
        assert found.canonical_path() == template.format(enc(sku))


@pytest.mark.parametrize("sku", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_sku_in_a_path_matches_no_route(sku):
    encoded = quote(sku, safe="", errors="surrogatepass")
    for template, method in ((STOCK, "GET"), (MAPPING, "PUT"), (MAPPING, "GET")):
        found = routing.match(method, template.format(encoded))
        assert isinstance(found, routing.NoMatch) and found.status == 404, (method, template, encoded)


def test_an_encoded_slash_is_part_of_a_sku_but_never_of_an_id():
    assert routing.match("GET", STOCK.format("Mug%2FBlue")).params["sku"] == "Mug/Blue"
    for path in ("/v1/sellers/s1%2Fx/skus/A/stock", "/v1/sellers/s1/orders/o%2F1", "/v1/sellers/s1%2Fskus%2FA/stock",
                 "/v1/sellers/s1%23SKU%23x/skus/A"):
        assert isinstance(routing.match("GET", path), routing.NoMatch), path
    # a raw `/` is still a segment boundary: no route has a SKU that long
    assert isinstance(routing.match("GET", STOCK.format("Mug/Blue")), routing.NoMatch)


def test_a_sku_of_dots_is_sent_encoded_and_bare_dot_segments_stay_a_404():
    assert routing.match("GET", STOCK.format("%2E")).params["sku"] == "."
    assert routing.match("GET", STOCK.format("%2e%2E")).params["sku"] == ".."
    for path in (STOCK.format("."), STOCK.format(".."), MAPPING.format("."), MAPPING.format("..")):
        assert isinstance(routing.match("GET", path), routing.NoMatch), path


def test_a_percent_that_starts_no_escape_or_bytes_that_are_not_utf8_match_no_route():
    for segment in ("100%", "100%cotton", "%2", "%zz", "%C3", "%ff", "%C3%28"):
        assert isinstance(routing.match("GET", STOCK.format(segment)), routing.NoMatch), segment


def test_plus_is_a_plus_not_a_space():
    assert routing.match("GET", STOCK.format("C++")).params["sku"] == "C++"
    assert routing.match("GET", STOCK.format("C%2B%2B")).params["sku"] == "C++"


@given(st.text(min_size=0, max_size=300))
def test_any_text_is_a_path_sku_exactly_when_it_is_a_body_sku(text):
    path = STOCK.format(enc(text) if is_valid_sku(text) else quote(text, safe="", errors="surrogatepass"))
    found = routing.match("GET", path)
    if is_valid_sku(text):
        assert isinstance(found, routing.Match) and found.params["sku"] == text
        assert found.canonical_path() == path
    else:
        assert isinstance(found, routing.NoMatch) and found.status == 404


# --- keys -------------------------------------------------------------------------------

HOSTILE = ["A", "A#", "#A", "A#B", "A/B", "SKU#A", "PROFILE", "SUMMARY", "#ORDER#o1", "x#SKU#y", "x", "y",
           "SKU#x#SKU#y", "s1#SKU#x", "#", "##", "BIN#main#default", "A#ADJUSTMENT#a1", "ADJUSTMENT#a1"]
SELLERS = ["s1", "s2", "x", "SKU", "s1-SKU-x"]


def keys_for(seller_id: str, sku: str) -> list[tuple[str, str, str, str]]:
    """(table, pk, sk, what) of every item a SKU has a key in."""
    t = topology
    order = Order(seller_id=seller_id, order_id="o1", status="received", body_sha256="", created_at="2024-01-01T00:00:00.000+00:00",
                  lines=[OrderLine(line_id="L1", sku=sku, qty=1)])
    out = [
        (t.ACCOUNTS.name, *store.mapping_key(seller_id, sku).values(), f"mapping {seller_id}/{sku}"),
        (t.INVENTORY.name, *store.bin_key(seller_id, sku, "main", "default").values(), f"bin {seller_id}/{sku}"),
        (t.INVENTORY.name, *store.summary_key(seller_id, sku).values(), f"summary {seller_id}/{sku}"),
        (t.INVENTORY.name, *store.waiting_key(order, 0).values(), f"waiting {seller_id}/{sku}"),
    ]
    return out


def other_keys(seller_id: str) -> list[tuple[str, str, str, str]]:
    """Every item of a seller that is not one SKU's, with ids made of the hostile words."""
    t = topology
    ids = ["a1", "o1", "x", "y", "A", "SKU", "PROFILE", "default"]
    out = [(t.ACCOUNTS.name, *store.seller_key(seller_id).values(), "profile")]
    for i in ids:
        out += [
            (t.INVENTORY.name, *store.adjustment_key(seller_id, i).values(), f"adjustment {i}"),
            (t.INVENTORY.name, *store.return_key(seller_id, i).values(), f"return {i}"),
            (t.ORDERS.name, *store.order_key(seller_id, i).values(), f"order {i}"),
            (t.PURCHASING.name, *store.po_key(seller_id, i).values(), f"po {i}"),
            (t.PURCHASING.name, *store.grn_key(seller_id, i).values(), f"grn {i}"),
        ]
    return out


def test_keys_built_from_skus_meet_no_other_sku_kind_or_seller():
    owner: dict[tuple[str, str, str], str] = {}
    for seller_id in SELLERS:
        for table, pk, sk, what in [k for sku in HOSTILE for k in keys_for(seller_id, sku)] + other_keys(seller_id):
            key = (table, pk, sk)
            assert key not in owner, f"{what} of {seller_id} has the key of {owner[key]}"
            owner[key] = f"{what} of {seller_id}"
    # the stock partition names its seller and SKU back, whatever `#` the SKU holds
    for seller_id in SELLERS:
        for sku in HOSTILE:
            assert store.waiting_line_sku(store.stock_pk(seller_id, sku)) == (seller_id, sku)


def test_ids_hold_no_hash_so_a_sku_cannot_borrow_another_sellers_prefix():
    # seller s1's SKU "x#SKU#y" could only meet seller "s1#SKU#x"'s SKU "y": no such id
    ids = TypeAdapter(Id)
    for bad in ("s1#SKU#x", "s1#", "#", "s1/x", "s1 x"):
        with pytest.raises(ValidationError):
            ids.validate_python(bad)
        assert isinstance(routing.match("GET", f"/v1/sellers/{enc(bad)}/skus/y/stock"), routing.NoMatch)


@given(st.sampled_from(SELLERS), st.text(min_size=1, max_size=40), st.sampled_from(SELLERS), st.text(min_size=1, max_size=40))
def test_two_skus_share_keys_only_when_seller_and_sku_are_the_same(seller_a, sku_a, seller_b, sku_b):
    same = (seller_a, sku_a) == (seller_b, sku_b)
    assert (store.stock_pk(seller_a, sku_a) == store.stock_pk(seller_b, sku_b)) == same
    assert (store.mapping_key(seller_a, sku_a) == store.mapping_key(seller_b, sku_b)) == same
    assert store.waiting_line_sku(store.stock_pk(seller_a, sku_a)) == (seller_a, sku_a)


def test_the_widest_sku_fits_dynamodb_key_limits():
    # DynamoDB: partition key at most 2048 bytes, sort key at most 1024 (UTF-8); moto does not check
    seller_id, sku = "s" * 64, "😀" * 255
    assert is_valid_sku(sku) and len(sku.encode()) == 1020
    keys = keys_for(seller_id, sku)
    for _table, pk, sk, what in keys:
        assert len(pk.encode()) <= 2048, (what, len(pk.encode()))
        assert len(sk.encode()) <= 1024, (what, len(sk.encode()))
    assert max(len(sk.encode()) for *_, sk, _ in keys) == 1024  # the mapping's sort key, exactly at the limit


# --- the whole chain, over HTTP -----------------------------------------------------------

MUG, CUP = "Mug 350ml / Blue #2", "Café-Tasse ☕"


def stock_view(chain, sku: str, seller: str = "s1") -> dict:
    answer = chain.as_seller(seller, "GET", f"/v1/sellers/{seller}/skus/{enc(sku)}/stock")
    assert answer.status == 200, answer
    assert answer.body["sku"] == sku
    return {k: answer.body[k] for k in figures()}


def figures(on_hand=0, assigned=0, available=0, pending=0, open_po=0, returns=0, to_buy=0) -> dict:
    return {"on_hand": on_hand, "assigned": assigned, "available": available, "pending_backorders": pending,
            "open_po_qty": open_po, "expected_returns": returns, "quantity_to_purchase": to_buy}


@pytest.fixture
def shop(chain):
    chain.seller("s1")
    chain.seller("s2")
    chain.vendor("v1")
    return chain


def test_wide_skus_go_through_the_whole_chain(shop):
    # mapped through the encoded path, 1 of the mug in stock
    wide = "é" * 255
    for sku in (MUG, CUP, wide):
        answer = shop.map_sku("s1", enc(sku), "v1")
        mapped = {"seller_id": "s1", "sku": sku, "vendor_id": "v1", "min_order_qty": 1, "pack_size": 1, "stock_shards": 1}
        assert answer.status == 200 and answer.body == mapped, answer
        assert shop.admin("GET", f"/v1/sellers/s1/skus/{enc(sku)}").body["sku"] == sku
    assert shop.stock("s1", MUG, 1, adjustment_id="adj-mug").status == 201

    # an order for 3 mugs, 2 cups and 1 of the widest: backordered
    answer = shop.order("s1", "o1", (MUG, 3), (CUP, 2), (wide, 1))
    assert answer.status == 201, answer
    assert [(w["sku"], w["requested"], w["available"]) for w in answer.body["warnings"]] == [(MUG, 3, 1), (CUP, 2, 0), (wide, 1, 0)]
    shop.drain()
    invariants.check()
    order = shop.get_order("s1", "o1")
    assert order["status"] == "backordered"
    assert [(l["sku"], l["assigned_qty"], l["pending_qty"]) for l in order["lines"]] == [(MUG, 1, 2), (CUP, 0, 2), (wide, 0, 1)]

    # one PO for what is missing, each SKU as it was sent
    [po] = shop.purchase_orders("s1")
    assert po["status"] == "approved"
    assert sorted((l["sku"], l["qty"]) for l in po["lines"]) == sorted([(MUG, 2), (CUP, 2), (wide, 1)])
    [vo] = shop.vendor_orders("v1")
    assert sorted((l["sku"], l["qty"]) for l in vo["lines"]) == sorted([(MUG, 2), (CUP, 2), (wide, 1)])
    assert stock_view(shop, MUG) == figures(on_hand=1, assigned=1, pending=2, open_po=2)
    assert stock_view(shop, CUP) == figures(pending=2, open_po=2)
    assert stock_view(shop, wide) == figures(pending=1, open_po=1)

    # the vendor hands everything over: the order is ready
    assert shop.hand_over("v1", vo["vendor_order_id"], "h1", (MUG, 2), (CUP, 2), (wide, 1)).status == 202
    shop.drain()
    invariants.check()
    assert shop.get_order("s1", "o1")["status"] == "ready"
    assert stock_view(shop, MUG) == figures(on_hand=3, assigned=3)
    assert stock_view(shop, CUP) == figures(on_hand=2, assigned=2)


def test_skus_that_differ_only_after_a_slash_or_hash_stay_apart(shop):
    pairs = [("Mug / Blue", "Mug / Red"), ("Cup #1", "Cup #2"), ("A", "A#SKU#B"), ("SKU#A", "A")]
    everything = sorted({sku for pair in pairs for sku in pair} | {"PROFILE", "#ORDER#o1", "x#SKU#y"})
    for i, sku in enumerate(everything, start=1):
        assert shop.map_sku("s1", enc(sku), "v1" if i % 2 else None).status == 200
        assert shop.stock("s1", sku, i, adjustment_id=f"adj-{i}").status == 201
    for i, sku in enumerate(everything, start=1):
        assert stock_view(shop, sku) == figures(on_hand=i, available=i)
        mapping = shop.admin("GET", f"/v1/sellers/s1/skus/{enc(sku)}").body
        assert mapping == {"seller_id": "s1", "sku": sku, "vendor_id": "v1" if i % 2 else None, "min_order_qty": 1, "pack_size": 1, "stock_shards": 1}
        # the same words under another seller are another SKU: one it never had
        other = shop.as_seller("s2", "GET", f"/v1/sellers/s2/skus/{enc(sku)}/stock")
        assert other.status == 404 and other.error["code"] == "sku_unknown"
    # the seller's own profile is untouched by a SKU named PROFILE
    assert shop.admin("GET", "/v1/sellers/s1").body["name"] == "Seller s1"
    # an order of one SKU takes nothing from its look-alikes
    assert shop.order("s1", "o1", ("Mug / Blue", 1)).status == 201
    shop.drain()
    invariants.check()
    blue = everything.index("Mug / Blue") + 1
    red = everything.index("Mug / Red") + 1
    assert stock_view(shop, "Mug / Blue") == figures(on_hand=blue, assigned=1, available=blue - 1)
    assert stock_view(shop, "Mug / Red") == figures(on_hand=red, available=red)


def snapshot() -> dict[str, list]:
    client = boto3.client("dynamodb")
    return {t.name: sorted(json.dumps(i, sort_keys=True) for i in client.scan(TableName=t.name)["Items"]) for t in topology.TABLES}


@pytest.mark.parametrize("sku", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_sku_is_a_400_in_a_body_and_a_404_in_a_path_and_writes_nothing(shop, sku):
    before = snapshot()
    bodies = {
        "/v1/sellers/s1/inventory/adjustments": (shop.admin, {"adjustment_id": "a1", "sku": sku, "qty": 1}, "sku"),
        "/v1/sellers/s1/orders": (None, {"order_id": "o1", "lines": [{"line_id": "L1", "sku": sku, "qty": 1}]}, "lines.0.sku"),
        "/v1/sellers/s1/returns": (None, {"return_id": "r1", "sku": sku, "qty": 1, "status": "received"}, "sku"),
    }
    for path, (send, body, field) in bodies.items():
        answer = send("POST", path, body) if send else shop.signed("s1", path, body)
        assert answer.status == 400, (path, answer)
        assert answer.error["code"] == "invalid_request"
        assert {"field": field, "problem": SKU_RULE} in answer.error["details"], answer.error
    encoded = quote(sku, safe="", errors="surrogatepass")
    for method, path, body in (("PUT", f"/v1/sellers/s1/skus/{encoded}", {"vendor_id": "v1"}),
                               ("GET", f"/v1/sellers/s1/skus/{encoded}", None),
                               ("GET", f"/v1/sellers/s1/skus/{encoded}/stock", None)):
        answer = shop.admin(method, path, body)
        assert answer.status == 404 and answer.error["code"] == "not_found", (method, path, answer)
    assert snapshot() == before


def test_an_encoded_slash_in_an_id_is_still_a_404(shop):
    shop.map_sku("s1", "A", "v1")
    shop.order("s1", "o1", ("A", 1))
    shop.drain()
    for method, path in (("GET", "/v1/sellers/s1%2Fx/skus/A/stock"), ("GET", "/v1/sellers/s1/orders/o1%2Fx"),
                         ("GET", "/v1/sellers/s1%2Fskus%2FA/stock"), ("PUT", "/v1/sellers/s1%2Fx/skus/A")):
        answer = shop.admin(method, path, {"vendor_id": "v1"} if method == "PUT" else None)
        assert answer.status == 404 and answer.error["code"] == "not_found", (method, path, answer)
    # while the same `%2F` in a SKU segment is part of the SKU
    assert shop.map_sku("s1", "A%2Fx", "v1").body["sku"] == "A/x"
