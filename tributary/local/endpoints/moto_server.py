"""A moto server on 127.0.0.1, reachable by this process and by child processes through AWS_ENDPOINT_URL.

With a `state_dir`, moto's state is restored from it at start and saved to it before each mutating
request is answered (`tributary.local.persistence.snapshots`).
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from tributary.local.persistence.snapshots import MotoStore, PersistingApp
from tributary.serving import serve_in_thread, stop_serving

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account: ARNs it builds use it


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """Owns one ThreadedMotoServer; `env()` is what a child process needs to reach it."""

    def __init__(self, port: int | None = None, region: str = REGION, state_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.region = region
        self.store = MotoStore(state_dir) if state_dir is not None else None
        self.restored = 0  # services restored from state_dir at start
        self._server: BaseWSGIServer | None = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        # Refuse a busy port: the reset below would otherwise empty whatever server answers there.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not busy
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                raise OSError(f"port {self.port} is already in use (another `tributary up`?)") from None
        app: Any = DomainDispatcherApplication(create_backend_app)
        if self.store is not None:
            app = PersistingApp(app, self.store)
        server = make_server("127.0.0.1", self.port, app, threaded=True, request_handler=MotoRequestHandler)
        self._server = serve_in_thread(server, "moto")
        self.reset()
        if self.store is not None:
            try:
                self.restored = self.store.load()
            except BaseException:
                self._shutdown()
                raise
            self.store.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            if self.store is not None:
                self.store.close()  # what was acknowledged is on disk; the reset below is in memory only
            self.reset()
            self._shutdown()

    def _shutdown(self) -> None:
        if self._server is not None:
            stop_serving(self._server)
            self._server = None

    def reset(self) -> None:
        # moto's backends are module globals of this process, shared by every server in it: a new
        # stack starts from nothing.
        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST"), timeout=30
        ).close()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self, extra_endpoints: Mapping[str, str] | None = None) -> dict[str, str]:
        """Variables that point boto3 and the AWS CLI at this server, with fake credentials.

        `extra_endpoints` maps a boto3 service id (e.g. "SFN") to another local endpoint: the
        service-specific AWS_ENDPOINT_URL_<ID> wins over AWS_ENDPOINT_URL in botocore.
        """
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # A stray ~/.aws profile must not redirect the local stack to a real account.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for service_id, url in (extra_endpoints or {}).items():
            env[f"AWS_ENDPOINT_URL_{service_id.upper()}"] = url
        return env

    def client(self, service: str) -> Any:
        """A boto3 client for this server, made once per service (loading a service model is slow;
        clients are thread-safe)."""
        with self._clients_lock:
            if service not in self._clients:
                session = boto3.session.Session()
                self._clients[service] = session.client(  # type: ignore[call-overload]
                    service,
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}),
                )
            return self._clients[service]
