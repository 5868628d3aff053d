"""The vendor panel and the seller console in headless chromium, against `backorders
local`: the seed scenario done by a person in the pages, refusals in words, empty states,
a phone-sized screen. Screenshots of both pages go to .build/screenshots/ (docs/screenshots/ with
BACKORDERS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.browser.pages import find, session_key, sign_in, text_of, type_into, viewport, visible, wait, wait_text
from tests.e2e.local import Api, unique


def card(vo_id: str, status: str | None = None) -> str:
    """CSS for a vendor order's card, in the group of `status` when given."""
    return f"[aria-labelledby='group-{status}'] #vo-{vo_id}" if status else f"#vo-{vo_id}"


def hand_over_in_page(driver, vo_id: str, *quantities: int) -> None:
    """Type the quantities into the card's handover form and submit it with Enter."""
    inputs = driver.find_elements(By.CSS_SELECTOR, f"#vo-{vo_id} input.qty")
    assert len(inputs) == len(quantities)
    for i, (field, qty) in enumerate(zip(inputs, quantities, strict=False)):
        type_into(field, str(qty), enter=i == len(quantities) - 1)


def backorder(api: Api, seller: str, vendor: str, order_id: str, sku: str, qty: int) -> dict:
    """The SKU mapped to the vendor, none in stock, an order for `qty`: its PO."""
    api.map_sku(seller, sku, vendor)
    assert api.order(seller, order_id, (sku, qty)).status == 201
    api.settled_order(seller, order_id)
    [po] = [po for po in api.purchase_orders(seller) if po["source_order_id"] == order_id]
    return po


