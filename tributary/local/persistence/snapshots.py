"""moto's state on disk, written before each mutating request is answered (group commit).

`MotoStore` keeps `<folder>/state.json` (the manifest: which file holds each service) and one pickle
per service (`<service>.<generation>.pickle`). A snapshot is taken with every mutating request
excluded (a shared/exclusive lock: requests share it, the snapshot takes it alone), then written
without the lock: new files, fsync, then the manifest replaced atomically (temp file, fsync, rename,
fsync of the folder). Only the services a request may have changed are pickled again.

`PersistingApp` is the WSGI middleware around moto's application: a request that may mutate runs
under the shared lock, marks its services dirty and gets a ticket; its response is sent only once a
snapshot at least that recent is durable. Requests that arrive while a snapshot is being written wait
for the next one, which then covers all of them (group commit). Reads (GET/HEAD, and JSON operations
named Get*, List*, Describe*, Scan, Query...) pass straight through. A long-polling ReceiveMessage is
served as short polls (each one holds the lock for a moment), so that it never holds up a snapshot.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from tributary.local.persistence import moto_state

LOGGER = logging.getLogger("tributary.local.persistence")
MANIFEST = "state.json"
FORMAT = 1
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_OPERATIONS = ("Get", "List", "Describe", "Scan", "Query", "BatchGet", "Head", "Search", "Filter")
# Services whose requests change another service's state (deliveries): marked dirty together.
_EFFECTS = {"s3": {"sqs", "sns"}, "sns": {"sqs"}, "events": {"sqs", "sns", "logs"}}
# Signing names that differ from moto's package names.
_PACKAGES = {"monitoring": "cloudwatch", "lambda": "awslambda", "email": "ses", "states": "stepfunctions"}
_POLL_INTERVAL = 0.05  # seconds between the short polls that serve a long poll


class StateError(RuntimeError):
    """The saved state cannot be used (another format or moto version, a damaged file)."""


class _SharedExclusive:
    """Many holders of the shared side at once, or one of the exclusive side; a waiting exclusive
    holder goes first (a stream of requests cannot starve the snapshot)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


@dataclass
class SnapshotStats:
    snapshots: int = 0
    seconds_locked: float = 0.0  # capturing, every mutation held up
    seconds_writing: float = 0.0  # writing and fsync, requests of the next snapshot already running
    bytes_written: int = 0
    last_state_bytes: int = 0  # size of the whole saved state after the last snapshot
    requests: int = 0  # mutating requests acknowledged


