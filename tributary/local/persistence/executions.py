"""Executions of the Step Functions engine on disk: one JSON file per execution, written (atomically,
fsync'd) when the execution starts, before StartExecution answers, and again when it ends, with its
result and its history. On restart the ended ones are shown again as they were, and each one that
had not ended is started again from its input under the same name (`StepFunctionsBackend.restore`)."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from tributary.local.persistence.snapshots import write_durably
from tributary.states.server.models import Execution


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _decode(value: dict[str, Any]) -> Any:
    if set(value) == {"$datetime"}:
        return datetime.fromisoformat(value["$datetime"])
    return value


class ExecutionJournal:
    """The `ExecutionRecorder` of `StepFunctionsBackend`, in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._resumed: dict[str, int] = {}  # arn → times started again after a restart

    def _path(self, arn: str) -> Path:
        return self.folder / f"{hashlib.sha256(arn.encode()).hexdigest()[:40]}.json"

    def _write(self, record: dict[str, Any]) -> None:
        path = self._path(record["arn"])
        data = json.dumps(record, default=_encode, ensure_ascii=False).encode()
        with self._lock:
            write_durably(path, data, sync_folder=True)

    @staticmethod
    def _identity(execution: Execution) -> dict[str, Any]:
        """What both records of an execution hold: enough to start it again after a crash."""
        return {
            "arn": execution.arn,
            "name": execution.name,
            "state_machine_arn": execution.run.state_machine_arn,
            "input": execution.input,
            "start_date": execution.start_date,
        }

    def started(self, execution: Execution, *, resumed: int = 0) -> None:
        self._resumed[execution.arn] = resumed
        self._write({**self._identity(execution), "status": "RUNNING", "resumed": resumed})

    def finished(self, execution: Execution) -> None:
        self._write(
            {
                **self._identity(execution),
                # From the engine's run: the execution itself shows its end only once this is written.
                "status": execution.run.status,
                "stop_date": execution.run.stop_date,
                "output": execution.run.output,
                "error": execution.run.error,
                "cause": execution.run.cause,
                "events": execution.events,
                "resumed": self._resumed.get(execution.arn, 0),
            }
        )

    def records(self) -> list[dict[str, Any]]:
        """Every execution saved, oldest first."""
        records = []
        for path in self.folder.glob("*.json"):
            records.append(json.loads(path.read_text(), object_hook=_decode))
        return sorted(records, key=lambda r: r["start_date"])
