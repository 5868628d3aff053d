"""The embedded AWS: moto in server mode, in this process, on a free loopback port.

moto takes no locks, so two requests handled at once by its threaded server are not
isolated from each other (a conditional write can pass a check another request is
about to invalidate). DynamoDB gives every single request atomicity, and the domain's
concurrency guarantees rest on exactly that. So every request to the embedded AWS is
served under one lock, whichever client sent it (handlers, pumps, a person's aws CLI).
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterable

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from backorders_local import moto_fixes

log = logging.getLogger("backorders.local")

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

    `on_request(environ, body)` is called after each request, outside the lock, with the
    request's body.
    """

    def __init__(self, app: Callable, lock: threading.Lock | None = None, on_request: Callable | None = None):
        self.app = app
        self.lock = lock or threading.Lock()
        self.on_request = on_request

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = _read_body(environ)
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()
        if self.on_request is not None:
            self.on_request(environ, request)
        return [body]


def _read_body(environ: dict) -> bytes:
    """The request's body, read whole; the app reads it again from memory."""
    stream = environ["wsgi.input"]
    if isinstance(stream, io.BytesIO):  # read whole already (_KeepAliveHandler)
        return stream.getvalue()
    if environ.get("wsgi.input_terminated"):  # chunked: read to its end
        body = stream.read()
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:  # moto answers that; nothing is read here
            return b""
        body = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


# Reads: they change nothing either, so they wake no pump. Waking every pump on each read
# had the pumps' polls queue in front of the next request (40 ms a request, idle).
_READS = frozenset(
    f"DynamoDB_20120810.{op}"
    for op in ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables")
)
_POLLS_AND_READS = _POLLS | _READS


_TABLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_QUEUE_SENDS = frozenset({"SendMessage", "SendMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"})
EVERYTHING = None  # what `changed` answers when a request may have changed anything


def changed(environ: dict, body: bytes) -> frozenset[str] | None:
    """What a request changed that a pump may be waiting for: `table:<name>` (a write,
    so its stream has records), `queue:<name>` (a message sent) and `events` (an event
    put, so the rules' queues have messages). Empty when it certainly changed nothing;
    EVERYTHING when it cannot tell (anything else, say a person's aws CLI)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target in _POLLS_AND_READS or environ.get("PATH_INFO", "").startswith("/moto-api/recorder/"):
        return frozenset()
    service, _, op = target.partition(".")
    try:
        if service == "DynamoDB_20120810" and op in _TABLE_WRITES:
            return frozenset({_table(json.loads(body)["TableName"])})
        if service == "DynamoDB_20120810" and op == "TransactWriteItems":
            return frozenset(_table(write["TableName"]) for item in json.loads(body)["TransactItems"] for write in item.values())
        if service == "DynamoDB_20120810" and op == "BatchWriteItem":
            return frozenset(_table(name) for name in json.loads(body)["RequestItems"])
        if service == "AmazonSQS" and op in ("DeleteMessage", "DeleteMessageBatch"):
            return frozenset()
        if service == "AmazonSQS" and op in _QUEUE_SENDS:
            return frozenset({"queue:" + json.loads(body)["QueueUrl"].rsplit("/", 1)[-1]})
        if service == "AWSEvents" and op == "PutEvents":
            return frozenset({"events"})
    except (ValueError, KeyError, TypeError, AttributeError):
        pass  # malformed: moto answered it; wake everything, as for any request not known here
    return EVERYTHING


def _table(name: str) -> str:
    return "table:" + name.rsplit("/", 1)[-1]  # a table's name, or its ARN (arn:...:table/NAME)


class _KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, keeping connections open between requests.

    werkzeug's development server closes every connection after one answer (it cannot
    tell where an unread request body ends). An SDK client then opens a connection, and
    the server a thread, for every call: about 40 an order here, a fifth of the process's
    time. A request whose body has a length (what the SDKs send) is answered
    here, its body read whole and the answer sent with its length; anything else takes
    werkzeug's way and its connection is closed."""

    protocol_version = "HTTP/1.1"
    # the head and body are written apart: with Nagle's algorithm the body would wait for
    # the client's delayed ACK, 40 ms a call
    disable_nagle_algorithm = True

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding") or self.headers.get("Expect") or not length.isdigit():
            self.close_connection = True
            super().run_wsgi()
            return
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(length)))
        answer: list = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            answer[:] = [status, headers]
            return chunks.append

        chunks: list[bytes] = []
        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()
        except Exception:
            log.exception("the embedded AWS failed on %s %s", self.command, self.path)
            answer[:] = []
        if not answer:  # failed, or never answered
            answer[:] = ["500 INTERNAL SERVER ERROR", []]
            chunks[:] = []
            self.close_connection = True
        body = b"".join(chunks)
        code, _, reason = answer[0].partition(" ")
        self.send_response(int(code), reason)
        for name, value in answer[1]:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class EmbeddedAws(ThreadedMotoServer):
    """moto's threaded server with every request serialised (see the module docstring).

    `on_change(what)` is called after each request that may have changed something
    (anything but reads and the pumps' own polling), with what it changed (`changed`),
    so the idle pumps waiting for it can be woken at once.
    """

    def __init__(self, on_change: Callable[[frozenset[str] | None], None] | None = None, port: int = 0, lock=None):
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        moto_fixes.apply()  # refused transactions must not cut the streams off
        self.lock = lock or threading.Lock()  # tests may pass a do-nothing lock, to compare
        self.on_change = on_change
        self.requests = 0
        # werkzeug logs every request at INFO on its own handler unless told otherwise
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    def _request_done(self, environ: dict, body: bytes) -> None:
        self.requests += 1
        if self.on_change is not None:
            what = changed(environ, body)
            if what is EVERYTHING or what:
                self.on_change(what)

    def backend_app(self) -> Callable:
        """moto's WSGI app (what ThreadedMotoServer serves)."""
        return DomainDispatcherApplication(create_backend_app)

    def _server_entry(self) -> None:  # ThreadedMotoServer's, with the app wrapped
        app = Serialised(self.backend_app(), self.lock, self._request_done)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=_KeepAliveHandler)
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
