"""moto's server, handling one request at a time.

Real DynamoDB serialises conflicting writes: of two transactions conditioned on the same item,
one commits and the other is cancelled. moto's threaded server checks a transaction's conditions
and then applies its writes without a lock between, so two racing transactions can both "win".
The contract tests race writers on purpose, so they need DynamoDB's semantics, not that gap:
this runs moto's own WSGI app (same request handling, same responses) behind one lock.

usage: python moto_serialized.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # Materialise the body inside the lock: moto does its work while it is iterated.
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
