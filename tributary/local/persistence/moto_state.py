"""moto's state, captured and restored. The ONLY module that reaches into moto's internals for
persistence (moto has no persistence of its own and no public API to save or load its backends):

- `BackendDict._instances`, moto's list of the service backends in use (what `moto-api/reset` empties),
  and the module globals that hold each BackendDict (`moto.sqs.models.sqs_backends`, ...);
- pickling its region backends, with reducers for the few objects pickle refuses (thread locks, which
  come back new and free; KMS private keys, kept as PKCS#8 DER) or gets wrong: moto's dict subclasses
  (S3's versioned key store shows only the latest version through `items()` and appends through
  `__setitem__`) are saved and restored as their raw dict content and attributes;
- S3 object bodies of 64 KiB or more are kept out of the pickle, in content-addressed blob files written
  once: an S3 `FakeKey`'s body is set only when it is made (moto never changes it afterwards: a new
  upload is a new FakeKey), so the blob id of each one is computed once and remembered (weakly);
- a queue's default long-poll time (`receive_message_wait_time_seconds`), for `long_poll_seconds`.

Everything else of the persistence layer works on the bytes and keys this module gives.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import pickle
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.base_backend import BackendDict

_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())
BLOB_MIN = 64 * 1024  # bodies at least this large are blob files
_blob_ids: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_restoring_from: list[Path] = []  # the blob folder while `restore` runs


def _fake_key_class() -> type:
    from moto.s3.models import FakeKey

    return FakeKey


def _set_key_state(obj: Any, state: tuple[dict[str, Any], str]) -> None:
    attributes, blob = state
    obj.__setstate__({**attributes, "value": (_restoring_from[-1] / blob).read_bytes()})
    _blob_ids[obj] = blob


@dataclass
class Captured:
    data: bytes  # the pickle
    blobs: set[str]  # blob ids it refers to
    new_blobs: dict[str, bytes] = field(default_factory=dict)  # those not yet on disk


def _new_lock() -> Any:
    return threading.Lock()


def _new_rlock() -> Any:
    return threading.RLock()


def _load_private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    return load_der_private_key(der, password=None)


def _new_instance(cls: Any) -> Any:
    return cls.__new__(cls)


def _set_raw_dict_state(obj: Any, state: tuple[dict[Any, Any], dict[str, Any]]) -> None:
    items, attributes = state
    dict.update(obj, items)
    obj.__dict__.update(attributes)


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, blob_folder: Path) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.blob_folder = blob_folder
        self.fake_key = _fake_key_class()
        self.blobs: set[str] = set()
        self.new_blobs: dict[str, bytes] = {}

    def _reduce_key(self, key: Any) -> Any:
        blob = _blob_ids.get(key)
        if blob is None or not (blob in self.new_blobs or (self.blob_folder / blob).exists()):
            try:
                value = key.value
            except ValueError:  # a deleted key's closed buffer: moto's own __getstate__ copes
                return NotImplemented
            blob = hashlib.blake2b(value, digest_size=20).hexdigest()
            if not (self.blob_folder / blob).exists():
                self.new_blobs[blob] = value
            _blob_ids[key] = blob
        self.blobs.add(blob)
        attributes = {k: v for k, v in key.__dict__.items() if k not in ("_value_buffer", "lock")}
        return _new_instance, (type(key),), (attributes, blob), None, None, _set_key_state

    def reducer_override(self, obj: Any) -> Any:  # called for objects pickle has no built-in way for
        if type(obj) is self.fake_key and int(getattr(obj, "contentsize", 0) or 0) >= BLOB_MIN:
            return self._reduce_key(obj)
        if isinstance(obj, dict) and type(obj).__module__.startswith("moto."):
            state = (dict(dict.items(obj)), dict(getattr(obj, "__dict__", {})))
            return _new_instance, (type(obj),), state, None, None, _set_raw_dict_state
        if isinstance(obj, _LOCK):
            return _new_lock, ()
        if isinstance(obj, _RLOCK):
            return _new_rlock, ()
        if type(obj).__name__.endswith("PrivateKey") and hasattr(obj, "private_bytes"):
            from cryptography.hazmat.primitives import serialization

            der = obj.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_private_key, (der,)
        return NotImplemented


def _key(backends: BackendDict[Any]) -> str:
    """`module:attribute` of the module global holding this BackendDict."""
    module = importlib.import_module(backends.backend.__module__)
    for package in (module.__name__, module.__name__.rpartition(".")[0]):
        for name, value in vars(importlib.import_module(package)).items():
            if value is backends:
                return f"{package}:{name}"
    raise LookupError(f"no module global holds the moto backends of {backends.backend.__name__}")


def _backends(key: str) -> BackendDict[Any]:
    module, _, name = key.partition(":")
    found = getattr(importlib.import_module(module), name)
    if not isinstance(found, BackendDict):
        raise TypeError(f"{key} is not a moto BackendDict")
    return found


# Services whose moto state is not kept. moto's Lambda holds nothing of the local stack (its functions
# run in the local Lambda runtime, provisioned from the template on every start) and cannot be pickled
# (weak references, lambdas): a request that reaches it must not make every later save fail.
NOT_KEPT = frozenset({"awslambda", "awslambda_simple"})


def in_use() -> dict[str, BackendDict[Any]]:
    """The backends in use, by key (what a snapshot holds), but those of NOT_KEPT."""
    instances: list[BackendDict[Any]] = list(vars(BackendDict)["_instances"])
    found = {_key(backends): backends for backends in instances}
    return {key: backends for key, backends in found.items() if services_of(key) not in NOT_KEPT}


def capture(key: str, backends: BackendDict[Any], blob_folder: Path) -> Captured:
    """One service's state in every account and region (call with every mutation excluded)."""
    state = {account: dict(regions.items()) for account, regions in backends.items()}
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, blob_folder)
    pickler.dump(state)
    return Captured(buffer.getvalue(), pickler.blobs, pickler.new_blobs)


def restore(key: str, data: bytes, blob_folder: Path) -> None:
    """Put a captured service state back (into freshly reset backends)."""
    backends = _backends(key)
    _restoring_from.append(blob_folder)
    try:
        state: dict[str, dict[str, Any]] = pickle.loads(data)  # our own file, in our own folder
    finally:
        _restoring_from.pop()
    for account, regions in state.items():
        account_backends = backends[account]  # creates it, and registers the BackendDict as in use
        for region, backend in regions.items():
            account_backends[region] = backend


def services_of(key: str) -> str:
    """The service a key belongs to: `moto.sqs.models:sqs_backends` → `sqs`."""
    return key.split(".")[1] if key.startswith("moto.") else key


def long_poll_seconds(queue_url: str) -> int:
    """A queue's ReceiveMessageWaitTimeSeconds (the wait of a ReceiveMessage that names none); 0 when
    the queue is not found (moto then answers the error itself)."""
    from moto.sqs.models import sqs_backends

    parts = queue_url.rstrip("/").split("/")
    if len(parts) < 2:
        return 0
    account, name = parts[-2], parts[-1]
    for backend in sqs_backends[account].values():
        queue = backend.queues.get(name)
        if queue is not None:
            return int(getattr(queue, "receive_message_wait_time_seconds", 0) or 0)
    return 0
