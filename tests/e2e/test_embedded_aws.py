"""The embedded AWS serves one request at a time, whichever client sends it, so
concurrent callers see DynamoDB's per-request atomicity (moto itself takes no locks)."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from backorders_local.embedded import EmbeddedAws


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
