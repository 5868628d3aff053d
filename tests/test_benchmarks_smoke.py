"""The benchmarks run and report every figure (their values are never asserted here:
benchmarks are not timed tests).

Marked `benchmark`, so the default run leaves it out (about 30 s, a subprocess that runs
the benchmark itself): `scripts/dev test -m benchmark` runs it."""

from __future__ import annotations

import json
import numbers
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

ROOT = Path(__file__).resolve().parents[1]

FIELDS = (
    "wru_per_backordered_line",
    "rru_per_backordered_line",
    "aws_calls_per_backordered_line",
    "wru_per_backordered_line_window_5",
    "wru_per_instock_line",
    "usd_per_million_backordered_lines",
    "cold_start_ratio_max",
    "cold_start_libraries_ratio_min",
    "cold_start_ours_ratio_max",
    "e2e_orders_per_s",
    "e2e_p50_ms",
    "e2e_p95_ms",
    "e2e_latency_growth",
    "e2e_rss_growth",
    "e2e_stop_s",
    "our_cpu_share",
    "stream_batch_reads_per_record_ratio",
    "reconcile_rru_growth",
    "reconcile_rru_per_waiting_order_day",
    "reconcile_rru_per_waiting_order_day_every_pass",
    "hot_sku_throughput_factor_8_shards",
)


def test_run_py_emits_every_figure_as_a_number():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "ADMIN_TOKEN"))}
    out = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--smoke", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,  # only against a hang: it is slow under load
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    for name in FIELDS:
        assert name in result, name
        assert isinstance(result[name], numbers.Real) and not isinstance(result[name], bool), (name, result[name])
    # the per-stage breakdown covers the whole chain of a backordered line
    # (the handover gives the goods: on_goods_received runs for GRNs left to the stream, as in the batches)
    assert set(result["stages_backordered"]) >= {"webhook", "on_order_created", "create_po", "handover"}
    assert set(result["stream_batches"]["per_function"]) == {"on_order_created", "on_goods_received"}
    # every function's cold start is measured, and every price is stated with its source
    from backorders import topology

    assert set(result["cold_start"]["bytecode"]["functions"]) == {fn.name for fn in topology.FUNCTIONS}
    assert set(result["prices"]) == set(result["price_sources"])
    assert set(result["targets"]) >= {
        "wru_per_backordered_line", "usd_per_million_backordered_lines", "cold_start_ratio_max", "our_cpu_share", "reconcile_rru_growth"
    }
