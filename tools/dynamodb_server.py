"""moto's DynamoDB server, answering one request at a time.

Real DynamoDB applies the writes to one item one after another. moto's threaded server does
not: its TransactWriteItems restores a snapshot of the table when a condition fails, without a
lock, which can undo a concurrent winner's write. Serialising requests here gives the guarantee
DynamoDB gives, while our functions still race each other between their reads and writes.

That snapshot is also slow: moto deep-copies the whole table once for every item of a
transaction, so a transaction's cost grows with the table (0.15 s at 1,000 items, 0.5-0.9 s at
6,000 here), and late in `make test`, with every test's users in the one table, a login's
transaction could miss the SDK's timeouts. Here a transaction snapshots only the items it
touches and puts them back if it is cancelled: the same all-or-nothing, at a cost that does
not grow with the table.

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


class _TablesKept:
    """`copy` as moto's transaction sees it: whole tables are not copied (they are kept, and the
    touched items restored instead); anything else is copied as usual."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _item_key(table, op):
    if "Key" in op:
        return op["Key"]
    attrs = op.get("Item", {})
    return {name: attrs[name] for name in (table.hash_key_attr, table.range_key_attr) if name and name in attrs}


def _transact_write_items(self, transact_items):
    touched = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        name = op.get("TableName")
        if name not in self.tables:
            continue
        key = _item_key(self.tables[name], op)
        try:
            before = self.get_item(name, key)
        except Exception:  # a malformed key: moto refuses the transaction before any write
            continue
        touched.append((name, key, copy.deepcopy(before)))
    # Requests are serialised (below), so nothing else runs while the module's `copy` is swapped.
    dynamodb_models.copy = _TablesKept
    try:
        return _moto_transact_write_items(self, transact_items)
    except Exception:
        for name, key, before in reversed(touched):
            if before is None:
                self.delete_item(name, key)
            else:
                self.put_item(name, before.to_json()["Attributes"])
        raise
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = _transact_write_items


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    moto = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serialised(environ, start_response):
        with one_at_a_time:
            # Drain the answer inside the lock: the request is done when its body is built.
            return list(moto(environ, start_response))

    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
