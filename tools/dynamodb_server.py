"""moto's DynamoDB server, answering one request at a time.

Real DynamoDB applies the writes to one item one after another. moto's threaded server does
not: its TransactWriteItems restores a snapshot of the table when a condition fails, without a
lock, which can undo a concurrent winner's write. Serialising requests here gives the guarantee
DynamoDB gives, while our functions still race each other between their reads and writes.

moto takes that snapshot as a deep copy of the whole table, for every item of every
transaction: a join (three items) cost 22 ms on a table of 300 items and 245 ms on one of 3,000,
so `make test` slowed down as its table filled. With requests served one at a time nothing
else can change the table between the snapshot and a rollback, so a snapshot of the items the
transaction names is enough: that is what `snapshot_only_the_items_written` makes moto take.

Usage: python dynamodb_server.py HOST PORT
"""

import copy
import os
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class _TablesKeptInPlace:
    """`copy` as moto's DynamoDB backend sees it: tables are not copied (the rollback below
    restores what a transaction wrote), everything else is."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def snapshot_only_the_items_written():
    transact_write_items = DynamoDBBackend.transact_write_items
    dynamodb_models.copy = _TablesKeptInPlace()

    def with_item_rollback(self, transact_items):
        snapshots = []
        for entry in transact_items:
            try:
                ((kind, operation),) = entry.items()
                table = self.get_table(operation["TableName"])
                key = operation["Item"] if kind == "Put" else operation["Key"]
                hash_key, range_key = self.get_keys_value(table, key)
            except Exception:
                # moto refuses such an entry itself, and writes nothing for it.
                continue
            item = table.get_item(hash_key, range_key)
            snapshots.append((table, hash_key, range_key, copy.deepcopy(item)))
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            # The first snapshot of a key is its state before the transaction: restore it last.
            for table, hash_key, range_key, item in reversed(snapshots):
                items = table.items[hash_key] if range_key is not None else table.items
                slot = range_key if range_key is not None else hash_key
                if item is None:
                    items.pop(slot, None)
                else:
                    items[slot] = item
            raise

    DynamoDBBackend.transact_write_items = with_item_rollback


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    snapshot_only_the_items_written()
    moto = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serialised(environ, start_response):
        with one_at_a_time:
            # Drain the answer inside the lock: the request is done when its body is built.
            return list(moto(environ, start_response))

    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