@dataclass
class MotoStore:
    folder: Path
    stats: SnapshotStats = field(default_factory=SnapshotStats)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = _SharedExclusive()
        self._cond = threading.Condition()
        self._dirty: set[str] | None = set()  # service names; None = every service
        self._requested = 0  # generation a new mutation needs
        self._durable = 0  # generation on disk
        self._failure: BaseException | None = None
        self._closing = False
        self._files: dict[str, str] = {}  # service key → file of the manifest on disk
        self._blobs: dict[str, set[str]] = {}  # service key → blob ids its file refers to
        self.blob_folder = self.folder / "blobs"
        self.blob_folder.mkdir(exist_ok=True)
        self._generation = 0
        self._thread: threading.Thread | None = None
        self.open = False  # requests are persisted only between start() and close()
        # Called in a write request's thread once its snapshot is durable, before it is answered.
        self.before_answer: Callable[[], None] | None = None

    # -- loading -----------------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return (self.folder / MANIFEST).exists()

    def load(self) -> int:
        """Restore the saved services into moto (freshly reset); how many services were restored."""
        manifest = self._read_manifest()
        if manifest is None:
            return 0
        import moto

        if manifest.get("format") != FORMAT or manifest.get("moto") != moto.__version__:
            raise StateError(
                f"the state in {self.folder} was saved by moto {manifest.get('moto')} (format "
                f"{manifest.get('format')}), this is moto {moto.__version__}: start with --fresh"
            )
        for key, name in manifest["services"].items():
            try:
                moto_state.restore(key, (self.folder / name).read_bytes(), self.blob_folder)
            except Exception as exc:
                raise StateError(f"cannot restore {key} from {self.folder / name}: {exc}") from exc
        self._files = dict(manifest["services"])
        self._blobs = {key: set(ids) for key, ids in manifest.get("blobs", {}).items()}
        referenced = set().union(*self._blobs.values()) if self._blobs else set()
        for orphan in self.blob_folder.iterdir():  # written by a snapshot a crash cut short
            if orphan.name not in referenced:
                orphan.unlink()
        self._generation = int(manifest["generation"])
        return len(self._files)

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads((self.folder / MANIFEST).read_text()))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise StateError(f"{self.folder / MANIFEST} is damaged: {exc}") from None

    # -- group commit ------------------------------------------------------------------------------
    def start(self) -> MotoStore:
        self._thread = threading.Thread(target=self._loop, name="moto-snapshots", daemon=True)
        self._thread.start()
        self.open = True
        return self

    def mark(self, services: set[str] | None) -> int:
        """Record that a mutation (already applied) touched these services; its ticket."""
        with self._cond:
            if services is None or self._dirty is None:
                self._dirty = None
            else:
                self._dirty |= services
            self._requested += 1
            self._cond.notify_all()
            return self._requested

    def wait(self, ticket: int) -> None:
        """Until a snapshot covering the ticket is durable (raises when snapshots fail)."""
        with self._cond:
            while self._durable < ticket and self._failure is None:
                self._cond.wait()
            if self._durable < ticket:
                raise StateError(f"the local state could not be saved: {self._failure}")
            self.stats.requests += 1

    def flush(self) -> None:
        with self._cond:
            ticket = self._requested
        if ticket:
            self.wait(ticket)

    def close(self) -> None:
        self.open = False
        with contextlib.suppress(StateError):
            self.flush()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closing and self._dirty == set():
                    self._cond.wait()
                if self._closing and self._dirty == set():
                    return
            try:
                self.snapshot()
            except BaseException as exc:  # a full disk: every waiting request gets an error
                LOGGER.exception("could not save the local state")
                with self._cond:
                    self._failure = exc
                    self._cond.notify_all()
                return

    def snapshot(self) -> None:
        """Capture the dirty services (and any new one) and make them durable."""
        started = time.perf_counter()
        with self.lock.exclusive():
            with self._cond:
                dirty, self._dirty = self._dirty, set()
                generation = self._requested
            backends = moto_state.in_use()
            keys = [
                key
                for key in backends
                if dirty is None or key not in self._files or moto_state.services_of(key) in dirty
            ]
            captured = {key: moto_state.capture(key, backends[key], self.blob_folder) for key in keys}
        locked = time.perf_counter()
        self._generation += 1
        files = dict(self._files)
        blobs = dict(self._blobs)
        written = 0
        for key, capture in captured.items():
            for blob, value in capture.new_blobs.items():  # written once, named by their content
                write_durably(self.blob_folder / blob, value, sync_folder=False)
                written += len(value)
            name = f"{moto_state.services_of(key)}-{key.rpartition(':')[2]}.{self._generation}.pickle"
            write_durably(self.folder / name, capture.data, sync_folder=False)
            files[key] = name
            blobs[key] = capture.blobs
            written += len(capture.data)
        if any(capture.new_blobs for capture in captured.values()):
            _sync_folder(self.blob_folder)
        import moto

        manifest = {
            "format": FORMAT,
            "moto": moto.__version__,
            "generation": self._generation,
            "services": files,
            "blobs": {key: sorted(ids) for key, ids in blobs.items()},
        }
        write_durably(self.folder / MANIFEST, json.dumps(manifest, indent=1).encode(), sync_folder=True)
        for key, name in self._files.items():
            if files[key] != name:
                (self.folder / name).unlink(missing_ok=True)
        referenced = set().union(*blobs.values()) if blobs else set()
        for previous in set().union(*self._blobs.values()) - referenced if self._blobs else set():
            (self.blob_folder / previous).unlink(missing_ok=True)
        self._files = files
        self._blobs = blobs
        done = time.perf_counter()
        self.stats.snapshots += 1
        self.stats.seconds_locked += locked - started
        self.stats.seconds_writing += done - locked
        self.stats.bytes_written += written
        self.stats.last_state_bytes = sum((self.folder / n).stat().st_size for n in files.values()) + sum(
            (self.blob_folder / b).stat().st_size for b in referenced
        )
        with self._cond:
            self._durable = max(self._durable, generation)
            self._cond.notify_all()


def write_durably(path: Path, data: bytes, *, sync_folder: bool) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    if sync_folder:
        _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- the middleware -------------------------------------------------------------------------------------
StartResponse = Callable[..., Any]


def _signing_service(environ: dict[str, Any]) -> str | None:
    """The service of a SigV4-signed request (its credential scope), else None."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    scope = ""
    if "Credential=" in authorization:
        scope = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    else:
        scope = (parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential") or [""])[0]
    parts = scope.split("/")
    return parts[3] if len(parts) >= 5 else None


def _operation(environ: dict[str, Any]) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return action[0] if action else None


def _services(environ: dict[str, Any]) -> set[str] | None:
    """The moto services a request may change (None: any)."""
    if str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
        return None
    signing = _signing_service(environ)
    if signing is None:
        return None
    service = _PACKAGES.get(signing, signing)
    return {service} | _EFFECTS.get(service, set())


def _is_read(environ: dict[str, Any], operation: str | None) -> bool:
    if environ.get("REQUEST_METHOD", "GET") in _READ_METHODS:
        return not str(environ.get("PATH_INFO", "")).startswith("/moto-api")
    return operation is not None and operation.startswith(_READ_OPERATIONS)


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return bytes(stream.read(length)) if length > 0 else b""


def _with_body(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    copy = dict(environ)
    copy["wsgi.input"] = io.BytesIO(body)
    copy["CONTENT_LENGTH"] = str(len(body))
    copy["wsgi.input_terminated"] = True
    return copy


@dataclass
class _Response:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def _call(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> _Response:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return _Response(started[0], list(started[1]), body)


class PersistingApp:
    """WSGI middleware: a mutating request is answered once its effect is on disk."""

    def __init__(self, app: Callable[..., Iterable[bytes]], store: MotoStore) -> None:
        self.app = app
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        operation = _operation(environ)
        if not self.store.open or _is_read(environ, operation):
            return self.app(environ, start_response)
        environ = _with_body(environ, _read_body(environ))  # read before taking the lock
        try:
            if operation == "ReceiveMessage":
                response = self._receive(environ)
            else:
                with self.store.lock.shared():
                    response = _call(self.app, environ)
                    ticket = self.store.mark(_services(environ))
                self.store.wait(ticket)
                before_answer = self.store.before_answer
                if before_answer is not None:
                    before_answer()
        except StateError as exc:
            headers = [("Content-Type", "text/plain")]
            response = _Response("503 Service Unavailable", headers, f"{exc}".encode())
        start_response(response.status, response.headers)
        return [response.body]

    def _receive(self, environ: dict[str, Any]) -> _Response:
        """A (long-polling) ReceiveMessage as a series of short polls; persisted when it received."""
        body = environ["wsgi.input"].getvalue()
        as_json = "json" in str(environ.get("CONTENT_TYPE", ""))
        params: dict[str, Any]
        if as_json:
            params = json.loads(body or b"{}")
        else:
            params = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        wait = params.get("WaitTimeSeconds")
        try:
            seconds = int(wait) if wait is not None else moto_state.long_poll_seconds(str(params["QueueUrl"]))
        except (KeyError, TypeError, ValueError):
            seconds = 0  # moto answers the request's error itself
        if 0 <= seconds <= 20:
            params["WaitTimeSeconds"] = 0 if as_json else "0"
            body = json.dumps(params).encode() if as_json else urlencode(params).encode()
        deadline = time.monotonic() + max(0, min(seconds, 20))
        while True:
            with self.store.lock.shared():
                response = _call(self.app, _with_body(environ, body))
            received = b"ReceiptHandle" in response.body
            if received or not response.status.startswith("200") or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_INTERVAL)
        if received:  # messages now in flight (receive count, visibility): on disk before they are seen
            self.store.wait(self.store.mark({"sqs"}))
        return response
