"""The embedded AWS: moto in server mode, in this process, on a free loopback port.

moto takes no locks, so two requests handled at once by its threaded server are not
isolated from each other (a conditional write can pass a check another request is
about to invalidate). DynamoDB gives every single request atomicity, and the domain's
concurrency guarantees rest on exactly that. So every request to the embedded AWS is
served under one lock, whichever client sent it (handlers, pumps, a person's aws CLI).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from backorders_local import moto_fixes

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"

# Requests the pumps make while looking for work: they must not wake the pumps again.
_POLLS = frozenset(
    {
        "DynamoDBStreams_20120810.GetRecords",
        "DynamoDBStreams_20120810.DescribeStream",
        "DynamoDBStreams_20120810.GetShardIterator",
        "AmazonSQS.ReceiveMessage",
    }
)


class Serialised:
    """WSGI middleware: one request at a time through `app`, body included.

    `on_request(environ)` is called after each request, outside the lock.
    """

    def __init__(self, app: Callable, lock: threading.Lock | None = None, on_request: Callable | None = None):
        self.app = app
        self.lock = lock or threading.Lock()
        self.on_request = on_request

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()
        if self.on_request is not None:
            self.on_request(environ)
        return [body]


# Reads: they change nothing either, so they wake no pump. Waking every pump on each read
# had the pumps' polls queue in front of the next request (40 ms a request, idle).
_READS = frozenset(
    f"DynamoDB_20120810.{op}"
    for op in ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables")
)
_POLLS_AND_READS = _POLLS | _READS


def changes_nothing(environ: dict) -> bool:
    """Whether a request certainly changes nothing a pump could be waiting for."""
    return (
        environ.get("HTTP_X_AMZ_TARGET", "") in _POLLS_AND_READS
        or environ.get("PATH_INFO", "").startswith("/moto-api/recorder/")
    )


class _NoDelayHandler(MotoRequestHandler):
    # werkzeug writes an answer's head and body apart: with Nagle's algorithm the body
    # waits for the client's delayed ACK, 40 ms on every call an SDK makes (keep-alive).
    disable_nagle_algorithm = True


class EmbeddedAws(ThreadedMotoServer):
    """moto's threaded server with every request serialised (see the module docstring).

    `on_change` is called after each request that may have changed something (anything
    but reads and the pumps' own polling), so idle pumps can be woken at once.
    """

    def __init__(self, on_change: Callable[[], None] | None = None, port: int = 0, lock=None):
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        moto_fixes.apply()  # refused transactions must not cut the streams off
        self.lock = lock or threading.Lock()  # tests may pass a do-nothing lock, to compare
        self.on_change = on_change
        self.requests = 0
        # werkzeug logs every request at INFO on its own handler unless told otherwise
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    def _request_done(self, environ: dict) -> None:
        self.requests += 1
        if self.on_change is not None and not changes_nothing(environ):
            self.on_change()

    def backend_app(self) -> Callable:
        """moto's WSGI app (what ThreadedMotoServer serves)."""
        return DomainDispatcherApplication(create_backend_app)

    def _server_entry(self) -> None:  # ThreadedMotoServer's, with the app wrapped
        app = Serialised(self.backend_app(), self.lock, self._request_done)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=_NoDelayHandler)
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.1)  # how soon stop() is noticed

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        server = self._server
        super().stop()
        if server is not None:
            server.server_close()

    def drop_read_stream_records(self, stream_arn: str, read_up_to: int) -> int:
        """Forget a stream's records up to sequence number `read_up_to`, once every reader
        has read them (DynamoDB keeps them 24 hours; kept here, they were most of the
        memory `backorders local` grew by). How many were dropped."""
        from moto.dynamodb.models import dynamodb_backends

        _, _, _, region, account, resource = stream_arn.split(":", 5)
        table_name = resource.split("/")[1]
        with self.lock:
            table = dynamodb_backends[account][region].tables.get(table_name)
            if table is None or table.stream_shard is None:
                return 0
            return moto_fixes.drop_stream_records(table.stream_shard, read_up_to)

    # --- clients -----------------------------------------------------------------------

    def session(self):
        """A boto3 Session whose clients talk to the embedded AWS (`provision` takes one)."""
        import boto3

        return _Session(boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION), self.url)

    def environment(self) -> dict[str, str]:
        """What a process needs so that its default boto3 clients reach the embedded AWS."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


class _Session:
    """A boto3 Session with the endpoint filled in: `session.client(name)` as usual."""

    def __init__(self, session, endpoint_url: str):
        self._session = session
        self._endpoint_url = endpoint_url

    def client(self, service: str, **kwargs):
        kwargs.setdefault("endpoint_url", self._endpoint_url)
        return self._session.client(service, **kwargs)
