"""moto's DynamoDB server, answering one request at a time.

Real DynamoDB applies the writes to one item one after another. moto's threaded server does
not: its TransactWriteItems restores a snapshot of the table when a condition fails, without a
lock, which can undo a concurrent winner's write. Serialising requests here gives the guarantee
DynamoDB gives, while our functions still race each other between their reads and writes.

Usage: python dynamodb_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


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
