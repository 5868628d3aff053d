"""End to end over HTTP: `backorders local` as a subprocess (as a person starts it), N
orders posted from a small thread pool, half of them short.

Each worker posts an order and waits until it has settled before posting the next
(closed loop, `workers` orders in flight). An order has settled when it is `ready` (in
stock) or, short, `backordered` with its line's purchase order raised. Latency runs from
just before the POST to the poll that first sees it settled; one watcher polls every
POLL_S for all orders in flight at once, with one BatchGetItem on the embedded AWS's
orders table (the URL `backorders local` prints), so that waiting does not itself load
the API with a GET per order. Throughput: orders over the wall time from the first POST
to the last order settled.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

POLL_S = 0.02
SETTLE_S = 60.0
STOP_S = 120.0  # after a load, SIGTERM lets the pumps finish what they hold first


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(orders: int = 200, workers: int = 8) -> dict:
    import boto3

    from tests.e2e.local import Api, LocalProcess, unique

    token = secrets.token_urlsafe(16)
    process = LocalProcess("--no-walkthrough", "--port", "0", f"--admin-token={token}")
    started_at = time.perf_counter()
    try:
        serving = process.wait_for(r"Serving on (http://127\.0\.0\.1:\d+)")
        aws = process.wait_for(r"embedded AWS\s+(http://127\.0\.0\.1:\d+)")
        startup_s = time.perf_counter() - started_at
        api = Api(serving.group(1), token, aws.group(1))
        seller, vendor = unique("s"), unique("v")
        sku_in, sku_short = unique("IN"), unique("SHORT")
        api.seller(seller)
        api.vendor(vendor)
        api.map_sku(seller, sku_in, vendor)
        api.map_sku(seller, sku_short, vendor)
        api.stock(seller, sku_in, orders)  # enough for every in-stock order, never for a short one
        ddb = boto3.client(
            "dynamodb", endpoint_url=api.aws_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        watcher = _Watcher(ddb, seller)
        watcher.start()
        early = early_orders(orders)
        memory = _Rss(process.proc.pid, early)

        def one(i: int) -> tuple[float, bool, int]:
            short = i % 2 == 0
            order_id = f"o-{i}"
            t0 = time.perf_counter()
            waiter = watcher.expect(order_id, short)
            answer = api.order(seller, order_id, (sku_short, 2) if short else (sku_in, 1))
            if answer.status != 201:
                watcher.forget(order_id)
                return time.perf_counter() - t0, short, answer.status
            if not waiter.wait(SETTLE_S):
                return time.perf_counter() - t0, short, 0  # not settled in time
            memory.settled(len(watcher.settled_at))
            return watcher.settled_at[order_id] - t0, short, 201

        t_start = time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(one, range(orders)))
        finally:
            watcher.stop()
        wall = max(watcher.settled_at.values(), default=time.perf_counter()) - t_start
        rss_end = memory.now()
    finally:
        stopping = time.perf_counter()
        try:
            code = process.terminate(timeout=STOP_S)
        except AssertionError:  # killed after STOP_S: reported, not fatal to the benchmark
            code = -9
        stop_s = time.perf_counter() - stopping
        output, errors = process.output(), process.errors()
        process.cleanup()
    settled = [r for r in results if r[2] == 201]
    failed = len(results) - len(settled)
    if failed:
        raise RuntimeError(f"{failed} of {orders} orders did not settle (exit {code})\n{output[-2000:]}\n{errors[-2000:]}")
    latencies = [r[0] * 1000 for r in settled]
    # the first orders posted against the last: does an order take longer as data grows?
    first = statistics.median(r[0] * 1000 for r in results[:early])
    last = statistics.median(r[0] * 1000 for r in results[-early:])
    short = [r[0] * 1000 for r in settled if r[1]]
    instock = [r[0] * 1000 for r in settled if not r[1]]
    # Throughput of the first and the second half of the orders (by the time they settled):
    # the embedded AWS slows down as its tables and streams grow (see `cpu_share`).
    ends = sorted(watcher.settled_at.values())
    half = len(ends) // 2
    first_half = half / (ends[half - 1] - t_start) if half else 0.0
    second_half = (len(ends) - half) / (ends[-1] - ends[half - 1]) if half and ends[-1] > ends[half - 1] else 0.0
    return {
        "e2e_orders_per_s": round(orders / wall, 2),
        "e2e_orders_per_s_first_half": round(first_half, 2),
        "e2e_orders_per_s_second_half": round(second_half, 2),
        "e2e_p50_ms": round(statistics.median(latencies), 1),
        "e2e_p95_ms": round(_percentile(latencies, 0.95), 1),
        "e2e_p50_ms_in_stock": round(statistics.median(instock), 1) if instock else 0.0,
        "e2e_p50_ms_short": round(statistics.median(short), 1) if short else 0.0,
        "e2e_orders": orders,
        "e2e_workers": workers,
        "e2e_wall_s": round(wall, 2),
        "e2e_startup_s": round(startup_s, 2),
        "e2e_polls": watcher.polls,
        "e2e_exit_status": code,
        "e2e_stop_s": round(stop_s, 2),
        "e2e_p50_ms_first": round(first, 1),
        "e2e_p50_ms_last": round(last, 1),
        "e2e_latency_growth": round(last / first, 2),
        # the process's resident memory once the first orders had settled, and at the end
        "e2e_early_orders": early,
        "e2e_rss_mb_early": memory.early,
        "e2e_rss_mb_end": rss_end,
        "e2e_rss_growth": round(rss_end / memory.early, 2) if rss_end and memory.early else None,
    }


def early_orders(orders: int) -> int:
    """How many orders count as the first (and the last): 100, or a tenth of a short run."""
    return max(1, min(100, orders // 10))


class _Rss:
    """The resident memory of `backorders local` (Linux /proc), read once `early` orders settled."""

    def __init__(self, pid: int, early: int):
        self.pid = pid
        self.early_orders = early
        self.early: float | None = None

    def now(self) -> float | None:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            return None
        return round(kib / 1024, 1)

    def settled(self, count: int) -> None:
        if self.early is None and count >= self.early_orders:
            self.early = self.now()


class _Watcher:
    """Polls the orders in flight, all at once, and wakes each order's worker."""

    def __init__(self, ddb, seller: str):
        self.ddb = ddb
        self.seller = seller
        self.lock = threading.Lock()
        self.waiting: dict[str, tuple[bool, threading.Event]] = {}
        self.settled_at: dict[str, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="e2e-watcher", daemon=True)
        self.polls = 0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)

    def expect(self, order_id: str, short: bool) -> threading.Event:
        event = threading.Event()
        with self.lock:
            self.waiting[order_id] = (short, event)
        return event

    def forget(self, order_id: str) -> None:
        with self.lock:
            self.waiting.pop(order_id, None)

    def _run(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                ids = list(self.waiting)[:100]
            if ids:
                self._poll(ids)
            self.stopping.wait(POLL_S)

    def _poll(self, ids: list[str]) -> None:
        keys = [{"pk": {"S": f"SELLER#{self.seller}#ORDER#{i}"}, "sk": {"S": "ORDER"}} for i in ids]
        out = self.ddb.batch_get_item(
            RequestItems={"orders": {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "order_id, #s, #l",
                                     "ExpressionAttributeNames": {"#s": "status", "#l": "lines"}}}
        )
        now = time.perf_counter()
        self.polls += 1
        for item in out.get("Responses", {}).get("orders", []):
            order_id, status = item["order_id"]["S"], item["status"]["S"]
            with self.lock:
                short, event = self.waiting.get(order_id, (None, None))
            if event is None:
                continue
            line = item["lines"]["L"][0]["M"]
            has_po = bool(line.get("purchase_order_ids", {}).get("L"))
            if (not short and status == "ready") or (short and status == "backordered" and has_po):
                with self.lock:
                    self.waiting.pop(order_id, None)
                self.settled_at[order_id] = now
                event.set()
