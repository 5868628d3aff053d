"""`backorders local`: the whole system on one machine.

    backorders local [--port 8080] [--admin-token TOKEN] [--no-walkthrough] [--verbose]

Starts the embedded AWS (moto, in this process), creates the topology's resources in
it, serves the HTTP API on 127.0.0.1:PORT and pumps stream records and rule events into
the handlers. Serves until SIGINT or SIGTERM, then stops cleanly (exit status 0).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import signal
import sys
import threading
import warnings

ADMIN_TOKEN_ENV = "BACKORDERS_ADMIN_TOKEN"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backorders", description="Backorders: run it on this machine.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local = sub.add_parser(
        "local",
        help="run the whole system locally (embedded AWS, HTTP API, pumps)",
        description="Run the whole system locally: an embedded AWS (moto) with the topology's tables, "
        "streams, bus and queues; the HTTP API on 127.0.0.1:PORT; stream records and bus events "
        "pumped into the same handlers, in the shapes Lambda delivers. Stop with Ctrl-C (or SIGTERM).",
    )
    local.add_argument("--port", type=int, default=8080, help="HTTP port on 127.0.0.1 (default 8080; 0 = any free port)")
    local.add_argument(
        "--admin-token",
        default=None,
        help=f"the ops admin bearer token (default: ${ADMIN_TOKEN_ENV}, else a generated one, printed)",
    )
    local.add_argument("--no-walkthrough", action="store_true", help="do not walk through the seed scenario at start")
    local.add_argument("--verbose", "-v", action="store_true", help="show each request, handler logs and metrics")
    reconcile = sub.add_parser(
        "reconcile",
        help="find stuck work and complete it, once",
        description="Run the reconciler once: orders never assigned, shortfalls with neither PO nor reason, "
        "goods received and never assigned, free stock while orders wait, dead-lettered events. "
        "Against `backorders local`, pass its embedded AWS URL with --endpoint; without it, the AWS "
        "your environment points to (table names from ACCOUNTS_TABLE, INVENTORY_TABLE, ORDERS_TABLE, "
        "PURCHASING_TABLE, dead-letter queues from DEAD_LETTER_QUEUE_URLS).",
    )
    reconcile.add_argument("--endpoint", help="the embedded AWS URL that `backorders local` prints")
    reconcile.add_argument(
        "--older-than-minutes", type=float, default=15.0, help="work younger than this is not stuck yet (default 15)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "local":
        return local(args)
    if args.command == "reconcile":
        return reconcile(args)
    return 2  # pragma: no cover - argparse refuses unknown commands


def reconcile(args: argparse.Namespace) -> int:
    import json

    from backorders import topology

    os.environ[topology.RECONCILE_AFTER_ENV_VAR] = str(args.older_than_minutes)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", topology.METRICS_NAMESPACE)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    if args.endpoint:
        import boto3

        from backorders_local import provision

        os.environ.update(provision.environment())
        os.environ.update(
            AWS_ENDPOINT_URL=args.endpoint,
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
        )
        sqs = boto3.client("sqs")
        dlqs = [
            sqs.get_queue_url(QueueName=name)["QueueUrl"]
            for fn in topology.FUNCTIONS
            if fn.rule
            for name in provision.rule_queue_names(fn.rule)[1:]  # the DLQ and the on-failure queue
        ]
        os.environ[topology.DEAD_LETTER_QUEUES_ENV_VAR] = json.dumps(dlqs)
    from backorders_local import functions, shapes

    handler = functions.load(topology.RECONCILE)
    out = handler(shapes.scheduled_event("reconcile-once", detail={"sweep": "all"}), functions.context_for(topology.RECONCILE))
    repairs = out["repairs"]
    print("nothing was stuck" if not repairs else "\n".join(f"{kind}: {n}" for kind, n in sorted(repairs.items())))
    return 0


def local(args: argparse.Namespace) -> int:
    with contextlib.suppress(AttributeError):  # a replaced stdout cannot be reconfigured
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or ""
    generated = not token
    token = token or secrets.token_urlsafe(24)

    # Signals first: a Ctrl-C during start-up still stops cleanly.
    stop = threading.Event()
    signals = {"count": 0}

    def on_signal(signum: int, _frame) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            print("\nStopping now.", file=sys.stderr, flush=True)
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    from backorders_local import walkthrough
    from backorders_local.runtime import Runtime, StartError

    print("Starting the embedded AWS and the local runtime...", flush=True)
    runtime = Runtime(port=args.port, admin_token=token, verbose=args.verbose)
    runtime.stopping = stop  # one event: a signal stops the walk-through and the pumps alike
    try:
        runtime.start()
    except StartError as e:
        print(f"backorders local: {e}", file=sys.stderr)
        return 1
    try:
        demo = None
        if not args.no_walkthrough and not stop.is_set():
            client = walkthrough.Client(runtime.url, token, stopping=stop)
            try:
                demo = walkthrough.walk(client, runtime.say)
            except walkthrough.WalkthroughFailed as e:
                if not stop.is_set():
                    print(f"The walk-through did not complete: {e}", file=sys.stderr, flush=True)
        if not stop.is_set():
            assert runtime.aws is not None
            for line in walkthrough.banner(runtime.url, token, runtime.aws.url, demo, generated):
                runtime.say(line)
        while not stop.wait(1.0):
            pass
    finally:
        print("\nStopping...", flush=True)
        clean = runtime.stop()
    if not clean:
        print("Some work was still running when the runtime stopped.", file=sys.stderr, flush=True)
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
