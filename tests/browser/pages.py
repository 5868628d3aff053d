"""Small helpers to drive the pages the way a person does: keyboard and buttons."""

from __future__ import annotations

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT_S = 10


def wait(driver, what: str, check, timeout: float = TIMEOUT_S):
    """Poll `check(driver)` until it returns something truthy (stale elements are retried)."""

    def attempt(d):
        try:
            return check(d)
        except StaleElementReferenceException:
            return False

    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)).until(
        attempt, message=f"waited {timeout} s for {what}"
    )


def find(driver, css: str):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None


def visible(driver, css: str):
    return wait(driver, f"{css} to be visible", lambda d: (e := find(d, css)) is not None and e.is_displayed() and e)


def text_of(driver, css: str) -> str:
    e = find(driver, css)
    return e.text if e is not None else ""


def wait_text(driver, css: str, *parts: str):
    """Wait until the element's text contains every part; return the text."""
    return wait(driver, f"{css} to show {parts!r}", lambda d: (t := text_of(d, css)) and all(p in t for p in parts) and t)


def type_into(element, text: str, enter: bool = True) -> None:
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    element.send_keys(text + (Keys.ENTER if enter else ""))


def sign_in(driver, url: str, page: str, key: str) -> None:
    driver.get(f"{url}/panel/{page}")
    type_into(visible(driver, "#key"), key)


def viewport(driver, width: int, height: int, mobile: bool = False) -> None:
    """The page's viewport itself (a headless window's size includes emulated browser chrome)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def session_key(driver, kind: str) -> str | None:
    return driver.execute_script(f"return sessionStorage.getItem('backorders.{kind}.key')")
