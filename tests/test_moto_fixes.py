"""The local runtime's fixes to moto: its faster value helpers give exactly moto's own
answers, and it keeps no object it no longer needs."""

import gc
import weakref
from decimal import Decimal

import boto3
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType, Item

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


def test_items_read_and_deleted_are_freed():
    """moto keeps every model object it makes for its dashboard; `backorders local` grew
    by every item it ever read or wrote. With the fixes, a deleted item leaves nothing."""
    moto_fixes.apply()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        made: list[weakref.ref] = []
        new = Item.__init__

        def watched(self, *args, **kwargs):
            made.append(weakref.ref(self))
            new(self, *args, **kwargs)

        Item.__init__ = watched  # type: ignore[method-assign]
        try:
            for i in range(20):
                ddb.put_item(TableName="t", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
                ddb.get_item(TableName="t", Key={"pk": {"S": f"k{i}"}}, ProjectionExpression="v")
                ddb.delete_item(TableName="t", Key={"pk": {"S": f"k{i}"}})
        finally:
            Item.__init__ = new  # type: ignore[method-assign]
        gc.collect()
        # what stays is the stream's copy of each change, as DynamoDB keeps it (24 hours)
        assert made and not [ref for ref in made if ref() is not None]


def test_a_query_on_a_sort_key_prefix_finds_what_dynamodb_finds():
    moto_fixes.apply()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        for pk, sk in [("p", "BIN#b"), ("p", "BINX"), ("p", "BIN#a"), ("p", "SUMMARY"), ("p", "WAIT#1"), ("q", "BIN#c")]:
            ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk}})

        def query(**kwargs) -> tuple[list[str], dict | None]:
            out = ddb.query(TableName="t", KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                            ExpressionAttributeValues={":p": {"S": "p"}, ":s": {"S": "BIN#"}}, **kwargs)
            return [i["sk"]["S"] for i in out["Items"]], out.get("LastEvaluatedKey")

        assert query() == (["BIN#a", "BIN#b"], None)
        assert query(ScanIndexForward=False) == (["BIN#b", "BIN#a"], None)
        first, after = query(Limit=1)
        assert first == ["BIN#a"] and after == {"pk": {"S": "p"}, "sk": {"S": "BIN#a"}}
        assert query(Limit=1, ExclusiveStartKey=after)[0] == ["BIN#b"]
