"""The one HTTP server helper (tributary/serving.py) behind every local server, and a state folder
saved by a version of tributary whose modules have since moved."""

from __future__ import annotations

import pickle
import socket
import sys
import threading
import types
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.persistence.local_state import LocalState
from tributary.local.persistence.snapshots import MANIFEST, StateError
from tributary.serving import http_server, serve_http, stop_serving, url_of


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from {threading.current_thread().name}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _port_is_free(port: int) -> bool:
    """Nothing listens on the port: a new server may bind it (connections left in TIME_WAIT by the
    requests served do not count, as for the servers, which reuse addresses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_serve_http_answers_on_a_daemon_thread_and_stop_releases_the_port() -> None:
    server = serve_http(Hello, name="hello-test")
    url = url_of(server)
    port = server.server_address[1]
    assert url == f"http://127.0.0.1:{port}"
    serving = [t for t in threading.enumerate() if t.name == "hello-test"]
    assert len(serving) == 1 and serving[0].daemon
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read().startswith(b"hello from")
    stop_serving(server)
    assert not serving[0].is_alive()
    assert _port_is_free(port)
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def test_a_server_never_served_is_closed_without_waiting() -> None:
    server = http_server(Hello)
    port = server.server_address[1]
    done = threading.Event()
    threading.Thread(target=lambda: (stop_serving(server), done.set()), daemon=True).start()
    assert done.wait(5), "stop_serving waited for a loop that never ran"
    assert _port_is_free(port)


def test_moto_server_stops_through_the_helper_and_frees_its_port() -> None:
    aws = MotoServer().start()
    port = aws.port
    assert aws.client("sqs").list_queues().get("QueueUrls", []) == []
    aws.stop()
    assert _port_is_free(port)


def test_a_stack_saved_by_another_version_asks_for_fresh(tmp_path: Path) -> None:
    """A stack.pickle naming a module that no longer exists (modules were moved) is refused with a
    message saying what to do, not a traceback."""
    root = tmp_path / "app"
    root.mkdir()
    (root / "template.yaml").write_text("Resources: {}\n")
    gone = types.ModuleType("tributary_module_since_moved")
    exec("class ProvisionedStack:\n    pass\n", gone.__dict__)
    sys.modules[gone.__name__] = gone
    try:
        stale = pickle.dumps({"fingerprint": "x", "stack": gone.ProvisionedStack()})
    finally:
        del sys.modules[gone.__name__]
    state = LocalState(tmp_path / "state")
    try:
        state.moto_dir.mkdir()
        (state.moto_dir / MANIFEST).write_text("{}")
        state.stack_file.write_bytes(stale)
        with pytest.raises(StateError, match=r"another version of tributary.*--fresh"):
            state.provisioned(root, "default", lambda: {"made": 1}, restored=True)
    finally:
        state.close()
