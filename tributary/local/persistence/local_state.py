"""The folder where `tributary up` keeps its state (`.tributary/state/` by default):

lock                 held while a stack runs on the folder (a second `tributary up` is refused)
moto/state.json      which file holds each service; moto/<service>-….<generation>.pickle
executions/*.json    one per execution of the engine (start, then end with its history)
stack.pickle         what provisioning made of template.yaml (physical names, attributes), with a
                     fingerprint of template.yaml, samconfig.toml and the config environment
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import pickle
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tributary.local.persistence.executions import ExecutionJournal
from tributary.local.persistence.snapshots import MANIFEST, MotoStore, StateError, write_durably

LOGGER = logging.getLogger("tributary.local.persistence")
EVENT_DELIVERY_TIMEOUT = 30.0


class LocalState:
    def __init__(self, folder: Path, *, fresh: bool = False) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock: IO[str] | None = open(folder / "lock", "w")  # noqa: SIM115  held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            self._lock = None
            raise StateError(f"another `tributary up` is using {folder}") from None
        # A crash during the first provisioning leaves moto's state without the stack that explains
        # it: nothing had been handed to anyone yet, so it starts over.
        if fresh or ((self.moto_dir / MANIFEST).exists() and not self.stack_file.exists()):
            self.clear()
        self.journal = ExecutionJournal(folder / "executions")

    @property
    def moto_dir(self) -> Path:
        return self.folder / "moto"

    @property
    def stack_file(self) -> Path:
        return self.folder / "stack.pickle"

    @property
    def saved(self) -> bool:
        return self.stack_file.exists()

    def clear(self) -> None:
        shutil.rmtree(self.moto_dir, ignore_errors=True)
        shutil.rmtree(self.folder / "executions", ignore_errors=True)
        self.stack_file.unlink(missing_ok=True)

    def provisioned(
        self,
        root: Path,
        config_env: str,
        provision: Callable[[], Any],
        restored: bool,
        files: tuple[Path, ...] = (),
    ) -> Any:
        """The stack as provisioned before (moto's state restored), or provisioned now and saved.
        `files`: the template and config file (default root's template.yaml and samconfig.toml)."""
        fingerprint = _fingerprint(root, config_env, files)
        if restored and self.saved:
            try:
                saved = pickle.loads(self.stack_file.read_bytes())  # our own file
            except (ImportError, AttributeError, pickle.UnpicklingError) as exc:  # another version's classes
                raise StateError(
                    f"the stack saved in {self.folder} was written by another version of tributary ({exc}); "
                    "restart with --fresh to provision anew"
                ) from None
            if saved["fingerprint"] != fingerprint:
                raise StateError(
                    f"template.yaml, samconfig.toml or --config-env changed since the state in {self.folder} "
                    "was saved; restart with --fresh to provision anew (its objects, queues, tables and "
                    "runs are then dropped), or undo the change"
                )
            return saved["stack"]
        stack = provision()
        write_durably(
            self.stack_file, pickle.dumps({"fingerprint": fingerprint, "stack": stack}), sync_folder=True
        )
        return stack

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None


def _fingerprint(root: Path, config_env: str, files: tuple[Path, ...] = ()) -> str:
    digest = hashlib.sha256(config_env.encode())
    for path in files or (root / "template.yaml", root / "samconfig.toml"):
        digest.update(path.name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return digest.hexdigest()


def deliver_events_before_answers(store: MotoStore, bus: Any) -> Callable[[], None]:
    """Hold the answer to an S3 request whose change made an EventBridge event until the bus has
    delivered it (to the ingest queue, where it is saved before SQS answers): an acknowledged upload
    then never loses its event in a crash. Returns the undo (before the bus stops)."""
    from tributary.local.delivery.events import listen_to_s3

    emitted = threading.local()  # moto calls the S3 hook in the thread of the request

    def listener(event: dict[str, Any]) -> None:
        emitted.pending = True

    def before_answer() -> None:
        if getattr(emitted, "pending", False):
            emitted.pending = False
            bus.drain(EVENT_DELIVERY_TIMEOUT)

    unsubscribe = listen_to_s3(listener)
    store.before_answer = before_answer

    def undo() -> None:
        store.before_answer = None
        unsubscribe()

    return undo
