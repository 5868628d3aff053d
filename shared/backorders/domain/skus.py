"""The SKU rule, the one place it is written: bodies (models) and paths (routing) ask it.

Marketplace SKUs are free text (`Mug 350ml / Blue #2`, `Café-Tasse ☕`), so anything a
person can read is allowed; what is refused could not be shown or typed back the same:
control and format characters, line breaks, and spaces at either end. 255 characters
of up to 4 UTF-8 bytes each still fit DynamoDB's 1024-byte sort key as `SKU#<sku>`.
"""

from __future__ import annotations

import base64
import hashlib

SKU_MAX_LENGTH = 255
SKU_RULE = (
    f"a SKU is 1-{SKU_MAX_LENGTH} printable characters (no control characters, tabs or line breaks), "
    "without leading or trailing spaces"
)


def is_valid_sku(value: object) -> bool:
    # isprintable: False for control, format, separator (but the plain space), unassigned
    # and lone surrogate code points, so every accepted SKU encodes to UTF-8.
    return (
        isinstance(value, str)
        and 1 <= len(value) <= SKU_MAX_LENGTH
        and value.isprintable()
        and value == value.strip()
    )


def digest(sku: str) -> str:
    """A short stand-in for a SKU where only equality matters (an order's SKU filter in its
    list): 16 characters whatever the SKU, so 500 lines of long SKUs add 8 KB, not 500 KB."""
    return base64.urlsafe_b64encode(hashlib.sha256(sku.encode()).digest()[:12]).decode()