def test_the_vendor_approves_and_hands_over_in_two_parts_then_the_seller_sees_the_order_ready(browser, local_site, screenshots):
    api, driver = local_site, browser
    # given: stock 1, an order for 3 -> 1 assigned, a PO for 2 and the vendor's B2B order
    # (readable ids, the only test to use them: they show in the screenshots)
    seller, vendor, sku = "acme-store", "northwind-supply", "MUG-350-BLUE"
    api.seller(seller)
    api.vendor(vendor, approval_required=True)
    api.map_sku(seller, sku, vendor)
    api.stock(seller, sku, 1)
    assert api.order(seller, "AMZ-1001", (sku, 3)).status == 201
    order = api.settled_order(seller, "AMZ-1001")
    assert (order["status"], order["lines"][0]["pending_qty"]) == ("backordered", 2)
    [po] = api.purchase_orders(seller)
    vo = po["vendor_order_id"]
    # and two more backorders, so that the panel has something in every group
    po2 = backorder(api, seller, vendor, "AMZ-1002", "TEE-M-BLACK", 2)
    sku3 = "CAP-GREY"
    po3 = backorder(api, seller, vendor, "AMZ-1003", sku3, 4)
    vo3 = po3["vendor_order_id"]
    assert api.as_vendor(vendor, "POST", f"/v1/vendors/{vendor}/orders/{vo3}/approve").status == 200
    assert api.hand_over(vendor, vo3, "h-cap-1", (sku3, 1)).status == 202

    # when the vendor signs in with its key (typed, then Enter)
    sign_in(driver, api.url, "vendor.html", api.vendors[vendor]["api_key"])

    # then its orders are grouped by status, with the seller, the PO and the lines
    wait_text(driver, "#who", vendor)
    text = wait_text(driver, card(vo, "unapproved"), seller, po["po_id"], sku)
    assert "Approve this order before handing it over" in text
    assert find(driver, f"#vo-{vo} input.qty") is None  # no handover before approval
    wait_text(driver, card(po2["vendor_order_id"], "unapproved"), po2["po_id"])
    wait_text(driver, card(vo3, "partially_handed_over"), po3["po_id"])
    wait_text(driver, "#summary", "3 orders", "2 to approve", "1 to hand over")
    assert session_key(driver, "vendor") == api.vendors[vendor]["api_key"]

    # when it approves the order
    find(driver, f"#vo-{vo} .actions button").click()
    wait_text(driver, f"{card(vo, 'approved')} [data-flash]", "Approved")
    field = visible(driver, f"#vo-{vo} input.qty")
    assert (field.get_attribute("value"), field.get_attribute("max")) == ("2", "2")  # all that is open

    # when it types more than is open: the form refuses it and nothing is sent
    hand_over_in_page(driver, vo, 3)
    wait_text(driver, f"#vo-{vo} .field-error", "Only 2 open")
    wait_text(driver, f"#vo-{vo} form [role=alert]", "at most what is still open")
    assert api.vendor_order(vendor, vo)["lines"][0]["handed_over_qty"] == 0

    # when it hands over 1 of the 2: the result is visible at once
    hand_over_in_page(driver, vo, 1)
    wait_text(driver, f"{card(vo, 'partially_handed_over')} [data-flash]", f"Handed over 1 × {sku}", "Goods receipt")
    cells = [td.text for td in find(driver, f"#vo-{vo} tbody tr").find_elements(By.CSS_SELECTOR, "td")]
    assert cells[:3] == ["2", "1", "1"]  # ordered, handed over, open
    assert api.vendor_order(vendor, vo)["status"] == "partially_handed_over"
    field = visible(driver, f"#vo-{vo} input.qty")
    assert (field.get_attribute("value"), field.get_attribute("max")) == ("1", "1")

    # when it hands over the rest
    hand_over_in_page(driver, vo, 1)
    wait_text(driver, f"{card(vo, 'handed_over')} [data-flash]", f"Handed over 1 × {sku}", "fully handed over")
    assert find(driver, f"#vo-{vo} input.qty") is None
    assert api.vendor_order(vendor, vo)["status"] == "handed_over"
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(screenshots / "vendor-panel.png"))

    # then the seller console shows the order ready, with both GRNs in its timeline
    api.settled_order(seller, "AMZ-1001", assigned=3)
    grns = [g["grn_id"] for g in api.purchase_order(seller, po["po_id"])["grns"]]
    assert len(grns) == 2
    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    wait_text(driver, "#pos", po["po_id"], po2["po_id"], po3["po_id"])
    type_into(visible(driver, "#order-id"), "AMZ-1001")
    wait_text(driver, "#order-heading", "AMZ-1001")
    wait_text(driver, ".order-detail .badge", "Ready")
    wait_text(driver, "#order-callout", "Ready", "every unit is assigned")
    desc = driver.execute_script("return document.querySelector('#timeline svg desc').textContent")
    for step in ("Order received (done)", "Stock assigned (done)", "PO approved (done)", "Vendor order (done)", "Ready (done)"):
        assert step in desc, (step, desc)
    assert all(grn in desc for grn in grns) and desc.count("Handover · GRN (done)") == 2
    details = text_of(driver, ".order-detail .line")
    assert "3 ordered · 3 assigned · 0 pending" in details
    assert all(grn in details for grn in grns)
    assert "In stock when the order arrived" in details and "Received for this order" in details
    assert "main / default is the Default Bin of the main location" in details
    wait_text(driver, "#stock", sku, "Nothing to buy")
    assert "localhost" not in driver.current_url and driver.current_url.endswith("#order=AMZ-1001")
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(screenshots / "seller-console.png"))

    # and the seller opens a waiting backorder from its purchase orders
    summary = find(driver, f"#po-{po3['po_id']} summary")
    driver.execute_script("arguments[0].scrollIntoView()", summary)
    summary.click()
    wait_text(driver, f"#po-{po3['po_id']}", "1 of 4 received", "Goods received")
    find(driver, f"#po-{po3['po_id']} button.link").click()
    wait_text(driver, "#order-heading", "AMZ-1003")
    wait_text(driver, "#order-callout", "Waiting at", "Vendor handover", "3 of 4 still open", f"at {vendor}")
    wait_text(driver, "#stock", sku3)
    # and nothing went wrong in the pages themselves (scripts, content security policy)
    problems = [log["message"] for log in driver.get_log("browser") if log["source"] != "network"]
    assert problems == []


