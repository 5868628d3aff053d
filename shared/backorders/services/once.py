"""Creating a record its caller names (an order id, a handover id, a GRN ref, ...) once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from backorders.adapters.dynamo import WriteRefused, with_retries
from backorders.domain.errors import Conflict, RetryableConflict

Stored = TypeVar("Stored")
Answer = TypeVar("Answer")


def create_once(
    *,
    read: Callable[[], Stored | None],
    same: Callable[[Stored], bool],
    conflict: Callable[[Stored], Conflict],
    create: Callable[[], Answer],
    replay: Callable[[Stored], Answer],
) -> Answer:
    """Create the record, or answer as the first time when the same request comes again.

    - `read()`: the stored record, or None.
    - `same(stored)`: whether it was stored from this very request (its body's fingerprint).
    - `conflict(stored)`: the refusal when the name was used for something else.
    - `create()`: builds and commits the writes; the first creates the record only if absent.
    - `replay(stored)`: the answer for a repeat (it may finish what the first left).

    When the creation is refused because the record now exists (a concurrent request, or
    our own write whose answer was lost), it reads again and answers as for a repeat.
    Concurrent writers elsewhere (`RetryableConflict`) make the whole step run again.
    """

    def attempt() -> Answer:
        stored = read()
        if stored is None:
            try:
                return create()
            except WriteRefused as refused:
                if not refused.failed(0):
                    raise
                stored = read()
                if stored is None:  # created and deleted since: start again
                    raise RetryableConflict(str(refused)) from refused
        if not same(stored):
            raise conflict(stored)
        return replay(stored)

    return with_retries(attempt)
