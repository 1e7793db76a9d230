"""An execution's history, as GetExecutionHistory returns it: events with an `id`, the
`previousEventId` of the event that led to it, a `timestamp` and one `<type>EventDetails` field."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any


def event_details_key(event_type: str) -> str:
    """`TaskStateEntered` → `stateEnteredEventDetails`, `MapIterationStarted` →
    `mapIterationStartedEventDetails`: the detail field GetExecutionHistory names for a type."""
    for suffix in ("StateEntered", "StateExited"):
        if event_type.endswith(suffix):
            return "state" + suffix[5:] + "EventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


# One encoder for every payload (json.dumps with options builds a new one each call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def payload_text(value: Any) -> str:
    """A JSON value as the compact text AWS shows in history and DescribeExecution."""
    return _ENCODER.encode(value)


class History:
    """The events of one execution, thread-safe (Parallel branches and Map iterations add to it)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def add(self, event_type: str, previous: int, details: dict[str, Any] | None = None) -> int:
        """Record an event after event `previous` (0 for none) and return its id."""
        with self._lock:
            event: dict[str, Any] = {
                "timestamp": self._now(),
                "type": event_type,
                "id": len(self.events) + 1,
                "previousEventId": previous,
            }
            if details is not None:
                event[event_details_key(event_type)] = details
            self.events.append(event)
            listeners = list(self.listeners) if self.listeners else None
        for listener in listeners or ():
            listener(event)
        return int(event["id"])

    @property
    def last_id(self) -> int:
        with self._lock:
            return len(self.events)