def test_a_wrong_key_is_refused_in_words_and_never_kept(browser, local_site):
    api, driver = local_site, browser
    seller, vendor, _ = api.setup(stock=0)

    sign_in(driver, api.url, "vendor.html", "hello")
    wait_text(driver, "#signin-error", "does not look like a vendor key", "vk.")
    assert find(driver, "#key").get_attribute("aria-invalid") == "true"

    type_into(find(driver, "#key"), api.sellers[seller]["api_key"])
    wait_text(driver, "#signin-error", "This is a seller key")

    type_into(find(driver, "#key"), f"vk.{vendor}.not-the-secret")
    wait_text(driver, "#signin-error", "This key was not accepted")
    assert find(driver, "#signed-in").is_displayed() is False
    assert session_key(driver, "vendor") is None

    # the right key then works, and an empty account says so
    type_into(find(driver, "#key"), api.vendors[vendor]["api_key"])
    wait_text(driver, "#orders", "No orders yet")

    sign_in(driver, api.url, "seller.html", f"sk.{seller}.not-the-secret")
    wait_text(driver, "#signin-error", "This key was not accepted")
    assert session_key(driver, "seller") is None
    type_into(find(driver, "#key"), api.sellers[seller]["api_key"])
    wait_text(driver, "#pos", "No purchase orders yet")
    type_into(visible(driver, "#order-id"), "nope")
    wait_text(driver, "#order-error", "Order nope was not found")
    type_into(find(driver, "#order-id"), "no such/id")
    wait_text(driver, "#order-error", "letters, digits")

    # signing out forgets the key
    find(driver, "#sign-out").click()
    visible(driver, "#signin-form")
    assert session_key(driver, "seller") is None


def test_a_handover_refused_by_the_server_is_shown_in_words(browser, local_site):
    api, driver = local_site, browser
    seller, vendor, sku = api.setup(stock=0)
    assert api.order(seller, "o1", (sku, 2)).status == 201
    api.settled_order(seller, "o1")
    [vo] = api.vendor_orders(vendor)
    sign_in(driver, api.url, "vendor.html", api.vendors[vendor]["api_key"])
    field = visible(driver, f"#vo-{vo['vendor_order_id']} input.qty")
    assert field.get_attribute("value") == "2"

    # when someone else hands 1 over while the page still shows 2 open, and the page sends 2
    assert api.hand_over(vendor, vo["vendor_order_id"], unique("h"), (sku, 1)).status == 202
    field.send_keys("\n")

    # then the server's 422 is shown in words, and the card shows what is open now
    message = wait_text(driver, f"#vo-{vo['vendor_order_id']} [data-flash]", "The handover was not recorded", "Refused", "more than the 1 still open")
    assert "now shows what is still open" in message
    field = visible(driver, f"{card(vo['vendor_order_id'], 'partially_handed_over')} input.qty")
    assert field.get_attribute("max") == "1"
    assert api.vendor_order(vendor, vo["vendor_order_id"])["lines"][0]["handed_over_qty"] == 1


def test_the_pages_fit_a_phone_screen(browser, local_site, screenshots):
    api, driver = local_site, browser
    seller, vendor, sku = api.setup(stock=1)
    assert api.order(seller, "o1", (sku, 3)).status == 201
    api.settled_order(seller, "o1")
    viewport(driver, 390, 844, mobile=True)
    # nothing wider than the screen (a phone would zoom the page out to show it)
    # what sticks out, by id or class (empty: nothing does)
    no_sideways_scroll = """
        const width = 390;
        const boxes = [...document.querySelectorAll('.card, form, table, svg, .topbar-inner')];
        const out = boxes.filter((b) => b.getBoundingClientRect().right > width).map((b) => b.id || b.className);
        if (document.documentElement.scrollWidth > width || window.innerWidth !== width) {
            const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > width);
            out.push(`the page: ${wide.slice(0, 5).map((e) => e.id || e.className || e.tagName).join(', ')}`);
        }
        return out;"""

    sign_in(driver, api.url, "vendor.html", api.vendors[vendor]["api_key"])
    visible(driver, ".order input.qty")
    assert driver.execute_script(no_sideways_scroll) == []
    driver.save_screenshot(str(screenshots / "vendor-panel-phone.png"))

    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    type_into(visible(driver, "#order-id"), "o1")
    wait_text(driver, "#order-callout", "Waiting at", "Vendor handover")
    assert driver.execute_script(no_sideways_scroll) == []
    # the timeline is drawn top to bottom, within the screen's width
    svg = driver.execute_script("const r = document.querySelector('#timeline svg').getBoundingClientRect(); return [r.width, r.height]")
    assert svg[0] <= 390 and svg[1] > svg[0]
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(screenshots / "seller-console-phone.png"))


