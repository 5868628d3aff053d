"""`backorders local` without --no-walkthrough walks the seed scenario against itself."""

from __future__ import annotations

import requests

from tests.e2e.local import LocalProcess


def test_the_walkthrough_ends_in_a_ready_order_then_serves():
    # given the runtime started as a newcomer would (no token: one is generated)
    process = LocalProcess("--port", "0")
    try:
        # when it says it is serving
        serving = process.wait_for(r"Serving on (http://127\.0\.0\.1:\d+)")
        output = process.output()

        # then it walked the chain, step by step, to a ready order
        assert "order o-1001: 5 x SKU-DEMO posted by the marketplace -> 201 received" in output
        assert "order o-1001: 3 assigned, 2 pending; PO po-" in output
        assert "4 assigned, 1 pending; PO partially_received" in output
        assert "order o-1001: 5 assigned, ready; PO received" in output
        # and printed what a person needs to carry on
        token = process.wait_for(r"admin token\s+(\S+)").group(1)
        seller_key = process.wait_for(r"seller s-demo\s+api key\s+(\S+)").group(1)
        assert process.wait_for(r"webhook secret\s+(whsec_\S+)")
        assert process.wait_for(r"vendor v-demo\s+api key\s+(vk\.\S+)")
        assert "curl -s" in output

        # and what it printed is true, over HTTP
        url = serving.group(1)
        as_admin = requests.get(f"{url}/v1/sellers/s-demo/orders/o-1001",
                                headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert as_admin.status_code == 200 and as_admin.json()["status"] == "ready"
        as_seller = requests.get(f"{url}/v1/sellers/s-demo/purchase-orders", headers={"X-Api-Key": seller_key}, timeout=5)
        assert [po["status"] for po in as_seller.json()["items"]] == ["received"]
    finally:
        code = process.terminate()
    # and SIGTERM stops it cleanly
    assert code == 0, process.errors()
    assert process.output().rstrip().endswith("Stopped.")
    process.cleanup()
