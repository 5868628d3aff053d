"""The business rules, with nothing running: no AWS, no handlers."""

import pytest

from backorders.domain import rules
from backorders.domain.errors import BusinessRuleViolation
from backorders.domain.models import (
    GrnShare,
    Order,
    OrderIn,
    OrderLine,
    PoAllocation,
    PoLine,
    PurchaseOrder,
    Quantity,
    Seller,
    StockBin,
    Vendor,
    VendorOrder,
    VendorOrderLine,
)


def order_in(*lines):
    return OrderIn(order_id="o1", lines=[{"line_id": f"L{i}", "sku": s, "qty": q} for i, (s, q) in enumerate(lines)])


def seller(**flags):
    base = {"allow_backorders": True, "auto_po_vendor_level": True, "auto_grn_through_backorder": True}
    return Seller(seller_id="s1", name="S", webhook_secret="x", api_key_sha256="x", **{**base, **flags})


def vendor(vendor_id="v1", **flags):
    base = {"is_b2b_new": True, "vendor_panel_type": 2, "is_warehouse_location": False, "approval_required": False}
    return Vendor(vendor_id=vendor_id, name="V", api_key_sha256="x", **{**base, **flags})


def order_with(lines):
    return Order(seller_id="s1", order_id="o1", status="backordered", lines=lines, body_sha256="x", created_at="t")


class TestAssignment:
    def test_the_default_bin_of_the_main_location_gives_first(self):
        bins = {"A": [StockBin(location="aisle", bin="b1", available=5), StockBin(location="main", bin="default", available=2)]}
        plan = rules.plan_assignment(rules.new_order_lines(order_in(("A", 4))), bins)
        [line] = plan.lines
        assert [(a.location, a.bin, a.qty) for a in line.allocations] == [("main", "default", 2), ("aisle", "b1", 2)]
        assert plan.takes == {("A", "main", "default"): 2, ("A", "aisle", "b1"): 2}

    def test_only_what_is_there_is_assigned_the_rest_stays_pending(self):
        plan = rules.plan_assignment(
            rules.new_order_lines(order_in(("A", 5))), {"A": [StockBin(location="main", bin="default", available=3)]}
        )
        [line] = plan.lines
        assert (line.assigned_qty, line.pending_qty, line.no_po_reason) == (3, 2, None)
        assert [(p.sku, p.qty) for p in plan.pending] == [("A", 2)]
        assert rules.order_status(plan.lines) == "backordered"

    def test_lines_of_one_sku_share_the_stock_in_line_order(self):
        plan = rules.plan_assignment(
            rules.new_order_lines(order_in(("A", 2), ("A", 2))), {"A": [StockBin(location="main", bin="default", available=3)]}
        )
        assert [(l.assigned_qty, l.pending_qty) for l in plan.lines] == [(2, 0), (1, 1)]
        assert plan.takes == {("A", "main", "default"): 3}

    def test_a_line_fully_in_stock_needs_no_po(self):
        plan = rules.plan_assignment(
            rules.new_order_lines(order_in(("A", 2))), {"A": [StockBin(location="main", bin="default", available=9)]}
        )
        assert plan.lines[0].no_po_reason == "stock_available"
        assert rules.order_status(plan.lines) == "ready"

    def test_warnings_name_each_short_line(self):
        warnings = rules.availability_warnings(order_in(("A", 2), ("A", 2), ("B", 1)), {"A": 3})
        assert warnings == [
            {"line_id": "L1", "sku": "A", "requested": 2, "available": 1},
            {"line_id": "L2", "sku": "B", "requested": 1, "available": 0},
        ]