def test_skus_of_any_text_are_shown_as_text_and_looked_up_encoded(browser, local_site):
    api, driver = local_site, browser
    # given two marketplace SKUs: one that is markup, one with spaces, `/`, `#` and unicode
    markup, wide = "<img src=x onerror=alert(1)>", "Mug 350ml / Blue #2 · Café ☕"
    seller, vendor, _ = api.setup(stock=0, sku=markup)
    api.map_sku(seller, wide, vendor)
    assert api.order(seller, "o1", (markup, 2), (wide, 1)).status == 201
    api.settled_order(seller, "o1")
    [vo] = api.vendor_orders(vendor)
    vo_id = vo["vendor_order_id"]

    # the vendor panel shows both as text, and hands both over
    sign_in(driver, api.url, "vendor.html", api.vendors[vendor]["api_key"])
    wait_text(driver, card(vo_id), markup, wide)
    assert driver.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    hand_over_in_page(driver, vo_id, *[line["qty"] for line in vo["lines"]])
    wait_text(driver, f"{card(vo_id)} [data-flash]", "Handed over", f"2 × {markup}", f"1 × {wide}")
    api.until("the order is ready", lambda: api.get_order(seller, "o1")["status"] == "ready")

    # the seller console shows them as text in the order, and their stock by the encoded path
    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    type_into(visible(driver, "#order-id"), "o1")
    wait_text(driver, ".order-detail", markup, wide)
    stock = wait_text(driver, "#stock", markup, wide, "Nothing to buy")
    assert "not found" not in stock and "not valid" not in stock
    assert driver.find_elements(By.CSS_SELECTOR, "img[src='x']") == []

    # a SKU typed in is looked up as typed; one the API refuses is refused in words first
    type_into(visible(driver, "#sku"), "x" * 256)
    wait_text(driver, "#stock-error", "at most 255 characters")
    type_into(find(driver, "#sku"), ".")
    wait_text(driver, "#stock", "cannot be looked up from this page")
    problems = [log["message"] for log in driver.get_log("browser") if log["source"] != "network"]
    assert problems == []


