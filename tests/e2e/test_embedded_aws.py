"""The embedded AWS serves one request at a time, whichever client sends it, so
concurrent callers see DynamoDB's per-request atomicity (moto itself takes no locks)."""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from backorders_local.embedded import EVERYTHING, EmbeddedAws, changed


class Probe:
    """Counts how many requests are inside moto at once."""

    def __init__(self, app):
        self.app = app
        self.inside = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            time.sleep(0.002)  # widen the window a concurrent request could slip into
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.inside -= 1


class ProbedAws(EmbeddedAws):
    def backend_app(self):
        self.probe = Probe(super().backend_app())
        return self.probe

    @functools.cached_property
    def shared_session(self):
        return self.session()  # its clients are separate (own connections); making them is cheap


@contextlib.contextmanager
def embedded(lock=None):
    aws = ProbedAws(lock=lock)
    aws.start()
    try:
        yield aws
    finally:
        aws.stop()


def dynamodb(aws: ProbedAws):
    return aws.shared_session.client("dynamodb")


def new_table(aws: EmbeddedAws) -> str:
    """A table of its own (moto's state is process-wide, shared with other tests)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    dynamodb(aws).create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    return name


def hammer(aws: EmbeddedAws, threads: int = 8, each: int = 10) -> None:
    table = new_table(aws)
    clients = [dynamodb(aws) for _ in range(threads)]  # one per thread, as handlers and pumps have

    def work(n: int) -> None:
        for i in range(each):
            clients[n].put_item(TableName=table, Item={"pk": {"S": f"{n}-{i}"}})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))


def test_concurrent_clients_are_served_one_request_at_a_time():
    with embedded() as aws:
        hammer(aws)
        assert aws.probe.most == 1


def test_without_the_lock_requests_would_overlap():
    # the control: the probe does see overlap when nothing serialises the requests
    with embedded(lock=contextlib.nullcontext()) as aws:
        hammer(aws)
        assert aws.probe.most > 1


def test_conditional_writes_racing_on_one_item_never_lose_an_update():
    # given a counter that every writer bumps with a condition on the version it read
    with embedded() as aws:
        setup = dynamodb(aws)
        table = new_table(aws)
        setup.put_item(TableName=table, Item={"pk": {"S": "n"}, "version": {"N": "0"}, "bumps": {"N": "0"}})
        wins = []
        clients = [dynamodb(aws) for _ in range(8)]

        def bump(n: int) -> None:
            client = clients[n]
            for _ in range(10):
                item = client.get_item(TableName=table, Key={"pk": {"S": "n"}}, ConsistentRead=True)["Item"]
                version = item["version"]["N"]
                try:
                    client.update_item(
                        TableName=table, Key={"pk": {"S": "n"}},
                        UpdateExpression="SET version = version + :one, bumps = bumps + :one",
                        ConditionExpression="version = :v",
                        ExpressionAttributeValues={":v": {"N": version}, ":one": {"N": "1"}},
                    )
                    wins.append(version)
                except client.exceptions.ConditionalCheckFailedException:
                    pass

        # when 8 writers race
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(bump, range(8)))

        # then every accepted write was the only one for the version it read
        item = setup.get_item(TableName=table, Key={"pk": {"S": "n"}}, ConsistentRead=True)["Item"]
        assert len(wins) == len(set(wins)) == int(item["version"]["N"]) == int(item["bumps"]["N"])


def test_stream_records_every_reader_has_read_are_dropped_and_reading_goes_on():
    with embedded() as aws:
        ddb, streams = dynamodb(aws), aws.shared_session.client("dynamodbstreams")
        name = f"t-{uuid.uuid4().hex[:8]}"
        arn = ddb.create_table(
            TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

        def oldest() -> list[str]:
            it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            return [r["dynamodb"]["Keys"]["pk"]["S"] for r in streams.get_records(ShardIterator=it)["Records"]]

        for i in range(5):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        read = streams.get_records(ShardIterator=it, Limit=3)
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read["Records"]] == ["k0", "k1", "k2"]

        assert aws.drop_read_stream_records(arn, int(read["Records"][-1]["dynamodb"]["SequenceNumber"])) == 3
        assert oldest() == ["k3", "k4"]  # what is left keeps its place, for any reader
        ddb.put_item(TableName=name, Item={"pk": {"S": "k5"}})
        after = streams.get_records(ShardIterator=read["NextShardIterator"])["Records"]
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in after] == ["k3", "k4", "k5"]
        assert [int(r["dynamodb"]["SequenceNumber"]) for r in after] == [int(read["Records"][-1]["dynamodb"]["SequenceNumber"]) + n for n in (1, 2, 3)]
        assert aws.drop_read_stream_records(arn, int(read["Records"][-1]["dynamodb"]["SequenceNumber"])) == 0  # again: nothing


def test_a_client_makes_many_calls_over_one_connection():
    # werkzeug's server closed every connection after one answer: a connection, and a
    # thread, for every call the functions and pumps made
    with embedded() as aws:
        accepted = []
        server = aws._server
        original = server.process_request
        server.process_request = lambda request, address: (accepted.append(address), original(request, address))[1]
        client = dynamodb(aws)
        table = new_table(aws)
        for i in range(20):
            client.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}})
            assert client.get_item(TableName=table, Key={"pk": {"S": f"k{i}"}})["Item"]["pk"] == {"S": f"k{i}"}
        assert len(accepted) <= 2


def test_a_request_without_a_length_is_answered_and_its_connection_closed():
    with embedded() as aws:
        host, port = aws.get_host_and_port()
        conn = http.client.HTTPConnection(host, port, timeout=10)
        body = json.dumps({}).encode()
        conn.putrequest("POST", "/")
        for name, value in {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
                            "Transfer-Encoding": "chunked",
                            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
                                             "SignedHeaders=host, Signature=0"}.items():
            conn.putheader(name, value)
        conn.endheaders(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        answer = conn.getresponse()
        assert answer.status == 200 and "TableNames" in json.loads(answer.read())
        assert answer.getheader("Connection") == "close"


def test_a_request_says_what_it_changed_so_only_the_pumps_waiting_for_it_wake():
    def target(op: str) -> dict:
        return {"HTTP_X_AMZ_TARGET": op, "PATH_INFO": "/"}

    put = json.dumps({"TableName": "orders", "Item": {}}).encode()
    assert changed(target("DynamoDB_20120810.PutItem"), put) == {"table:orders"}
    transaction = json.dumps({"TransactItems": [{"Put": {"TableName": "orders"}}, {"Update": {"TableName": "arn:aws:dynamodb:us-east-1:1:table/inventory"}},
                                                {"ConditionCheck": {"TableName": "orders"}}]}).encode()
    assert changed(target("DynamoDB_20120810.TransactWriteItems"), transaction) == {"table:orders", "table:inventory"}
    assert changed(target("DynamoDB_20120810.BatchWriteItem"), json.dumps({"RequestItems": {"purchasing": []}}).encode()) == {"table:purchasing"}
    send = json.dumps({"QueueUrl": "http://127.0.0.1:1/123456789012/webhook-deliveries", "MessageBody": "{}"}).encode()
    assert changed(target("AmazonSQS.SendMessage"), send) == {"queue:webhook-deliveries"}
    assert changed(target("AWSEvents.PutEvents"), b"{}") == {"events"}
    # reads, polls and deletes change nothing a pump waits for
    for op in ("DynamoDB_20120810.GetItem", "DynamoDB_20120810.Query", "AmazonSQS.ReceiveMessage", "AmazonSQS.DeleteMessage",
               "DynamoDBStreams_20120810.GetRecords"):
        assert changed(target(op), b"{}") == frozenset(), op
    # what it cannot tell wakes everything: another request (a person's aws CLI), a body it cannot read
    assert changed(target("DynamoDB_20120810.CreateTable"), b"{}") is EVERYTHING
    assert changed({"PATH_INFO": "/bucket/key", "REQUEST_METHOD": "PUT"}, b"") is EVERYTHING
    assert changed(target("DynamoDB_20120810.PutItem"), b"not json") is EVERYTHING
    assert changed(target("DynamoDB_20120810.TransactWriteItems"), b'{"TransactItems": [{"Put": {}}]}') is EVERYTHING