class TestPurchasePlan:
    def pending(self, sku="A", qty=2):
        return OrderLine(line_id="L1", sku=sku, qty=qty, pending_qty=qty)

    @pytest.mark.parametrize(
        ("seller_flags", "mapping", "vendor_flags", "reason"),
        [
            ({"auto_po_vendor_level": False}, "v1", {}, "auto_po_disabled"),
            ({}, None, {}, "sku_not_mapped"),
            ({}, "v1", {"is_b2b_new": False}, "vendor_not_eligible"),
            ({}, "v1", {"vendor_panel_type": 1}, "vendor_not_eligible"),
            ({}, "v1", {"is_warehouse_location": True}, "vendor_not_eligible"),
        ],
    )
    def test_each_missing_prerequisite_is_recorded_as_the_reason(self, seller_flags, mapping, vendor_flags, reason):
        plan = rules.plan_purchase(
            order_with([self.pending()]), seller(**seller_flags), {"A": mapping}, {"v1": vendor(**vendor_flags)}
        )
        assert plan.reasons == {0: reason} and plan.by_vendor == {}

    def test_a_mapping_to_a_vendor_that_does_not_exist_is_not_eligible(self):
        plan = rules.plan_purchase(order_with([self.pending()]), seller(), {"A": "gone"}, {})
        assert plan.reasons == {0: "vendor_not_eligible"}

    def test_one_po_per_vendor_for_the_pending_quantity_only(self):
        order = order_with(
            [
                OrderLine(line_id="L1", sku="A", qty=5, assigned_qty=3, pending_qty=2),
                OrderLine(line_id="L2", sku="B", qty=1, pending_qty=1),
                OrderLine(line_id="L3", sku="A", qty=1, pending_qty=1),
                OrderLine(line_id="L4", sku="C", qty=1, assigned_qty=1, no_po_reason="stock_available"),
            ]
        )
        plan = rules.plan_purchase(order, seller(), {"A": "v1", "B": "v2"}, {"v1": vendor("v1"), "v2": vendor("v2")})
        assert plan.by_vendor == {"v1": [0, 2], "v2": [1]}
        assert [(l.sku, l.qty, [(a.line_id, a.qty) for a in l.allocations]) for l in rules.po_lines(order, [0, 2])] == [
            ("A", 3, [("L1", 2), ("L3", 1)])
        ]

    def test_rounding_to_packs_makes_surplus_and_only_what_is_not_on_order_is_bought(self):
        order = order_with(
            [
                OrderLine(line_id="L1", sku="A", qty=5, pending_qty=5, on_order_qty=2, purchase_order_ids=["other"]),
                OrderLine(line_id="L2", sku="A", qty=1, pending_qty=1),
            ]
        )
        (line,) = rules.po_lines(order, [0, 1], {"A": (1, 6)})
        assert (line.qty, line.surplus_qty, [(a.line_id, a.qty) for a in line.allocations]) == (6, 2, [("L1", 3), ("L2", 1)])

    def test_lines_that_already_have_a_po_or_reason_are_left_alone(self):
        order = order_with(
            [
                OrderLine(line_id="L1", sku="A", qty=2, pending_qty=2, purchase_order_ids=["po-1"], on_order_qty=2),
                OrderLine(line_id="L2", sku="A", qty=2, pending_qty=2, no_po_reason="sku_not_mapped"),
            ]
        )
        plan = rules.plan_purchase(order, seller(), {"A": "v1"}, {"v1": vendor()})
        assert plan.reasons == {} and plan.by_vendor == {}


def vendor_order(status="approved", qty=2, handed=0):
    return VendorOrder(
        vendor_order_id="vo1", vendor_id="v1", po_id="po1", seller_id="s1", status=status,
        lines=[VendorOrderLine(sku="A", qty=qty, handed_over_qty=handed)], created_at="t",
    )


class TestHandover:
    def test_partial_then_full(self):
        lines, status = rules.apply_handover(vendor_order(), [Quantity(sku="A", qty=1)])
        assert (lines[0].handed_over_qty, status) == (1, "partially_handed_over")
        lines, status = rules.apply_handover(vendor_order(handed=1, status=status), [Quantity(sku="A", qty=1)])
        assert (lines[0].handed_over_qty, status) == (2, "handed_over")

    def test_more_than_is_open_is_refused(self):
        with pytest.raises(BusinessRuleViolation) as refused:
            rules.apply_handover(vendor_order(handed=1), [Quantity(sku="A", qty=2)])
        assert refused.value.code == "handover_exceeds_open_quantity"
        assert refused.value.details == [{"field": "lines", "sku": "A", "requested": 2, "open": 1}]

    def test_an_unapproved_order_cannot_be_handed_over(self):
        with pytest.raises(BusinessRuleViolation) as refused:
            rules.apply_handover(vendor_order(status="unapproved"), [Quantity(sku="A", qty=1)])
        assert refused.value.code == "vendor_order_not_approved"

    def test_a_sku_not_on_the_order_is_refused(self):
        with pytest.raises(BusinessRuleViolation) as refused:
            rules.apply_handover(vendor_order(), [Quantity(sku="Z", qty=1)])
        assert refused.value.code == "sku_not_on_order"


