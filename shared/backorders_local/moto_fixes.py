"""A fix for moto (5.2.x): a refused TransactWriteItems must leave the table's stream alone.

moto applies a transaction's writes one by one and, when one is refused, rolls back by
putting a deep copy of each table (taken before the transaction) in place of the live
one. The copy has its own stream shard, so every shard iterator already handed out
keeps reading the *old* shard object: there it sees records for the writes that were
just rolled back (which DynamoDB would never emit), and it never sees a record written
afterwards. A stream consumer (our pumps, like Lambda's event source mapping) then
silently stops receiving that table's changes.

In this system a refused transaction is routine (a concurrent writer, a negative
adjustment beyond what is available, a stale stream image), so without this fix the
simulation reports orders never assigned and stock never offered to waiting orders.

The fix: on a refused transaction, drop the records the refused writes appended, and
give the restored table the live shard object back, so iterators keep working.
`apply()` installs it for the process (the local runtime and the tests call it).
"""

from __future__ import annotations

from moto.dynamodb.models import DynamoDBBackend

_original = DynamoDBBackend.transact_write_items


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict]) -> None:
    before = {}
    for item in transact_items:
        name = next(iter(item.values())).get("TableName")
        if name in self.tables and name not in before:
            table = self.tables[name]
            shard = table.stream_shard
            before[name] = (table, shard, len(shard.items) if shard is not None else 0)
    try:
        return _original(self, transact_items)
    except BaseException:
        for name, (table, shard, length) in before.items():
            if shard is None:
                continue
            del shard.items[length:]  # no record for a write that was rolled back
            restored = self.tables.get(name)
            if restored is not None and restored is not table:
                restored.stream_shard = shard  # the iterators handed out keep reading it
                shard.table = restored
        raise


def apply() -> None:
    """Install the fix (once; later calls change nothing)."""
    if DynamoDBBackend.transact_write_items is not _transact_write_items:
        DynamoDBBackend.transact_write_items = _transact_write_items
