"""The local runtime's faster moto value helpers give exactly moto's own answers."""

from decimal import Decimal

from moto.dynamodb.models.dynamo_type import DynamoType

from backorders_local import moto_fixes

VALUES = [
    {"S": "line-ü-1"},
    {"N": "12.50"},
    {"BOOL": True},
    {"NULL": True},
    {"B": b"\x00\x01raw"},
    {"SS": ["a", "bé"]},
    {"NS": ["1", "22"]},
    {"BS": [b"x", b"yz"]},
    {"L": [{"S": "x"}, {"N": "3"}, {"L": []}, {"M": {"q": {"N": "1"}}}]},
    {
        "M": {
            "lines": {"L": [{"M": {"line_id": {"S": "l1"}, "qty": {"N": "5"}, "skus": {"SS": ["A"]}}}]},
            "blob": {"B": b"\xff"},
            "empty": {"M": {}},
            "flag": {"BOOL": False},
        }
    },
]


def test_size_and_regular_json_match_motos_own():
    for raw in VALUES:
        ours, theirs = DynamoType(raw), DynamoType(raw)
        assert moto_fixes._size(ours) == moto_fixes._moto_size(theirs), raw
        assert moto_fixes._regular_json(ours) == moto_fixes._to_regular_json(theirs), raw


def test_a_read_value_shares_nothing_with_the_stored_item():
    stored = DynamoType({"M": {"lines": {"L": [{"M": {"qty": {"N": "5"}}}]}}})
    answer = moto_fixes._regular_json(stored)
    answer["M"]["lines"]["L"][0]["M"]["qty"]["N"] = "999"
    answer["M"]["lines"]["L"].append({"N": str(Decimal(1))})
    assert stored.to_json() == DynamoType({"M": {"lines": {"L": [{"M": {"qty": {"N": "5"}}}]}}}).to_json()