class TestGoodsReceipt:
    def po(self, received=0, allocations=(), surplus=0):
        return PurchaseOrder(
            po_id="po1", seller_id="s1", vendor_id="v1", status="approved", source_order_id="o1", vendor_order_id="vo1",
            lines=[
                PoLine(
                    sku="A", qty=2 if not allocations else sum(q for _, _, q in allocations) + surplus, received_qty=received,
                    surplus_qty=surplus if allocations else 2 - received,
                    allocations=[PoAllocation(order_id=o, line_id=l, qty=q) for o, l, q in allocations],
                )
            ],
            created_at="t",
        )

    def test_received_never_exceeds_ordered(self):
        receipt = rules.receive_goods(self.po(), [Quantity(sku="A", qty=1)])
        assert (receipt.lines[0].received_qty, receipt.status) == (1, "partially_received")
        with pytest.raises(BusinessRuleViolation):
            rules.receive_goods(self.po(received=1), [Quantity(sku="A", qty=2)])

    def test_goods_go_to_the_allocations_oldest_first_then_out_of_the_surplus(self):
        po = self.po(allocations=[("o1", "L1", 2), ("o2", "L1", 3)], surplus=1)
        receipt = rules.receive_goods(po, [Quantity(sku="A", qty=4)])
        assert [(s.order_id, s.line_id, s.qty) for s in receipt.shares] == [("o1", "L1", 2), ("o2", "L1", 2)]
        assert receipt.surplus == {}
        line = receipt.lines[0]
        assert ([(a.order_id, a.qty) for a in line.allocations], line.surplus_qty, line.received_qty) == ([("o2", 1)], 1, 4)
        receipt = rules.receive_goods(po.model_copy(update={"lines": receipt.lines}), [Quantity(sku="A", qty=2)])
        assert ([(s.order_id, s.qty) for s in receipt.shares], receipt.surplus) == ([("o2", 1)], {"A": 1})

    def test_a_share_goes_to_its_line_and_what_the_line_no_longer_needs_is_freed(self):
        order = order_with(
            [
                OrderLine(line_id="L1", sku="A", qty=3, assigned_qty=2, pending_qty=1, on_order_qty=2, purchase_order_ids=["po1"]),
                OrderLine(line_id="L2", sku="A", qty=1, pending_qty=1, on_order_qty=1, purchase_order_ids=["other"]),
            ]
        )
        shares = [GrnShare(order_id="o1", line_id="L1", sku="A", qty=2)]
        out = rules.assign_receipt(order, "grn1", "main", "default", shares)
        assert [(l.assigned_qty, l.pending_qty, l.on_order_qty) for l in out.lines] == [(3, 0, 0), (0, 1, 1)]
        assert out.lines[0].allocations[-1].grn_id == "grn1"
        assert (out.used, out.surplus, out.settled) == ({"A": 1}, {"A": 1}, {"L1": 2})


def test_two_shares_of_one_line_are_given_as_one():
    order = order_with([OrderLine(line_id="L1", sku="A", qty=5, pending_qty=5, on_order_qty=5, purchase_order_ids=["po1"])])
    shares = [GrnShare(order_id="o1", line_id="L1", sku="A", qty=2), GrnShare(order_id="o1", line_id="L1", sku="A", qty=3)]
    out = rules.assign_receipt(order, "grn1", "main", "default", shares)
    assert [(l.assigned_qty, l.pending_qty, l.on_order_qty) for l in out.lines] == [(5, 0, 0)]
    assert (out.used, out.surplus, out.settled) == ({"A": 5}, {"A": 0}, {"L1": 5})


def test_a_line_given_more_surplus_keeps_one_allocation_in_its_place():
    po = PurchaseOrder(
        po_id="po1", seller_id="s1", vendor_id="v1", status="approved", source_order_id="o1", vendor_order_id="vo1", created_at="t",
        lines=[PoLine(sku="A", qty=6, surplus_qty=3, allocations=[PoAllocation(order_id="o1", line_id="L1", qty=2),
                                                                 PoAllocation(order_id="o2", line_id="L1", qty=1)])],
    )
    po = rules.allocate(po, "A", "o1", "L1", 2)
    assert [(a.order_id, a.qty) for a in po.lines[0].allocations] == [("o1", 4), ("o2", 1)]
    assert po.lines[0].surplus_qty == 1


def test_a_po_serving_the_most_orders_takes_no_new_one_but_still_serves_its_own():
    full = [PoAllocation(order_id=f"o{i}", line_id="L1", qty=1) for i in range(rules.MAX_PO_ORDERS)]
    po = PurchaseOrder(
        po_id="po1", seller_id="s1", vendor_id="v1", status="approved", source_order_id="o0", vendor_order_id="vo1", created_at="t",
        lines=[PoLine(sku="A", qty=rules.MAX_PO_ORDERS + 1, surplus_qty=1, allocations=full)],
    )
    assert rules.may_serve(po, "o3") and not rules.may_serve(po, "new")
    assert rules.may_serve(po.model_copy(update={"lines": [po.lines[0].model_copy(update={"allocations": full[:-1]})]}), "new")