def test_the_vendor_approves_with_a_ship_date_declines_with_a_reason_and_sees_its_handovers(browser, local_site):
    api, driver = local_site, browser
    # given a vendor that approves its orders, and four backorders of a named seller
    seller, vendor = unique("s"), unique("v")
    api.seller(seller, name="Acme Store Ltd")
    api.vendor(vendor, approval_required=True)
    sku1, sku2, sku3, sku4 = (unique("SKU") for _ in range(4))
    vo1 = backorder(api, seller, vendor, "o1", sku1, 3)["vendor_order_id"]
    vo2 = backorder(api, seller, vendor, "o2", sku2, 2)["vendor_order_id"]
    vo3 = backorder(api, seller, vendor, "o3", sku3, 1)["vendor_order_id"]
    vo4 = backorder(api, seller, vendor, "o4", sku4, 2)["vendor_order_id"]
    assert api.as_vendor(vendor, "POST", f"/v1/vendors/{vendor}/orders/{vo4}/approve").status == 200

    sign_in(driver, api.url, "vendor.html", api.vendors[vendor]["api_key"])
    # then each card names the seller, and only orders with nothing handed over offer Decline
    wait_text(driver, f"{card(vo1, 'unapproved')} .seller", "Acme Store Ltd", seller)
    assert find(driver, f"#vo-{vo1} .ship-date") is None
    assert find(driver, f"#vo-{vo4} .decline-block button") is not None

    # when it approves the first order with the date it expects to ship
    date = visible(driver, f"#vo-{vo1} input[type=date]")
    driver.execute_script("arguments[0].value = '2030-03-12'", date)  # a date picker's typing is locale-bound
    find(driver, f"#vo-{vo1} .actions button").click()
    wait_text(driver, f"{card(vo1, 'approved')} [data-flash]", "Approved")
    assert find(driver, f"#vo-{vo1} .ship-date time").get_attribute("datetime") == "2030-03-12"
    assert "2030" in text_of(driver, f"#vo-{vo1} .ship-date")
    assert api.vendor_order(vendor, vo1)["expected_ship_date"] == "2030-03-12"

    # when it hands over 1 of the 3: the handover shows in the card's history, and Decline is gone
    hand_over_in_page(driver, vo1, 1)
    wait_text(driver, f"{card(vo1, 'partially_handed_over')} [data-flash]", f"Handed over 1 × {sku1}")
    [handover] = api.vendor_order(vendor, vo1)["handovers"]
    wait_text(driver, f"#vo-{vo1} .handover-list", handover["handover_id"], f"1 × {sku1}")
    assert find(driver, f"#vo-{vo1} .handover-list time").get_attribute("datetime") == handover["created_at"]
    assert find(driver, f"#vo-{vo1} .decline-block") is None

    # when it declines the second order: a reason is asked for first
    find(driver, f"#vo-{vo2} .decline-block .actions button").click()
    reason = visible(driver, f"#vo-{vo2} input.decline-reason")
    reason.send_keys("\n")
    wait_text(driver, f"#vo-{vo2} .decline .field-error", "Give a reason")
    assert api.vendor_order(vendor, vo2)["status"] == "unapproved"
    type_into(reason, "Discontinued <b>model</b>")
    wait_text(driver, f"{card(vo2, 'declined')} .declined-reason", "Declined: Discontinued <b>model</b>")
    wait_text(driver, f"#vo-{vo2} [data-flash]", "Declined")
    assert find(driver, f"#vo-{vo2} .decline-block") is None and find(driver, f"#vo-{vo2} form.approve") is None
    assert api.vendor_order(vendor, vo2)["declined_reason"] == "Discontinued <b>model</b>"
    # and the seller's order line waits with vendor_declined
    api.until("o2 waits with vendor_declined",
              lambda: api.get_order(seller, "o2")["lines"][0]["no_po_reason"] == "vendor_declined")

    # when a refusal comes back (the page was stale): the API's own words show on the card
    assert api.hand_over(vendor, vo4, unique("h"), (sku4, 1)).status == 202
    find(driver, f"#vo-{vo4} .decline-block .actions button").click()
    type_into(visible(driver, f"#vo-{vo4} input.decline-reason"), "No longer made")
    wait_text(driver, f"#vo-{vo4} [data-flash]", "The order was not declined", "Refused", "can no longer be declined")
    assert api.vendor_order(vendor, vo4)["status"] == "partially_handed_over"

    declined = api.as_vendor(vendor, "POST", f"/v1/vendors/{vendor}/orders/{vo3}/decline", {"reason": "Out of stock"})
    assert declined.status == 200 and declined.body["status"] == "declined"
    find(driver, f"#vo-{vo3} .actions button").click()
    wait_text(driver, f"{card(vo3, 'declined')} [data-flash]", "The approval did not go through", "Refused because of a conflict", "declined")
    wait_text(driver, f"#vo-{vo3} .declined-reason", "Declined: Out of stock")
    wait_text(driver, "#group-declined .count", "2")
    problems = [log["message"] for log in driver.get_log("browser") if log["source"] != "network"]
    assert problems == []


def test_the_seller_finds_an_order_in_the_list_and_cancels_it_from_the_console(browser, local_site, screenshots):
    api, driver = local_site, browser
    seller, _vendor, sku = api.setup(stock=1)
    older = [f"old-{n:02d}" for n in range(20)]  # a page of 20 older orders, then the three
    for order_id in older:
        assert api.order(seller, order_id, ("OTHER-SKU", 1)).status == 201
    for order_id, qty in (("w-1", 1), ("w-2", 2), ("w-3", 3)):
        assert api.order(seller, order_id, (sku, qty)).status == 201
        api.settled_order(seller, order_id)
    api.settled_order(seller, older[-1])
    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    # newest first, 20 a page, each with how long it has waited
    wait_text(driver, "#orders", "w-1", "w-2", "w-3")
    rows = [r.get_attribute("id") for r in driver.find_elements(By.CSS_SELECTOR, "#orders-body tr")]
    assert rows[:3] == ["order-row-w-3", "order-row-w-2", "order-row-w-1"] and len(rows) == 20
    driver.execute_script("document.getElementById('orders-section').scrollIntoView()")
    driver.save_screenshot(str(screenshots / "seller-console-orders.png"))
    find(driver, "#orders-more").click()
    wait(driver, "the next page", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#orders-body tr")) == 23)
    assert not find(driver, "#orders-more").is_displayed(), "the last page"
    assert "Ready" in text_of(driver, "#order-row-w-1") and "Backordered" in text_of(driver, "#order-row-w-3")

    # filtered by status
    driver.execute_script("const s = document.getElementById('orders-status'); s.value = 'ready'; s.dispatchEvent(new Event('change'))")
    wait(driver, "only the ready order", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#orders-body tr")) == 1)
    assert "w-1" in text_of(driver, "#orders-body")

    # opened from the list, cancelled after a second question
    driver.execute_script("const s = document.getElementById('orders-status'); s.value = ''; s.dispatchEvent(new Event('change'))")
    wait_text(driver, "#orders", "w-3")
    find(driver, "#order-row-w-3 a").click()
    wait_text(driver, "#order-heading", "w-3")
    find(driver, "#cancel-order").click()
    wait_text(driver, "#cancel-confirm", "Cancel order w-3?")
    find(driver, "#cancel-yes").click()
    wait_text(driver, ".order-detail .badge", "Cancelled")
    assert api.get_order(seller, "w-3")["status"] == "cancelled"
    wait_text(driver, "#order-row-w-3", "Cancelled")
    assert find(driver, "#cancel-order") is None, "nothing left to cancel"


def test_the_console_says_which_vendors_an_order_waits_for_and_whether_they_accepted(browser, local_site, screenshots):
    api, driver = local_site, browser
    seller, waits_for_approval, sku = api.setup(stock=0, approval_required=True)
    accepts = unique("v")
    api.vendor(accepts)
    other_sku = unique("SKU")
    api.map_sku(seller, other_sku, accepts)
    assert api.order(seller, "two-vendors", (sku, 2), (other_sku, 1)).status == 201
    api.settled_order(seller, "two-vendors")
    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    type_into(visible(driver, "#order-id"), "two-vendors")
    callout = wait_text(driver, "#order-callout", "Waiting at", "Vendor approval", f"waiting for {waits_for_approval} to accept it")
    assert "Vendor handover" in callout and f"at {accepts}" in callout, "each vendor it waits for is named"
    desc = driver.execute_script("return document.querySelector('#timeline svg desc').textContent")
    assert "Vendor approval (waiting here)" in desc and "Vendor handover (still to come)" in desc
    driver.execute_script("document.getElementById('order-section').scrollIntoView()")
    driver.save_screenshot(str(screenshots / "seller-console-two-vendors.png"))


def test_the_seller_downloads_its_orders_and_purchase_orders_as_csv(browser, local_site, tmp_path):
    api, driver = local_site, browser
    seller, _vendor, sku = api.setup(stock=0)
    assert api.order(seller, "csv-1", (sku, 2)).status == 201
    formula = '=HYPERLINK("http://example.com")'  # a valid SKU: printable text
    api.map_sku(seller, formula, _vendor)
    assert api.order(seller, "csv-2", (formula, 1)).status == 201
    api.settled_order(seller, "csv-1")
    api.settled_order(seller, "csv-2")
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    wait_text(driver, "#orders", "csv-1", "csv-2")
    find(driver, "#orders-csv").click()
    wait_text(driver, "#orders-message", "2 orders exported")
    find(driver, "#po-csv").click()
    wait_text(driver, "#po-message", "2 purchase orders exported")
    orders_file, pos_file = tmp_path / f"orders-{seller}.csv", tmp_path / f"purchase-orders-{seller}.csv"
    wait(driver, "the files", lambda d: orders_file.exists() and pos_file.exists())
    orders = orders_file.read_text().splitlines()
    assert orders[0].startswith('"order_id","status","created_at"') and len(orders) == 3
    assert orders[1].startswith('"csv-2","backordered"') and f'"{sku}","2","0","2"' in orders[2]
    assert '"\'=HYPERLINK(""http://example.com"")"' in orders[1], "a cell never runs as a formula"
    pos = pos_file.read_text().splitlines()
    assert len(pos) == 3 and all('"approved"' in row for row in pos[1:])


def test_the_seller_inwards_by_hand_what_the_vendor_handed_over_with_auto_grn_off(browser, local_site):
    api, driver = local_site, browser
    seller, vendor, sku = api.setup(stock=0, seller_flags={"auto_grn_through_backorder": False})
    assert api.order(seller, "by-hand", (sku, 3)).status == 201
    api.settled_order(seller, "by-hand")
    [po] = api.purchase_orders(seller)
    assert api.hand_over(vendor, po["vendor_order_id"], "h1", (sku, 2)).status == 202
    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    visible(driver, f"#po-{po['po_id']} summary").click()
    form = f"#grn-form-{po['po_id']}"
    wait_text(driver, form, "Handed over, not yet received", sku, "of 2")
    field = visible(driver, f"{form} input.qty")
    assert (field.get_attribute("value"), field.get_attribute("max")) == ("2", "2")
    find(driver, f"{form} button[type=submit]").click()
    wait_text(driver, "#po-message", "inwarded 2 ×")
    order = api.settled_order(seller, "by-hand", assigned=2)
    assert order["lines"][0]["pending_qty"] == 1
    assert find(driver, form) is None, "nothing handed over is left to inward"


def test_a_refresh_shows_new_orders_and_keeps_what_the_vendor_typed(browser, local_site):
    api, driver = local_site, browser
    seller, vendor, sku = api.setup(stock=0)
    assert api.order(seller, "first", (sku, 3)).status == 201
    api.settled_order(seller, "first")
    [vo] = api.vendor_orders(vendor)
    sign_in(driver, api.url, "vendor.html", api.vendors[vendor]["api_key"])
    field = visible(driver, f"#vo-{vo['vendor_order_id']} input.qty")
    type_into(field, "1", enter=False)
    # meanwhile a new order is raised; the vendor refreshes (the page also does it by itself)
    assert api.order(seller, "second", (sku, 2)).status == 201
    api.settled_order(seller, "second")
    find(driver, "#refresh").click()
    wait_text(driver, "#summary", "2 orders")
    field = visible(driver, f"#vo-{vo['vendor_order_id']} input.qty")
    assert field.get_attribute("value") == "1", "what was typed is kept"
    assert driver.execute_script("return document.activeElement.id") == "refresh"


def test_a_po_raised_by_hand_shows_its_reference_and_the_order_it_serves_shows_it(browser, local_site):
    api, driver = local_site, browser
    seller, vendor, sku = api.setup(stock=0, seller_flags={"auto_po_vendor_level": False})
    assert api.order(seller, "wait-1", (sku, 2)).status == 201
    api.settled_order(seller, "wait-1")
    body = {"po_ref": "PO-77", "vendor_id": vendor, "lines": [{"sku": sku, "qty": 5}]}
    raised = api.call("POST", f"/v1/sellers/{seller}/purchase-orders", body, headers={"X-Api-Key": api.sellers[seller]["api_key"]})
    assert raised.status == 201, raised
    po = raised.body
    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    wait_text(driver, f"#po-{po['po_id']}", "Raised by hand (PO-77)")
    visible(driver, f"#po-{po['po_id']} summary").click()
    wait_text(driver, f"#po-{po['po_id']}", "Reference", "PO-77")
    assert "null" not in find(driver, f"#po-{po['po_id']}").text
    find(driver, "#order-id").send_keys("wait-1")
    find(driver, "#order-id").submit()
    wait_text(driver, "#order", "2 on order, on purchase order", po["po_id"])


def test_an_open_po_shows_when_its_window_closes_and_the_order_waits_at_it(browser, local_site):
    api, driver = local_site, browser
    seller, _vendor, sku = api.setup(stock=0, seller_flags={"po_consolidation_minutes": 30})
    assert api.order(seller, "win-1", (sku, 2)).status == 201
    api.settled_order(seller, "win-1")
    [po] = api.call("GET", f"/v1/sellers/{seller}/purchase-orders", headers={"X-Api-Key": api.sellers[seller]["api_key"]}).body["items"]
    assert po["status"] == "open"
    sign_in(driver, api.url, "seller.html", api.sellers[seller]["api_key"])
    wait_text(driver, f"#po-{po['po_id']}", "Open")
    visible(driver, f"#po-{po['po_id']} summary").click()
    wait_text(driver, f"#po-{po['po_id']}", "Window closes", "sent as one B2B order")
    find(driver, "#order-id").send_keys("win-1")
    find(driver, "#order-id").submit()
    wait_text(driver, "#order", "PO open")
