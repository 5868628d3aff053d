"""The local runtime: the embedded AWS, the HTTP API and the pumps, in one process.

    runtime = Runtime(port=8080, admin_token="...").start()
    ...                                   # serve
    runtime.stop()                        # nothing left running

Handlers run in this process, in the shapes Lambda would give them: the HTTP server
turns each request into the API Gateway event the deployed API sends, stream records
and rule events are pumped into their functions (`pumps`), all built from the topology.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from backorders import topology
from backorders.domain import security
from backorders_local import functions, provision, pumps, shapes
from backorders_local.embedded import EmbeddedAws

log = logging.getLogger("backorders.local")

SERVICE_NAME = "backorders-local"
# Idle pumps poll at FAST_POLL_S after activity, backing off to their idle period; any
# change made in the embedded AWS wakes them at once, so the back-off costs no latency.
# A stream record only ever follows a write (which wakes the stream pumps), so their
# polling is a safety net; a rule event retried after a visibility timeout comes back
# with no request to announce it, so rule pumps poll every second when idle.
FAST_POLL_S = 0.05
STREAM_IDLE_POLL_S = 5.0
RULE_IDLE_POLL_S = 1.0
RULE_RETRY_DELAY_S = 1  # SQS visibility timeouts are whole seconds
MAX_ENVIRONMENTS = 8  # concurrent invocations per HTTP function


def queue_pumps(fn: topology.Function) -> int:
    """Concurrent invocations of a queue's function here (Lambda allows its max concurrency)."""
    return min(fn.queue.max_concurrency, 4) if fn.queue else 0


