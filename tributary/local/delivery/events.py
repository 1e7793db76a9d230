"""EventBridge, locally: S3 "Object Created"/"Object Deleted" events from buckets with EventBridge
notifications, matched against the template's rules and delivered to their targets.

How uploads are noticed: moto runs in this process, and its S3 backend already calls one function
(`moto.s3.notifications._send_event_bridge_message`) whenever an object of a bucket with EventBridge
notifications changes, whoever made the request (boto3, the AWS CLI, a handler). We replace that
function: every PUT, POST, copy, multipart completion and delete is seen at once, with the object's
real size, ETag and version id, at no polling cost. (Polling ListObjectVersions would add latency and
miss objects overwritten between two polls.) The event itself is built here, in the shape the S3 user
guide documents, and matched by `event_patterns` (moto has no pattern matching API).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tributary.local.delivery.event_patterns import matches

LOGGER = logging.getLogger("tributary.local.delivery.events")

_REASONS = {
    "Put": "PutObject",
    "Post": "POST Object",
    "Copy": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
    "Delete": "DeleteObject",
    "DeleteMarkerCreated": "DeleteObject",
}
_sequencer = itertools.count(0x617F08299329D189)


def s3_event(
    event_name: str,
    bucket: str,
    region: str,
    account: str,
    key: str,
    size: int,
    etag: str,
    version_id: str | None,
) -> dict[str, Any] | None:
    """The EventBridge event S3 sends for `event_name` (`s3:ObjectCreated:Put`, ...), or None for
    kinds this local stack does not emit."""
    _, kind, action = ([*event_name.split(":"), "", ""])[:3]
    if kind == "ObjectCreated":
        detail_type = "Object Created"
    elif kind == "ObjectRemoved":
        detail_type = "Object Deleted"
    else:
        return None
    obj: dict[str, Any] = {"key": key, "sequencer": f"{next(_sequencer):X}"}
    if kind == "ObjectCreated":
        obj = {"key": key, "size": size, "etag": etag.strip('"'), "sequencer": obj["sequencer"]}
    if version_id and version_id != "null":
        obj["version-id"] = version_id
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account,
        "source-ip-address": "127.0.0.1",
        "reason": _REASONS.get(action, action),
    }
    if kind == "ObjectRemoved":
        detail["deletion-type"] = (
            "Delete Marker Created" if action == "DeleteMarkerCreated" else "Permanently Deleted"
        )
    return aws_event("aws.s3", detail_type, detail, region, account, [f"arn:aws:s3:::{bucket}"])


def aws_event(
    source: str, detail_type: str, detail: dict[str, Any], region: str, account: str, resources: list[str]
) -> dict[str, Any]:
    """An event as an AWS service puts it on the default bus (a new id, the time now)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


# -- input transformation of targets ----------------------------------------------------------------
def _path(event: Any, path: str) -> Any:
    """A value at a simple JSONPath (`$`, `$.detail.object.key`); None when absent."""
    value = event
    for part in [p for p in re.split(r"\.|\[(\d+)\]", path.lstrip("$")) if p]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def target_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """What a target receives: the event, or its Input, InputPath or InputTransformer result."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        return json.dumps(_path(event, target["InputPath"]))
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(event)
    values = {name: _path(event, path) for name, path in (transformer.get("InputPathsMap") or {}).items()}
    template = str(transformer.get("InputTemplate", ""))

    as_json = template.lstrip().startswith(("{", "["))
    out: list[str] = []
    in_string = False
    position = 0
    for match in re.finditer(r'\\.|"|<([\w.-]+)>', template):
        out.append(template[position : match.start()])
        position = match.end()
        token, name = match.group(0), match.group(1)
        if token == '"':
            in_string = not in_string
        if name is None or (name not in values and name != "aws.events.event.json"):
            out.append(token)
            continue
        value = event if name == "aws.events.event.json" else values[name]
        if in_string:  # inside a JSON string: the text itself, escaped for the string
            text = value if isinstance(value, str) else json.dumps(value)
            out.append(json.dumps(text)[1:-1])
        else:
            out.append(json.dumps(value) if as_json else str(value))
    out.append(template[position:])
    return "".join(out)


# -- the bus -----------------------------------------------------------------------------------------
@dataclass
class Rule:
    name: str
    pattern: str  # JSON
    targets: list[dict[str, Any]]
    enabled: bool = True


Deliver = Callable[[str, str], None]  # (target ARN, input text)


@dataclass
class DeliveryRecord:
    rule: str
    target: str
    event_id: str
    ok: bool
    error: str = ""


@dataclass
class EventBus:
    """Rules of the default bus; events put on it are matched and delivered on a thread of its own."""

    client_factory: Any
    deliverers: dict[str, Deliver] = field(default_factory=dict)  # ARN service → deliverer
    rules: list[Rule] = field(default_factory=list)
    deliveries: list[DeliveryRecord] = field(default_factory=list)
    _queue: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="eventbridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

    def put(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every event put so far has been delivered."""
        done = threading.Event()
        self._queue.put({"__drain__": done})
        done.wait(timeout)

    def _loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            if "__drain__" in event:
                event["__drain__"].set()
                continue
            try:
                self.deliver(event)
            except Exception:  # one bad event must not stop the bus
                LOGGER.exception("event delivery failed")

    def matches(self, rule: Rule, event: dict[str, Any]) -> bool:
        return matches(json.loads(rule.pattern), event)

    def deliver(self, event: dict[str, Any]) -> None:
        for rule in self.rules:
            if not rule.enabled or not self.matches(rule, event):
                continue
            for target in rule.targets:
                self._deliver_to(rule, target, event)

    def _deliver_to(self, rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = str(target["Arn"])
        service = arn.split(":")[2]
        deliverer = self.deliverers.get(service)
        try:
            if deliverer is None:
                raise ValueError(f"targets of service {service} are not emulated")
            deliverer(arn, target_input(target, event))
            self.deliveries.append(DeliveryRecord(rule.name, arn, event["id"], True))
        except Exception as exc:
            LOGGER.warning("rule %s: delivery to %s failed: %s", rule.name, arn, exc)
            self.deliveries.append(DeliveryRecord(rule.name, arn, event["id"], False, str(exc)))
            dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dead_letter and "sqs" in self.deliverers:
                self.deliverers["sqs"](dead_letter, json.dumps(event))


# -- the S3 hook ----------------------------------------------------------------------------------------
_listeners: list[Callable[[dict[str, Any]], None]] = []
_hook_lock = threading.Lock()


def _on_s3_change(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    # Runs inside moto's request handling: build the event and hand it over, never raise.
    try:
        event = s3_event(
            str(getattr(event_name, "value", event_name)),  # moto passes an Enum of the event names
            bucket.name,
            bucket.region_name,
            account_id,
            key.name,
            int(getattr(key, "size", 0) or 0),
            str(getattr(key, "etag", "") or ""),
            getattr(key, "version_id", None),
        )
    except Exception:
        LOGGER.exception("could not build the S3 event")
        return
    if event is None:
        return
    for listener in list(_listeners):
        listener(event)


def listen_to_s3(listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Call `listener` with every S3 EventBridge event of this process; returns the unsubscribe."""
    from moto.s3 import notifications

    with _hook_lock:
        notifications._send_event_bridge_message = _on_s3_change
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _hook_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe
