"""The "Webhooks" section of the seller console and of the vendor panel, in headless
chromium against `backorders local`: an endpoint added in the page (pointing at a receiver
on 127.0.0.1 run by the test), its secret shown once, an event delivered and listed under
its deliveries, a change, a refusal in the API's words, the delete behind a confirm."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import deque
from dataclasses import dataclass

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from backorders.domain import webhooks
from tests.browser.pages import find, text_of, type_into, visible, wait, wait_text
from tests.e2e.local import Api


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]
    body: str


class Receiver:
    """A webhook receiver on 127.0.0.1: each POST gets the next status of `answers` (204
    once they run out) and is kept in `got`."""

    def __init__(self) -> None:
        self.got: list[Hit] = []
        self.answers: deque[int] = deque()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                receiver.got.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.answers.popleft() if receiver.answers else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()

    def types(self, path: str) -> list[str]:
        return [json.loads(hit.body)["type"] for hit in self.got if hit.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


# --- driving the section --------------------------------------------------------------


def endpoints(api: Api, account: str, account_id: str, key: str) -> list[dict]:
    answer = api.call("GET", f"/v1/{account}/{account_id}/webhook-endpoints", headers={"X-Api-Key": key})
    assert answer.status == 200, answer
    return answer.body["items"]


def fill_endpoint(driver, endpoint_id: str | None, url: str, events: list[str] | None = None) -> None:
    """Fill in the form (the id only when adding), tick exactly `events` (all when None), submit."""
    if endpoint_id is not None:
        type_into(visible(driver, "#webhook-id"), endpoint_id, enter=False)
    for box in driver.find_elements(By.CSS_SELECTOR, "#webhook-events input[type=checkbox]"):
        if box.is_selected() != (events is None or box.get_attribute("value") in events):
            box.click()
    type_into(find(driver, "#webhook-url"), url)  # Enter submits


def open_deliveries(driver, endpoint_id: str) -> None:
    summary = find(driver, f"#wh-{endpoint_id} .deliveries summary")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()


def deliveries_showing(driver, endpoint_id: str, *parts: str) -> str:
    """Wait until the endpoint's deliveries list shows every part, pressing its Refresh
    button now and then as a person would; return the list's text."""
    body = f"#wh-{endpoint_id} .deliveries-body"
    pressed = [time.monotonic()]

    def check(d):
        text = text_of(d, body)
        if text and all(p in text for p in parts):
            return text
        button = find(d, f"{body} .deliveries-head button")
        if button is not None and time.monotonic() - pressed[0] > 0.25:
            pressed[0] = time.monotonic()
            button.click()
        return False

    return wait(driver, f"the deliveries of {endpoint_id} to show {parts!r}", check)


def rows(driver, endpoint_id: str) -> list[tuple[str, str]]:
    """(class, text) of each delivery row, newest first."""
    found = driver.find_elements(By.CSS_SELECTOR, f"#wh-{endpoint_id} .deliveries-body tbody tr")
    return [(r.get_attribute("class"), r.text) for r in found]


def confirm_delete(driver, endpoint_id: str, accept: bool) -> str:
    find(driver, f"#wh-{endpoint_id} button.danger").click()
    alert = WebDriverWait(driver, 5).until(expected_conditions.alert_is_present())
    text = alert.text
    if accept:
        alert.accept()
    else:
        alert.dismiss()
    return text


def refused_in_words(driver, api: Api, account: str, account_id: str, key: str, in_page: bool = False) -> None:
    """An address the API refuses: its reason in the form, and nothing added; with
    `in_page`, also what the page refuses by itself before sending anything."""
    fill_endpoint(driver, "nope", "https://10.0.0.1/x")
    wait_text(driver, "#webhook-error", "The endpoint was not saved", "This URL cannot receive webhooks", "10.0.0.1 is not a public address")
    assert find(driver, "#webhook-url").get_attribute("aria-invalid") == "true"
    assert endpoints(api, account, account_id, key) == []
    if not in_page:
        return
    fill_endpoint(driver, "no such/id", "https://example.com/hooks")
    wait_text(driver, "#webhook-error", "letters, digits")
    fill_endpoint(driver, "erp", "example.com/hooks")
    wait_text(driver, "#webhook-error", "starting with https://")
    fill_endpoint(driver, "erp", "https://example.com/hooks", events=[])
    wait_text(driver, "#webhook-error", "Pick at least one event")
    assert endpoints(api, account, account_id, key) == []


def secret_shown_once(driver, endpoint_id: str) -> str:
    """The secret is shown with its warning; closed, it is nowhere in the page."""
    box = visible(driver, "#webhook-secret")
    secret = wait_text(driver, "#webhook-secret-value", "whsec_")
    assert "will not be shown again" in box.text and endpoint_id in box.text
    assert driver.switch_to.active_element.get_attribute("id") == "webhook-secret-title"
    find(driver, "#webhook-secret button.primary").click()
    assert not find(driver, "#webhook-secret").is_displayed()
    assert secret not in driver.page_source
    return secret


def no_problems(driver) -> None:
    problems = [log["message"] for log in driver.get_log("browser") if log["source"] != "network"]
    assert problems == []


def signed(hit: Hit, secret: str) -> bool:
    expected = webhooks.signature(secret, hit.headers["webhook-id"], int(hit.headers["webhook-timestamp"]), hit.body)
    return hit.headers["webhook-signature"] == expected


# --- the tests ------------------------------------------------------------------------


def test_the_seller_adds_an_endpoint_sees_its_deliveries_changes_it_and_deletes_it(browser, local_site, receiver, screenshots):
    api, driver = local_site, browser
    seller, _vendor, sku = api.setup(stock=0)
    key = api.sellers[seller]["api_key"]
    hook = receiver.url + "/erp"
    driver.get(f"{api.url}/panel/seller.html")
    type_into(visible(driver, "#key"), key)

    # an account without endpoints says so; the form offers the seller's event types, all ticked
    wait_text(driver, "#webhooks", "No webhook endpoints yet")
    boxes = driver.find_elements(By.CSS_SELECTOR, "#webhook-events input[type=checkbox]")
    assert [b.get_attribute("value") for b in boxes] == list(webhooks.SELLER_EVENTS)
    assert all(b.is_selected() for b in boxes)

    refused_in_words(driver, api, "sellers", seller, key, in_page=True)

    # when the seller adds an endpoint for two of its event types
    fill_endpoint(driver, "erp", hook, events=["order.backordered", "purchase_order.created"])

    # then its secret is shown once, and the endpoint is listed without it
    secret = secret_shown_once(driver, "erp")
    wait_text(driver, "#webhooks-message", "Endpoint erp added")
    card = wait_text(driver, "#wh-erp", hook, "Enabled", "order.backordered", "purchase_order.created")
    assert "order.ready" not in card
    assert find(driver, "#webhook-id").get_attribute("value") == ""  # the form is ready for another
    [listed] = endpoints(api, "sellers", seller, key)
    assert (listed["url"], listed["events"], "secret" in listed) == (hook, ["order.backordered", "purchase_order.created"], False)
    driver.refresh()  # the key stays in the tab; the secret does not
    wait_text(driver, "#wh-erp", "Enabled")
    assert secret not in driver.page_source

    # when an order is backordered: order.backordered and purchase_order.created are sent
    open_deliveries(driver, "erp")
    wait_text(driver, "#wh-erp .deliveries-body", "Nothing sent yet")
    assert api.order(seller, "o1", (sku, 2)).status == 201
    api.settled_order(seller, "o1")
    got = api.until("both events at the receiver", lambda: len(receiver.got) >= 2 and receiver.got)
    assert sorted(receiver.types("/erp")) == ["order.backordered", "purchase_order.created"]
    assert all(signed(hit, secret) for hit in got)  # with the secret the page showed

    # then the page lists both deliveries, delivered
    deliveries_showing(driver, "erp", "order.backordered", "purchase_order.created")
    shown = rows(driver, "erp")
    assert len(shown) == 2
    for css, text in shown:
        assert "delivered" in css and "Delivered" in text and "HTTP 204" in text, text
    driver.execute_script("document.getElementById('webhooks-section').scrollIntoView()")
    driver.save_screenshot(str(screenshots / "seller-webhooks.png"))

    # when it changes the endpoint's events
    find(driver, "#wh-erp button[aria-label='Change endpoint erp']").click()
    wait_text(driver, "#webhook-form-title", "Change endpoint erp")
    assert find(driver, "#webhook-id").get_attribute("readOnly") == "true"
    assert find(driver, "#webhook-url").get_attribute("value") == hook
    assert driver.switch_to.active_element.get_attribute("id") == "webhook-url"
    fill_endpoint(driver, None, hook + "/v2", events=["order.backordered", "purchase_order.created", "order.ready"])
    wait_text(driver, "#webhooks-message", "Endpoint erp saved")
    wait_text(driver, "#wh-erp", hook + "/v2", "order.ready")
    assert not find(driver, "#webhook-secret").is_displayed()  # no new secret
    wait_text(driver, "#webhook-form-title", "Add an endpoint")
    [listed] = endpoints(api, "sellers", seller, key)
    assert listed["events"] == ["order.backordered", "purchase_order.created", "order.ready"]
    deliveries_showing(driver, "erp", "order.backordered", "purchase_order.created")  # still open, reloaded

    # when it deletes it: a confirm first, and nothing happens when it says no
    assert "Delete the webhook endpoint erp?" in confirm_delete(driver, "erp", accept=False)
    assert find(driver, "#wh-erp") is not None
    assert len(endpoints(api, "sellers", seller, key)) == 1
    confirm_delete(driver, "erp", accept=True)
    wait_text(driver, "#webhooks-message", "Endpoint erp deleted")
    wait_text(driver, "#webhooks", "No webhook endpoints yet")
    assert endpoints(api, "sellers", seller, key) == []
    no_problems(driver)


def test_the_vendor_gets_its_orders_and_sees_a_410_disable_its_endpoint(browser, local_site, receiver, screenshots):
    api, driver = local_site, browser
    seller, vendor, sku = api.setup(stock=0, approval_required=True)
    key = api.vendors[vendor]["api_key"]
    hook = receiver.url + "/wms"
    receiver.answers.extend([204, 410])  # the order's creation is taken; then the receiver is gone
    driver.get(f"{api.url}/panel/vendor.html")
    type_into(visible(driver, "#key"), key)

    wait_text(driver, "#webhooks", "No webhook endpoints yet")
    boxes = driver.find_elements(By.CSS_SELECTOR, "#webhook-events input[type=checkbox]")
    assert [b.get_attribute("value") for b in boxes] == list(webhooks.VENDOR_EVENTS)
    refused_in_words(driver, api, "vendors", vendor, key)

    # when the vendor adds an endpoint for all its event types
    fill_endpoint(driver, "wms", hook)
    secret = secret_shown_once(driver, "wms")
    wait_text(driver, "#wh-wms", hook, "Enabled", "vendor_order.created", "vendor_order.updated")
    open_deliveries(driver, "wms")
    wait_text(driver, "#wh-wms .deliveries-body", "Nothing sent yet")

    # when a seller's order raises a PO against it: its B2B order is announced
    assert api.order(seller, "o1", (sku, 2)).status == 201
    api.settled_order(seller, "o1")
    [vo] = api.vendor_orders(vendor)
    api.until("the vendor order at the receiver", lambda: receiver.got)
    assert receiver.types("/wms") == ["vendor_order.created"] and signed(receiver.got[0], secret)
    text = deliveries_showing(driver, "wms", "vendor_order.created", "Delivered", "HTTP 204")
    assert vo["vendor_order_id"] not in text  # the list shows attempts, not payloads

    # when it approves the order in the panel: vendor_order.updated, answered 410 Gone
    find(driver, "#refresh").click()
    approve = f"#vo-{vo['vendor_order_id']} .actions button"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", visible(driver, approve))
    find(driver, approve).click()
    wait_text(driver, f"#vo-{vo['vendor_order_id']} [data-flash]", "Approved")
    api.until("the update at the receiver", lambda: len(receiver.got) >= 2)

    # then the failed attempt is marked, with no attempt to follow, and the endpoint is disabled
    deliveries_showing(driver, "wms", "vendor_order.updated", "Failed", "HTTP 410", "no more attempts")
    [(newest_css, newest), (older_css, _)] = rows(driver, "wms")
    assert "failed" in newest_css and "vendor_order.updated" in newest and "delivered" in older_css
    find(driver, "#webhooks-refresh").click()
    wait_text(driver, "#wh-wms", "Disabled", "answered 410 Gone", "Save and enable")
    assert find(driver, "#wh-wms").get_attribute("data-status") == "disabled"
    wait_text(driver, "#wh-wms .deliveries-body", "vendor_order.updated")  # still open after the refresh
    driver.execute_script("document.getElementById('webhooks-section').scrollIntoView()")
    driver.save_screenshot(str(screenshots / "vendor-webhooks.png"))

    # when it saves the endpoint again: enabled
    find(driver, "#wh-wms button[aria-label='Change endpoint wms']").click()
    wait_text(driver, "#webhook-submit", "Save and enable")
    find(driver, "#webhook-submit").click()
    wait_text(driver, "#webhooks-message", "Endpoint wms saved and enabled again")
    wait_text(driver, "#wh-wms .badge", "Enabled")
    assert "answered 410 Gone" not in text_of(driver, "#wh-wms")
    [listed] = endpoints(api, "vendors", vendor, key)
    assert (listed["status"], listed["disabled_reason"]) == ("enabled", None)

    # and deletes it
    confirm_delete(driver, "wms", accept=True)
    wait_text(driver, "#webhooks", "No webhook endpoints yet")
    assert endpoints(api, "vendors", vendor, key) == []

    # signing out leaves nothing of the section behind
    find(driver, "#sign-out").click()
    visible(driver, "#signin-form")
    assert text_of(driver, "#webhooks") == ""
    no_problems(driver)
