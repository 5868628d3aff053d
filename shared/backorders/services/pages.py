"""Cursors of paged lists: the sort key a page ended at, opaque to the caller."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from backorders.domain.errors import InvalidRequest


def cursor(sk: str | None) -> str | None:
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=") if sk else None


def after(value: str | None, prefix: str) -> str | None:
    """The sort key a cursor stands for. One this list did not give (another prefix, not
    ours at all) is a 400, never a read of something else: the partition is the caller's."""
    return position(value, lambda sk: sk.startswith(prefix) and len(sk) <= 300)


def position(value: str | None, valid: Callable[[str], bool]) -> str | None:
    """The key a cursor stands for, if `valid` says this list could have given it; else a 400."""
    if value is None:
        return None
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = ""
    if not valid(key):
        raise InvalidRequest("the cursor is not one this list gave", code="invalid_cursor", details=[{"field": "cursor"}])
    return key
