"""moto's server, handling one request at a time.

Real DynamoDB serialises conflicting writes: of two transactions conditioned on the same item,
one commits and the other is cancelled. moto's threaded server checks a transaction's conditions
and then applies its writes without a lock between, so two racing transactions can both "win".
The contract tests race writers on purpose, so they need DynamoDB's semantics, not that gap:
this runs moto's own WSGI app (same request handling, same responses) behind one lock.

It also changes two things about moto's speed, nothing about its answers. Without them, a soak
(bench/src/soak.rs) measures moto's copying and sorting, not casebridge, and moto times out:

- Query: moto's Query reads and sorts every item of the table to find one partition's, so its
  cost grows with the table (a soak's table of a few thousand items made every Query several
  times slower). DynamoDB reads only the partition. `partition_query` hands moto's Query the
  partition's items instead of the table's (for an index: the items whose index key matches,
  found without sorting the table); matching, ordering, paging and limits are moto's own code,
  unchanged. Scans are left as they are.
- TransactWriteItems: moto deep-copies the whole table, its stream records included, once per
  item of every transaction, to restore it if the transaction is cancelled; its cost grows with
  everything the table ever held (a soak's moto ran at full CPU and grew by gigabytes).
  `small_rollback` keeps copies of just the items the transaction names and the stream's length, and restores
  those when moto cancels the transaction. The conditions, the writes and the cancellation
  reasons are moto's own code, unchanged.

usage: python moto_serialized.py HOST PORT
"""

import collections
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
import copy

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table


def partition_query(query):
    """moto's Table.query, given only the items of the partition (or index key) it asks for."""

    def partitioned(self, hash_key, *args, **kwargs):
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions")
        if index_name and conditions:
            # An index has no partitions here: the items whose index key matches, unsorted
            # (moto checks the key again and sorts what it returns).
            every = (
                (i for part in self.items.values() for i in part.values())
                if self.range_key_attr
                else iter(self.items.values())
            )
            partition = [
                i for i in every if all(i.attrs.get(a) and i.attrs[a] == v for a, v in conditions)
            ]
        elif index_name or hash_key is None or not self.range_key_attr:
            return query(self, hash_key, *args, **kwargs)
        else:
            partition = list(self.items[hash_key].values()) if hash_key in self.items else []
        # Safe to swap on the instance: requests run one at a time (the lock below).
        self.all_items = lambda: partition
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    return partitioned


Table.query = partition_query(Table.query)


class _TablesNotCopied:
    """`copy` for moto's DynamoDB backend module: a table is not copied (small_rollback keeps
    what a transaction can change); everything else is deep-copied as before."""

    @staticmethod
    def deepcopy(value, *args):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, *args)


def small_rollback(transact_write_items):
    """moto's TransactWriteItems, with the items it names restored when it is cancelled."""

    def transact(self, transact_items):
        saved = []
        for entry in transact_items:
            try:
                _, op = next(iter(entry.items()))
                table = self.tables.get(op.get("TableName"))
                attrs = op["Item"] if "Item" in op else op["Key"]
                h = DynamoType(attrs[table.hash_key_attr])
                r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            except (AttributeError, KeyError, StopIteration, TypeError):
                continue  # malformed: moto refuses it before writing anything
            part = table.items.get(h) if h in table.items else None
            old = part.get(r) if (part is not None and r is not None) else part
            shard = table.stream_shard
            saved.append((table, h, r, copy.deepcopy(old), len(shard.items) if shard else 0))
        try:
            return transact_write_items(self, transact_items)
        except (
            TransactionCanceledException,
            MultipleTransactionsException,
            MockValidationException,
        ):
            for table, h, r, old, streamed in reversed(saved):
                if r is None:
                    if old is None:
                        table.items.pop(h, None)
                    else:
                        table.items[h] = old
                elif old is None:
                    if h in table.items:
                        table.items[h].pop(r, None)
                        if not table.items[h]:
                            del table.items[h]
                else:
                    table.items[h][r] = old
                if table.stream_shard is not None:
                    del table.stream_shard.items[streamed:]
            raise

    return transact


dynamodb_models.copy = _TablesNotCopied
dynamodb_models.DynamoDBBackend.transact_write_items = small_rollback(
    dynamodb_models.DynamoDBBackend.transact_write_items
)


class FairLock:
    """One request at a time, in the order they arrived: each release hands the lock to the
    longest waiter and wakes only it. `threading.Lock` lets a waiting request be passed over
    again and again while others take the lock: under a soak's load some waited past the AWS
    SDK's 20-second stalled-stream limit while moto was answering others."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._held = False

    def __enter__(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # handed over: _held stays True

    def __exit__(self, *_: object) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = FairLock()

    def serialized(environ, start_response):
        with lock:
            # Materialise the body inside the lock: moto does its work while it is iterated.
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
