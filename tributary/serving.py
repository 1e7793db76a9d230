"""Serving HTTP on a daemon thread: the one helper behind every local server (the Step Functions
endpoint, moto, the one endpoint of `tributary up`, the Athena and Glue facades, the control endpoint).

    server = serve_http(Handler, port=0, name="control")   # http.server handler, 127.0.0.1, a free port
    server = serve_in_thread(werkzeug_server, "moto")       # any socketserver server built elsewhere
    url_of(server)                                          # http://127.0.0.1:<the port it got>
    stop_serving(server)                                    # shutdown, close the socket, join the thread

Each server answers every request on its own daemon thread (`ThreadingHTTPServer`, `daemon_threads`),
so a request left hanging never keeps the process alive.
"""

from __future__ import annotations

import socketserver
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

Server = TypeVar("Server", bound=socketserver.BaseServer)

_threads: weakref.WeakKeyDictionary[socketserver.BaseServer, threading.Thread] = weakref.WeakKeyDictionary()


def http_server(
    handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """A threaded HTTP server bound to `host:port` (0: a free port), not yet serving."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_in_thread(server: Server, name: str) -> Server:
    """Start `server.serve_forever()` on a daemon thread named `name`; `stop_serving` ends it."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    _threads[server] = thread
    thread.start()
    return server


def serve_http(
    handler: type[BaseHTTPRequestHandler], port: int = 0, name: str = "http", host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """A threaded HTTP server on `host:port` answering on a daemon thread."""
    return serve_in_thread(http_server(handler, host, port), name)


def url_of(server: socketserver.BaseServer) -> str:
    """The server's base URL, with the port it was given (port 0 asks for a free one)."""
    address = server.server_address
    if not isinstance(address, tuple):
        raise ValueError(f"not an IP server: {address!r}")
    return f"http://{address[0]}:{address[1]}"


def stop_serving(server: socketserver.BaseServer) -> None:
    """Stop a server that `serve_in_thread` started: stop answering, release the port, wait for the
    serving thread (requests in flight on their own daemon threads are not waited for). A server
    that was never served is only closed (`shutdown()` would wait forever for its loop)."""
    thread = _threads.pop(server, None)
    if thread is not None:
        server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join()
