"""Properties of the pure rules over generated orders, bins and receipts: nothing is
created or lost, and a budgeted step never writes more than its budget, however the
work is cut into steps."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from backorders.domain import rules
from backorders.domain.models import Allocation, Order, OrderLine, PurchaseOrder, Quantity, StockBin

SKUS = ("A", "B", "C")

bins_strategy = st.lists(
    st.builds(
        StockBin,
        location=st.sampled_from(["main", "north"]),
        bin=st.sampled_from([f"b{i}" for i in range(8)] + ["default"]),
        available=st.integers(0, 5),
    ),
    max_size=12,
    unique_by=lambda b: (b.location, b.bin),
)
lines_strategy = st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 9)), min_size=1, max_size=12)


def new_lines(spec) -> list[OrderLine]:
    return [OrderLine(line_id=f"L{i}", sku=sku, qty=qty, pending_qty=qty) for i, (sku, qty) in enumerate(spec)]


def bins_by_sku(bins: list[StockBin]) -> dict[str, list[StockBin]]:
    # the same bins for every SKU: each SKU has its own stock in them
    return {sku: [b.model_copy() for b in bins] for sku in SKUS}


def take_all_in_steps(lines, stock, budget, per_line):
    """Plan in budgeted steps until every line is done, taking from `stock` as a commit would."""
    steps = 0
    done = 0
    while done < len(lines):
        plan = rules.plan_assignment(lines[done:], stock, budget=budget, per_line=per_line)
        assert plan.writes + per_line * sum(1 for a, b in zip(plan.lines, lines[done:], strict=True) if a != b) <= budget
        for (sku, loc, bin_), qty in plan.takes.items():
            for b in stock[sku]:
                if (b.location, b.bin) == (loc, bin_):
                    assert qty <= b.available
                    b.available -= qty
        lines = lines[:done] + plan.lines
        done += plan.done
        steps += 1
        assert steps <= 10 * len(lines) + 10, "no progress"
    return lines


@settings(max_examples=150, deadline=None)
@given(lines_strategy, bins_strategy, st.integers(2, 20), st.sampled_from([0, 1]))
def test_assignment_in_steps_takes_what_it_assigns_and_assigns_as_much_as_at_once(spec, bins, budget, per_line):
    at_once = rules.plan_assignment(new_lines(spec), bins_by_sku(bins))
    stock = bins_by_sku(bins)
    lines = take_all_in_steps(new_lines(spec), stock, budget, per_line)
    for line in lines:
        assert line.qty == line.assigned_qty + line.pending_qty
        assert line.assigned_qty == sum(a.qty for a in line.allocations)
    taken = defaultdict(int)
    for line in lines:
        taken[line.sku] += line.assigned_qty
    for sku in SKUS:
        before = sum(b.available for b in bins)
        after = sum(b.available for b in stock[sku])
        assert before - after == taken[sku]
    # cut into steps or not, the same quantity is assigned to the same lines
    assert [l.assigned_qty for l in lines] == [l.assigned_qty for l in at_once.lines]


def ordered(spec, pack: int = 1) -> tuple[Order, PurchaseOrder]:
    """An order waiting for all of its lines, and the PO raised for them (packs of `pack`)."""
    lines = [OrderLine(line_id=f"L{i}", sku=sku, qty=qty, pending_qty=qty) for i, (sku, qty) in enumerate(spec)]
    order = Order(seller_id="s1", order_id="o1", status="backordered", lines=lines, body_sha256="x", created_at="t")
    po_lines = rules.po_lines(order, list(range(len(lines))), dict.fromkeys(SKUS, (1, pack)))
    po = PurchaseOrder(
        po_id="po1", seller_id="s1", vendor_id="v1", status="approved", source_order_id="o1", vendor_order_id="vo1",
        lines=po_lines, created_at="t",
    )
    lines = [line.model_copy(update={"on_order_qty": line.pending_qty, "purchase_order_ids": ["po1"]}) for line in lines]
    return order.model_copy(update={"lines": lines}), po


def ledger_holds(po: PurchaseOrder) -> None:
    for line in po.lines:
        assert line.qty - line.received_qty == line.allocated + line.surplus_qty >= 0, line
        assert all(a.qty > 0 for a in line.allocations), line


@settings(max_examples=150, deadline=None)
@given(lines_strategy, st.dictionaries(st.sampled_from(SKUS), st.integers(1, 30), min_size=1), st.integers(2, 12), st.integers(1, 4))
def test_a_receipt_in_steps_gives_what_one_step_gives_and_never_more_than_received(spec, received, budget, pack):
    order, po = ordered(spec, pack)
    ledger_holds(po)
    on_po = {line.sku: line.qty for line in po.lines}
    grn = [Quantity(sku=sku, qty=min(qty, on_po[sku])) for sku, qty in received.items() if sku in on_po]
    if not grn:
        return
    receipt = rules.receive_goods(po, grn)
    ledger_holds(po.model_copy(update={"lines": receipt.lines}))
    for line in grn:  # every unit received is for a line (oldest first) or surplus
        shared = sum(s.qty for s in receipt.shares if s.sku == line.sku)
        assert shared + receipt.surplus.get(line.sku, 0) == line.qty
    whole = rules.assign_receipt(order, "g1", "main", "default", receipt.shares)
    given_so_far: dict[str, int] = {}
    used_total, freed = defaultdict(int), defaultdict(int)
    for _ in range(100):
        step = rules.assign_receipt(order, "g1", "main", "default", receipt.shares, given=given_so_far, budget=budget)
        touched = sum(1 for a, b in zip(step.lines, order.lines, strict=True) if a != b)
        assert touched + len(step.skus) <= budget
        for sku, qty in step.used.items():
            used_total[sku] += qty
        for sku, qty in step.surplus.items():
            freed[sku] += qty
        for line_id, qty in step.settled.items():
            given_so_far[line_id] = given_so_far.get(line_id, 0) + qty
        order = order.model_copy(update={"lines": step.lines})
        if step.complete:
            break
    else:
        raise AssertionError("the receipt never completed")
    for line in grn:  # every share goes to its line or, where the line needs no more, to free stock
        shared = sum(s.qty for s in receipt.shares if s.sku == line.sku)
        assert used_total[line.sku] + freed[line.sku] == shared
    assert [(l.assigned_qty, l.pending_qty, l.on_order_qty) for l in order.lines] == [
        (l.assigned_qty, l.pending_qty, l.on_order_qty) for l in whole.lines
    ]
    for line in order.lines:  # what is on order for a line is exactly what is still allocated to it
        assert line.on_order_qty == sum(a.qty for pl in receipt.lines for a in pl.allocations if a.line_id == line.line_id)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(SKUS), st.integers(0, 4), st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=10),
    st.integers(1, 8),
)
def test_cancelling_in_steps_gives_back_every_unit_and_cancels_every_line(spec, budget):
    lines = []
    for i, (sku, assigned, pending, bins) in enumerate(spec):
        allocations = [Allocation(location="main", bin=f"b{j}", qty=1) for j in range(assigned)] if bins else (
            [Allocation(location="main", bin="default", qty=assigned)] if assigned else []
        )
        qty = assigned + pending or 1
        lines.append(OrderLine(line_id=f"L{i}", sku=sku, qty=qty, assigned_qty=assigned, pending_qty=qty - assigned, allocations=allocations))
    order = Order(seller_id="s1", order_id="o1", status="backordered", lines=lines, body_sha256="x", created_at="t")
    held = rules.released_stock(order)
    back = defaultdict(int)
    for _ in range(200):
        step = rules.cancel_step(order, budget)
        waiting_changes = sum(1 for i, q in order.waiting().items() if step.lines[i].pending_qty != q)
        assert len(step.released) + waiting_changes <= budget
        for key, qty in step.released.items():
            back[key] += qty
        order = order.model_copy(update={"lines": step.lines})
        for line in order.lines:
            assert line.qty == line.assigned_qty + line.pending_qty + line.cancelled_qty
        if step.complete:
            break
    else:
        raise AssertionError("the cancellation never completed")
    assert dict(back) == held
    assert all(l.cancelled_qty == l.qty for l in order.lines)


def _order(order_id: str, spec) -> Order:
    lines = [OrderLine(line_id=f"L{i}", sku=sku, qty=qty, pending_qty=qty) for i, (sku, qty) in enumerate(spec)]
    return Order(seller_id="s1", order_id=order_id, status="backordered", lines=lines, body_sha256="x", created_at="t")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(lines_strategy, min_size=1, max_size=6),
    st.dictionaries(st.sampled_from(SKUS), st.tuples(st.integers(1, 12), st.integers(1, 6)), max_size=3),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 11), st.integers(0, 9)), max_size=6),
)
def test_a_window_holds_what_its_orders_wait_for_and_closes_rounded_with_the_rest_as_surplus(orders_spec, terms, cuts):
    """Orders join an open PO; some of their allocations are released and the PO cut to
    need, as a cancellation in the window does; at close every line asks for its need
    rounded to the terms it joined under, and qty = allocated + surplus throughout."""
    po = PurchaseOrder(
        po_id="po1", seller_id="s1", vendor_id="v1", status="open", source_order_id="o0", vendor_order_id="vo1",
        lines=[], created_at="t", closes_at="2026-01-01T00:00:00+00:00",
    )
    orders = [_order(f"o{i}", spec) for i, spec in enumerate(orders_spec)]
    for order in orders:
        po = rules.join_window(po, order, list(range(len(order.lines))), terms)
        ledger_holds(po)
        assert all(line.surplus_qty == 0 for line in po.lines)
    for o, line_index, qty in cuts:  # a line needs less now: its units are released and not bought
        order = orders[o % len(orders)]
        line = order.lines[line_index % len(order.lines)]
        released = rules.release(po, line.sku, order.order_id, line.line_id, qty)
        po = rules.cut_po(released, rules.po_needed(released))
        ledger_holds(po)
        assert po.status in ("open", "cancelled") and all(line.surplus_qty == 0 for line in po.lines)
    closed = rules.close_window(po, "2026-01-01T00:00:00+00:00")
    ledger_holds(closed)
    for line in closed.lines:
        minimum, pack = terms.get(line.sku, (1, 1))
        assert (line.min_order_qty, line.pack_size) == (minimum, pack)
        assert line.qty == rules.rounded_purchase(line.allocated, minimum, pack)
    assert closed.status == ("approved" if any(line.qty for line in closed.lines) else "cancelled")