def function_environment(aws: EmbeddedAws, admin_token: str, verbose: bool = False) -> dict[str, str]:
    """The environment the functions get locally (what the CDK stack sets, plus the
    embedded AWS's endpoint and dummy credentials)."""
    env = provision.environment()
    env.update(aws.environment())
    env.update(
        {
            "ADMIN_TOKEN_SHA256": security.sha256_hex(admin_token),
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": topology.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO" if verbose else "WARNING",
            # Metrics are EMF lines on stdout; shown with --verbose only.
            "POWERTOOLS_METRICS_DISABLED": "false" if verbose else "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    return env


def hermetic_aws_environment() -> None:
    """Forget the person's own AWS profile and config: nothing here may reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


class StartError(Exception):
    """The runtime cannot start; the message says why, for a person."""


# --- execution environments ----------------------------------------------------------------


class Environments:
    """Lambda's execution environments for one function.

    On Lambda each environment is a process that serves one invocation at a time, so
    a handler's module-level state (its resolver and the principal in its context,
    its batch processor, its metrics) is never shared by two invocations. Here each
    environment is a separate copy of the handler module, lent to one invocation at a
    time; more are made on demand, up to `limit` (then an invocation waits for a free
    one, as if throttled and retried).

    Not separated: powertools' Logger keeps its keys (Lambda context, correlation id)
    on the logging.Logger of the service, one per process; so with --verbose a log
    line of one invocation may carry the keys of another running at the same time.
    """

    def __init__(self, fn: topology.Function, limit: int = MAX_ENVIRONMENTS, keep_metrics: bool = False):
        self.fn = fn
        self.limit = limit
        self.keep_metrics = keep_metrics
        self._free: list[tuple[Callable, list]] = []
        self._made = 0
        self._cond = threading.Condition()

    def warm(self) -> Environments:
        with self._cond:
            if self._made == 0:
                self._made = 1
                self._free.append(self._new(0))
        return self

    def _new(self, instance: int) -> tuple[Callable, list]:
        module = functions.load_module(self.fn, instance=instance)
        return getattr(module, self.fn.handler.rsplit(".", 1)[1]), _own_metrics(module)

    def _acquire(self) -> tuple[Callable, list]:
        with self._cond:
            while not self._free and self._made >= self.limit:
                self._cond.wait()
            if self._free:
                return self._free.pop()
            instance = self._made
            self._made += 1
        try:
            return self._new(instance)
        except BaseException:
            with self._cond:
                self._made -= 1
                self._cond.notify()
            raise

    def _release(self, env: tuple[Callable, list]) -> None:
        with self._cond:
            self._free.append(env)
            self._cond.notify()

    def __call__(self, event: dict, context: object) -> dict:
        env = self._acquire()
        handler, providers = env
        try:
            with functions.invoking(self.fn.name):
                return handler(event, context)
        finally:
            if not self.keep_metrics:
                for provider in providers:  # not flushed when disabled: drop them
                    provider.metric_set.clear()
                    provider.metadata_set.clear()
            self._release(env)

    @property
    def size(self) -> int:
        return self._made


def _own_metrics(module) -> list:
    """powertools' `Metrics` keeps its metric set in class attributes, shared by every
    instance in the process (fine on Lambda: one invocation per process). Give each
    environment's instances their own sets, so concurrent invocations neither mix nor
    race on them. The `log_metrics` decorator is bound to the provider, so the
    provider's attributes are what count."""
    from aws_lambda_powertools import Metrics

    providers = []
    for value in list(vars(module).values()):
        if isinstance(value, Metrics):
            provider = value.provider
            provider.metric_set = value.metric_set = {}
            provider.metadata_set = value.metadata_set = {}
            provider.dimension_set = value.dimension_set = {}
            providers.append(provider)
    return providers


# --- pumps ---------------------------------------------------------------------------------


@dataclass
class PumpThread:
    """Runs a pump until stopped: straight on while it moves things, else waits, from
    FAST_POLL_S backing off to `idle_s`, or until woken by a change."""

    pump: pumps.StreamPump | pumps.RulePump | pumps.QueuePump
    stopping: threading.Event
    idle_s: float = RULE_IDLE_POLL_S
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    errors: int = 0
    after_pump: Callable[[], None] | None = None
    # what wakes it: `table:<name>`, `queue:<name>`, `events` (see embedded.changed)
    woken_by: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return f"pump:{self.pump.function.name}"

    def start(self) -> PumpThread:
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        delay = FAST_POLL_S
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                moved = self.pump.pump()
                if self.after_pump is not None:
                    self.after_pump()
            except Exception:
                if self.stopping.is_set():
                    return
                self.errors += 1
                log.exception("%s: pumping failed; trying again", self.name)
                moved = 0
            if moved:
                delay = FAST_POLL_S
                continue
            self.wake.wait(delay)
            delay = min(delay * 2, self.idle_s)

    def join(self, timeout: float) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True


@dataclass
class ScheduleThread:
    """Invokes a scheduled function every `every_s` seconds (the first run one period
    after start, as a rate rule does), with the Scheduled Event EventBridge sends; a
    failed run is tried twice more, as the rule target's retry_attempts=2 would."""

    function: topology.Function
    handler: Callable
    every_s: float
    stopping: threading.Event
    thread: threading.Thread | None = None
    runs: int = 0
    failures: int = 0

    def start(self) -> ScheduleThread:
        self.thread = threading.Thread(target=self._run, name=f"schedule:{self.function.name}", daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stopping.wait(self.every_s):
            for attempt in range(3):
                try:
                    self.handler(shapes.scheduled_event(f"{self.function.name}-schedule"), functions.context_for(self.function))
                    self.runs += 1
                    break
                except Exception:
                    log.exception("%s: scheduled run failed (attempt %d)", self.function.name, attempt + 1)
                    if self.stopping.wait(1.0):
                        return
            else:
                self.failures += 1

    def join(self, timeout: float) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True


# --- HTTP ----------------------------------------------------------------------------------


class ApiServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's 5 resets a burst of concurrent clients

    def __init__(self, address: tuple[str, int], runtime: Runtime):
        self.runtime = runtime
        super().__init__(address, ApiRequestHandler)


class ApiRequestHandler(http.server.BaseHTTPRequestHandler):
    """One HTTP request -> the API Gateway (REST, Lambda proxy) event -> the route's
    function -> its answer back into HTTP."""

    server: ApiServer
    protocol_version = "HTTP/1.1"
    server_version = "backorders-local"
    timeout = 30  # an idle keep-alive connection is closed after this
    # The head and the body go out in two writes: with Nagle's algorithm the body waits for
    # the client's delayed ACK of the head, 40 ms on every keep-alive request.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        runtime = self.server.runtime
        started = time.monotonic()
        split = urlsplit(self.path)
        path = split.path or "/"  # still encoded: the route table decodes each segment
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = dict(self.headers.items())
        if runtime.stopping.is_set():
            self.close_connection = True
        status, out_headers, out_body = runtime.invoke_http(self.command, path, headers, body, split.query)
        self.send_response(status)
        for name, value in out_headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(out_body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out_body)
        if runtime.verbose:
            runtime.say(f"  {self.command} {self.path} -> {status} ({(time.monotonic() - started) * 1000:.0f} ms)")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args) -> None:
        pass  # verbose mode prints its own short line


def http_answer(out: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda proxy integration answer as API Gateway turns it into HTTP."""
    status = int(out.get("statusCode", 200))
    headers: list[tuple[str, str]] = []
    multi = out.get("multiValueHeaders") or {}
    for name, value in (out.get("headers") or {}).items():
        if name not in multi:
            headers.append((name, str(value)))
    for name, values in multi.items():
        headers.extend((name, str(v)) for v in values)
    body = out.get("body") or ""
    data = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode()
    return status, headers, data


def _error(status: int, code: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
    return status, [("Content-Type", "application/json")], body


# --- the runtime ---------------------------------------------------------------------------


class Runtime:
    def __init__(self, port: int = 8080, admin_token: str = "", verbose: bool = False, out=None):
        self.port = port
        self.admin_token = admin_token
        self.verbose = verbose
        self.out = out or sys.stdout
        self.stopping = threading.Event()
        self.aws: EmbeddedAws | None = None
        self.resources: provision.Resources | None = None
        self.environments: dict[str, Environments] = {}
        self.pump_threads: list[PumpThread] = []
        self.schedules: list[ScheduleThread] = []
        self.httpd: ApiServer | None = None
        self._http_thread: threading.Thread | None = None
        self._inflight = 0
        self._inflight_cond = threading.Condition()
        self._say_lock = threading.Lock()
        self._streams_lock = threading.Lock()
        self._streams_dropped_up_to: dict[str, int] = {}

    def say(self, line: str) -> None:
        """One line on the console (whole, even when several threads speak at once)."""
        with self._say_lock:
            self.out.write(line + "\n")
            self.out.flush()

    @property
    def url(self) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- start ------------------------------------------------------------------------

    def start(self) -> Runtime:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        missing = [str(functions.handler_path(fn)) for fn in topology.FUNCTIONS if not functions.handler_path(fn).is_file()]
        if missing:
            raise StartError(f"the topology declares functions whose handler is missing: {', '.join(missing)}")
        # The HTTP port first: if it is taken, fail before anything else starts.
        try:
            self.httpd = ApiServer(("127.0.0.1", self.port), self)
        except OSError as e:
            raise StartError(f"cannot serve on 127.0.0.1:{self.port}: {e.strerror or e} (choose another --port)") from None

        self.aws = EmbeddedAws(on_change=self._wake_pumps)
        self.aws.start()
        hermetic_aws_environment()
        # Before any handler (or boto3 client) exists: they read it once.
        os.environ.update(function_environment(self.aws, self.admin_token, self.verbose))
        self.resources = provision.provision(self.aws.session())
        for q in topology.QUEUES:
            os.environ[q.env_var] = self.resources.queue_urls[q.name]
        if any(fn.replays_dead_letters for fn in topology.FUNCTIONS):
            # what the stack gives such a function: the rules' dead-letter and on-failure queues
            urls = [url for rq in self.resources.rules for url in rq.dead_letter_urls]
            os.environ[topology.DEAD_LETTER_QUEUES_ENV_VAR] = json.dumps(urls)

        # The domain makes its clients lazily and caches them; make them here, in one
        # thread (creating boto3 clients concurrently from the default session races).
        from backorders.adapters import dynamo, events

        dynamo.client()
        events.client()

        for fn in topology.FUNCTIONS:
            # a pump or schedule invokes one at a time; a queue runs as many pumps as it may
            limit = MAX_ENVIRONMENTS if fn.routes else queue_pumps(fn) if fn.queue else 1
            self.environments[fn.name] = Environments(fn, limit=limit, keep_metrics=self.verbose).warm()

        session = self.aws.session()
        for fn in topology.FUNCTIONS:
            if fn.stream:
                stream_pump = pumps.StreamPump(
                    fn,
                    self.environments[fn.name],
                    self.resources.stream_arns[fn.stream.table.name],
                    session.client("dynamodbstreams"),
                    session.client("sqs"),
                    self.resources.on_failure_queue_urls[fn.name],
                    refresh_shards_every_s=5.0,
                )
                self.pump_threads.append(
                    PumpThread(stream_pump, self.stopping, idle_s=STREAM_IDLE_POLL_S, after_pump=self._drop_read_stream_records,
                               woken_by=frozenset({f"table:{fn.stream.table.name}"}))
                )
        for rq in self.resources.rules:
            pump = pumps.RulePump(
                rq.function,
                self.environments[rq.function.name],
                session.client("sqs"),
                rq.queue_url,
                rq.handler_failures_url,
                wait_s=0,  # no long polling: it would hold the embedded AWS's one lock
                retry_delay_s=RULE_RETRY_DELAY_S,
            )
            woken_by = frozenset({"events", "queue:" + rq.queue_url.rsplit("/", 1)[-1]})
            self.pump_threads.append(PumpThread(pump, self.stopping, idle_s=RULE_IDLE_POLL_S, woken_by=woken_by))
        for fn in topology.FUNCTIONS:
            if fn.queue:
                for _ in range(queue_pumps(fn)):  # a slow receiver holds up one of them, not the rest
                    sender = pumps.QueuePump(fn, self.environments[fn.name], session.client("sqs"), self.resources.queue_urls[fn.queue.name])
                    woken_by = frozenset({"queue:" + self.resources.queue_urls[fn.queue.name].rsplit("/", 1)[-1]})
                    self.pump_threads.append(PumpThread(sender, self.stopping, idle_s=RULE_IDLE_POLL_S, woken_by=woken_by))
        for pt in self.pump_threads:
            pt.start()
        for fn in topology.FUNCTIONS:
            if fn.schedule_minutes:
                self.schedules.append(
                    ScheduleThread(fn, self.environments[fn.name], fn.schedule_minutes * 60.0, self.stopping).start()
                )

        self._http_thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                             name="http", daemon=True)
        self._http_thread.start()

    def _drop_read_stream_records(self) -> None:
        """Forget the stream records every pump of their stream has read: kept, they
        made the process grow with every write. Nothing else here reads the streams."""
        assert self.aws is not None
        with self._streams_lock:
            readers: dict[str, list[pumps.StreamPump]] = {}
            for pt in self.pump_threads:
                if isinstance(pt.pump, pumps.StreamPump):
                    readers.setdefault(pt.pump.stream_arn, []).append(pt.pump)
            for arn, stream_pumps in readers.items():
                # one shard per stream here; a reader that has read nothing yet holds all back
                ups = [up for p in stream_pumps for up in list(p.read_up_to.values())]
                if len(ups) < len(stream_pumps) or not ups:
                    continue
                up_to = min(ups)
                if up_to > self._streams_dropped_up_to.get(arn, -1):
                    self.aws.drop_read_stream_records(arn, up_to)
                    self._streams_dropped_up_to[arn] = up_to

    def _wake_pumps(self, what: frozenset[str] | None = None) -> None:
        """Wake the pumps waiting for `what` changed (all of them when None)."""
        for pt in self.pump_threads:
            if what is None or pt.woken_by & what:
                pt.wake.set()

    # --- HTTP -------------------------------------------------------------------------

    def invoke_http(self, method: str, path: str, headers: dict[str, str], body: bytes, query: str = ""):
        event, fn = shapes.api_event(method, path, headers, body, query)
        fn = fn or topology.function("api")  # unknown paths: the api answers 404
        with self._inflight_cond:
            if self.stopping.is_set():
                return _error(503, "stopping", "the local runtime is stopping")
            self._inflight += 1
        try:
            out = self.environments[fn.name](event, functions.context_for(fn))
            return http_answer(out)
        except Exception:
            # API Gateway answers 502 when the function fails
            log.exception("%s failed on %s %s", fn.name, method, path)
            return _error(502, "internal_error", f"the {fn.name} function failed; see the runtime's log")
        finally:
            with self._inflight_cond:
                self._inflight -= 1
                self._inflight_cond.notify_all()

    # --- stop -------------------------------------------------------------------------

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop serving, let in-flight work finish, stop the pumps and the embedded AWS.
        True when everything stopped within `timeout`."""
        deadline = time.monotonic() + timeout
        clean = True
        self.stopping.set()
        if self.httpd is not None:
            if self._http_thread is not None:
                self.httpd.shutdown()  # no new connections
                self._http_thread.join(max(0.0, deadline - time.monotonic()))
            self.httpd.server_close()
        with self._inflight_cond:
            while self._inflight and time.monotonic() < deadline:
                self._inflight_cond.wait(deadline - time.monotonic())
            clean = clean and not self._inflight
        self._wake_pumps()
        threads: list[PumpThread | ScheduleThread] = [*self.pump_threads, *self.schedules]
        for pt in threads:
            clean = pt.join(max(0.0, deadline - time.monotonic())) and clean
        if self.aws is not None and self.aws._thread is not None:
            self.aws.stop()
        return clean

    # --- what the pumps did -----------------------------------------------------------

    def stats(self) -> dict:
        out: dict[str, dict[str, int]] = {}
        for pt in self.pump_threads:
            p = pt.pump
            seen = out.setdefault(p.function.name, {"delivered": 0, "parked": 0, "errors": 0})
            seen["delivered"] += p.delivered
            seen["parked"] += p.failed_to_destination
            seen["errors"] += pt.errors
        return out
