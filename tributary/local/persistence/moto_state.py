"""moto's state, captured and restored. The ONLY module that reaches into moto's internals for
persistence (moto has no persistence of its own and no public API to save or load its backends):

- `BackendDict._instances`, moto's list of the service backends in use (what `moto-api/reset` empties),
  and the module globals that hold each BackendDict (`moto.sqs.models.sqs_backends`, ...);
- pickling its region backends, with reducers for the few objects pickle refuses (thread locks, which
  come back new and free; KMS private keys, kept as PKCS#8 DER) or gets wrong: moto's dict subclasses
  (S3's versioned key store shows only the latest version through `items()` and appends through
  `__setitem__`) are saved and restored as their raw dict content and attributes;
- a queue's default long-poll time (`receive_message_wait_time_seconds`), for `long_poll_seconds`.

Everything else of the persistence layer works on the bytes and keys this module gives.
"""

from __future__ import annotations

import importlib
import io
import pickle
import threading
from typing import Any

from moto.core.base_backend import BackendDict

_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())


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
    def reducer_override(self, obj: Any) -> Any:  # called for objects pickle has no built-in way for
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


def in_use() -> dict[str, BackendDict[Any]]:
    """The backends in use, by key (what a snapshot holds)."""
    instances: list[BackendDict[Any]] = list(vars(BackendDict)["_instances"])
    return {_key(backends): backends for backends in instances}


def capture(key: str, backends: BackendDict[Any]) -> bytes:
    """One service's state in every account and region (call with every mutation excluded)."""
    state = {account: dict(regions.items()) for account, regions in backends.items()}
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    return buffer.getvalue()


def restore(key: str, data: bytes) -> None:
    """Put a captured service state back (into freshly reset backends)."""
    backends = _backends(key)
    state: dict[str, dict[str, Any]] = pickle.loads(data)  # our own file, in our own folder
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
