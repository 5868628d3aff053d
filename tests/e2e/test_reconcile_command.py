"""`backorders reconcile` against a running `backorders local`."""

import subprocess
import sys


def reconcile(api, *extra: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "backorders_local.cli", "reconcile", "--endpoint", api.aws_url, *extra],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_command_repairs_free_stock_left_waiting(api):
    # given an order waiting and stock put straight into the embedded AWS, behind the chain's back
    seller, _, sku = api.setup(stock=0)
    api.map_sku(seller, sku, None)
    api.order(seller, "o-stuck", (sku, 2))
    api.settled_order(seller, "o-stuck")
    import boto3

    dynamodb = boto3.client(
        "dynamodb", endpoint_url=api.aws_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )
    dynamodb.put_item(
        TableName="inventory",
        Item={
            "pk": {"S": f"SELLER#{seller}#SKU#{sku}"}, "sk": {"S": "BIN#main#side"}, "entity": {"S": "STOCK_BIN_IMPORT"},
            "seller_id": {"S": seller}, "sku": {"S": sku}, "location": {"S": "main"}, "bin": {"S": "side"},
            "available": {"N": "2"}, "assigned": {"N": "0"}, "reserved": {"N": "0"},
        },
    )
    # when the reconciler runs once
    output = reconcile(api, "--older-than-minutes", "0")
    # then the waiting order got the stock
    assert "free_stock_assigned: 2" in output
    assert api.get_order(seller, "o-stuck")["status"] == "ready"
    assert "free_stock_assigned" not in reconcile(api, "--older-than-minutes", "0")
