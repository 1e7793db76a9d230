"""The service behind the local Step Functions endpoint: state machines and their executions, held
in memory, executions run by the engine on threads of their own. The wire protocol is in
`protocol.py`; this module knows nothing of HTTP.

Executions can outlive the process: with a `recorder`, each STANDARD execution is recorded when it
starts (before StartExecution answers) and when it ends; `restore` takes those records back after a
restart (ended executions as they were, unfinished ones started again from their input)."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol, cast

from tributary.states.clock import Clock, RealClock, VirtualClock
from tributary.states.errors import DefinitionError
from tributary.states.execution import Execution as EngineExecution
from tributary.states.mock_config import MockConfig, MockIntegration, split_test_case
from tributary.states.server import api_errors
from tributary.states.server.models import Execution, StateMachine
from tributary.states.service_integrations import CallbackStore, Integration, TaskTokenError
from tributary.states.state import load_machine
from tributary.states.validation import Diagnostic, diagnose, invalid_definition_message

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
STATE_MACHINE_TYPES = ("STANDARD", "EXPRESS")
EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
MAX_NAME_LENGTH = 80
STOP_GRACE_SECONDS = 5.0
# On the virtual clock, the real seconds a task token waits for a worker (per timeout or heartbeat
# window, and never more than that window) before virtual time jumps to its end: long enough for a
# worker polling a queue, or a person with the AWS CLI, to answer; 0 makes callback timeouts instant.
DEFAULT_PATIENCE = 60.0
# Characters AWS refuses in state machine and execution names.
_INVALID_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def _now() -> datetime:
    return datetime.now(UTC)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH or _INVALID_NAME.search(name):
        raise api_errors.InvalidName(f"Invalid Name: '{name}'")
    return name


class ExecutionRecorder(Protocol):
    """Where executions are kept across restarts (the local stack's journal)."""

    def started(self, execution: Execution, *, resumed: int = 0) -> None: ...

    def finished(self, execution: Execution) -> None: ...


class FinishedRun:
    """An execution that had ended before a restart, as recorded: it answers Describe, List and
    GetExecutionHistory in place of the engine's run."""

    done = True

    def __init__(self, record: dict[str, Any]) -> None:
        self.arn: str = record["arn"]
        self.name: str = record["name"]
        self.state_machine_arn: str = record["state_machine_arn"]
        self.status: str = record["status"]
        self.start_date: datetime = record["start_date"]
        self.stop_date: datetime | None = record.get("stop_date")
        self.output: str | None = record.get("output")
        self.error: str | None = record.get("error")
        self.cause: str | None = record.get("cause")
        self.history = SimpleNamespace(events=list(record.get("events", [])))

    def wait(self, timeout: float | None = None) -> bool:
        return True

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        return None


@dataclass
class RecordedExecution(Execution):
    """An execution whose end is shown only once it is recorded: until then it is RUNNING, so that no
    client sees an end that a crash could take back (the execution would then run again)."""

    recorded: threading.Event = field(default_factory=threading.Event)

    def _ended(self) -> bool:
        return self.recorded.is_set()

    @property
    def status(self) -> str:
        return self.run.status if self._ended() else "RUNNING"

    @property
    def stop_date(self) -> datetime | None:
        return self.run.stop_date if self._ended() and self.run.done else None

    @property
    def output(self) -> str | None:
        return self.run.output if self._ended() else None

    @property
    def error(self) -> str | None:
        return self.run.error if self._ended() else None

    @property
    def cause(self) -> str | None:
        return self.run.cause if self._ended() else None


def _wait(execution: Execution, timeout: float | None) -> None:
    """Until the execution has ended (and, when recorded, its end is on disk)."""
    execution.run.wait(timeout)
    if isinstance(execution, RecordedExecution):
        execution.recorded.wait(timeout)


def _page(items: list[Any], max_results: int | None, next_token: str | None) -> tuple[list[Any], str | None]:
    """One page of `items` and the token of the next page (an opaque offset)."""
    start = 0
    if next_token:
        try:
            start = int(base64.urlsafe_b64decode(next_token.encode()).decode())
        except ValueError:
            raise api_errors.ValidationException(f"Invalid nextToken: {next_token}") from None
    size = max_results if max_results and max_results > 0 else 100
    end = start + min(size, 1000)
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


class StepFunctionsBackend:
    """State machines and executions of one local account and region.

    `integrations` serves Task states (the local stack passes real ones); with `mock_config`, the
    states its test case names are answered from the MockConfigFile instead, the rest fall through
    to `integrations`. The test case is the `#TestCase` suffix of the ARN given to StartExecution,
    or `test_case`. Executions run on a virtual clock unless `real_time`; `patience` is how long
    (real seconds) a virtual-clock execution gives a worker to answer a task token (SendTaskSuccess,
    SendTaskFailure or SendTaskHeartbeat) before virtual time jumps to the task's timeout or
    heartbeat deadline (never longer than that timeout or heartbeat itself). Wait states and retry
    back-off stay instant whatever the patience.
    """

    def __init__(
        self,
        integrations: Integration | None = None,
        *,
        mock_config: MockConfig | str | Path | None = None,
        test_case: str | None = None,
        real_time: bool = False,
        patience: float = DEFAULT_PATIENCE,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        if isinstance(mock_config, str | Path):
            mock_config = MockConfig.load(mock_config)
        self.mock_config = mock_config
        self.test_case = test_case
        self.integrations = integrations
        self.real_time = real_time
        self.patience = patience
        self.region = region
        self.account = account
        self.callbacks = CallbackStore()
        self.recorder: ExecutionRecorder | None = None
        self._lock = threading.RLock()
        self._machines: dict[str, StateMachine] = {}
        self._executions: dict[str, Execution] = {}

    # -- state machines ---------------------------------------------------------------------------

    def _machine_arn(self, name: str) -> str:
        return f"arn:aws:states:{self.region}:{self.account}:stateMachine:{name}"

    def validate_definition(
        self, definition: str, machine_type: str = "STANDARD", *, warnings: bool = False
    ) -> list[Diagnostic]:
        return diagnose(definition, machine_type, warnings=warnings)

    def _check_definition(self, definition: Any, machine_type: str) -> None:
        if not isinstance(definition, str):
            raise api_errors.InvalidDefinition(
                "Invalid State Machine Definition: definition must be a string"
            )
        diagnostics = diagnose(definition, machine_type)
        if diagnostics:
            raise api_errors.InvalidDefinition(invalid_definition_message(diagnostics))
        try:  # what the engine loads it into: a machine it can start
            load_machine(definition)
        except DefinitionError as exc:
            raise api_errors.InvalidDefinition(f"Invalid State Machine Definition: '{exc}'") from None

    def create_state_machine(
        self, name: str, definition: str, role_arn: str = "", machine_type: str = "STANDARD", tags: Any = ()
    ) -> StateMachine:
        check_name(name)
        if machine_type not in STATE_MACHINE_TYPES:
            raise api_errors.ValidationException(f"Invalid type: {machine_type}")
        self._check_definition(definition, machine_type)
        arn = self._machine_arn(name)
        with self._lock:
            existing = self._machines.get(arn)
            if existing is not None:
                # AWS: the same request again is idempotent, a different one is refused.
                if (existing.definition, existing.role_arn, existing.machine_type) == (
                    definition,
                    role_arn,
                    machine_type,
                ):
                    return existing
                raise api_errors.StateMachineAlreadyExists(f"State Machine Already Exists: '{arn}'")
            machine = StateMachine(arn, name, definition, role_arn, machine_type, _now(), list(tags or []))
            self._machines[arn] = machine
            return machine

    def describe_state_machine(self, arn: str) -> StateMachine:
        with self._lock:
            machine = self._machines.get(split_test_case(arn)[0])
        if machine is None:
            self._check_arn(arn, "stateMachine")
            raise api_errors.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        return machine

    def list_state_machines(
        self, max_results: int | None = None, next_token: str | None = None
    ) -> tuple[list[StateMachine], str | None]:
        with self._lock:
            machines = sorted(self._machines.values(), key=lambda m: m.creation_date)
        return _page(machines, max_results, next_token)

    def update_state_machine(
        self, arn: str, *, definition: str | None = None, role_arn: str | None = None
    ) -> StateMachine:
        machine = self.describe_state_machine(arn)
        if definition is None and role_arn is None:
            raise api_errors.ValidationException("Either the definition or the roleArn must be specified")
        if definition is not None:
            self._check_definition(definition, machine.machine_type)
        with self._lock:
            if definition is not None:
                machine.definition = definition
            if role_arn is not None:
                machine.role_arn = role_arn
            machine.update_date = _now()
            machine.revision_id = uuid.uuid4().hex
        return machine

    def delete_state_machine(self, arn: str) -> None:
        self._check_arn(arn, "stateMachine")
        with self._lock:
            self._machines.pop(split_test_case(arn)[0], None)

    def _check_arn(self, arn: str, resource: str) -> None:
        if not isinstance(arn, str) or not re.match(rf"^arn:aws[\w-]*:states:[\w-]*:\d*:{resource}:", arn):
            raise api_errors.InvalidArn(f"Invalid Arn: '{arn}'")

    # -- executions -------------------------------------------------------------------------------

    def start_execution(
        self, state_machine_arn: str, *, name: str | None = None, execution_input: str | None = None
    ) -> Execution:
        execution, created = self._new_execution(state_machine_arn, name, execution_input)
        if created:
            self._launch(execution)
        return execution  # when not created: the running execution this request repeats

    def _launch(self, execution: Execution, resumed: int = 0) -> None:
        recorder = self.recorder
        if recorder is None:
            execution.run.start()
            return
        try:
            recorder.started(execution, resumed=resumed)  # on disk before StartExecution answers
        except BaseException:
            with self._lock:
                self._executions.pop(execution.arn, None)
            raise

        def run() -> None:
            try:
                execution.run.run()
            finally:
                try:
                    recorder.finished(execution)
                finally:
                    if isinstance(execution, RecordedExecution):
                        execution.recorded.set()

        threading.Thread(target=run, name=f"execution-{execution.name}", daemon=True).start()

    def restore(self, records: list[dict[str, Any]]) -> list[str]:
        """Executions recorded before a restart: those that had ended are listed, described and
        their history shown as they were; each one that had not is started again from its input
        under the same name (the same ARN). What was done, one line each."""
        done = []
        for record in records:
            try:
                machine = self.describe_state_machine(record["state_machine_arn"])
            except api_errors.StateMachineDoesNotExist:
                done.append(f"{record['arn']}: its state machine no longer exists; not restored")
                continue
            if record["status"] != "RUNNING":
                run = cast(EngineExecution, FinishedRun(record))
                with self._lock:
                    self._executions.setdefault(record["arn"], Execution(run, machine, record["input"]))
                continue
            execution, created = self._new_execution(
                record["state_machine_arn"], record["name"], record["input"]
            )
            if created:
                self._launch(execution, resumed=int(record.get("resumed", 0)) + 1)
                done.append(
                    f"{record['name']}: had not ended when the stack stopped; started again from its input"
                )
        return done

    def start_sync_execution(
        self, state_machine_arn: str, *, name: str | None = None, execution_input: str | None = None
    ) -> Execution:
        machine = self.describe_state_machine(state_machine_arn)
        if machine.machine_type != "EXPRESS":
            raise api_errors.StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine"
            )
        execution, created = self._new_execution(state_machine_arn, name, execution_input)
        if created:
            execution.run.run()
        execution.run.wait()
        return execution

    def _new_execution(
        self, state_machine_arn: str, name: str | None, execution_input: str | None
    ) -> tuple[Execution, bool]:
        machine = self.describe_state_machine(state_machine_arn)
        name = check_name(name) if name is not None else str(uuid.uuid4())
        text = "{}" if execution_input is None else execution_input
        try:
            json.loads(text)
        except (TypeError, ValueError):
            raise api_errors.InvalidExecutionInput(f"Invalid execution input: {text!r}") from None
        try:
            run = EngineExecution(
                json.loads(machine.definition),
                json.loads(text),
                name=name,
                state_machine_arn=state_machine_arn,  # with its #TestCase, for the mock integration
                state_machine_type=machine.machine_type,
                integrations=self._integrations(),
                clock=self._clock(_now()),
                callbacks=self.callbacks,
            )
        except DefinitionError as exc:  # a machine stored before the engine refused its definition
            raise api_errors.InvalidDefinition(f"Invalid State Machine Definition: '{exc}'") from None
        with self._lock:
            existing = self._executions.get(run.arn)
            if existing is not None:
                # AWS: the same name and input while the first still runs gives back that execution.
                if existing.status == "RUNNING" and existing.input == text:
                    return existing, False
                raise api_errors.ExecutionAlreadyExists(f"Execution Already Exists: '{run.arn}'")
            kind = (
                RecordedExecution
                if self.recorder is not None and machine.machine_type == "STANDARD"
                else Execution
            )
            execution = kind(run, machine, text)
            self._executions[run.arn] = execution
        return execution, True

    def _clock(self, start: datetime) -> Clock:
        return RealClock() if self.real_time else VirtualClock(start, patience=self.patience)

    def _integrations(self) -> Integration | None:
        if self.mock_config is None:
            return self.integrations
        return MockIntegration(self.mock_config, test_case=self.test_case, fallback=self.integrations)

    def _execution(self, arn: str) -> Execution:
        with self._lock:
            execution = self._executions.get(arn)
        if execution is None:
            self._check_arn(arn, "(execution|express)")
            raise api_errors.ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return execution

    def describe_execution(self, arn: str) -> Execution:
        return self._execution(arn)

    def wait_for_execution(self, arn: str, timeout: float | None = None) -> Execution:
        """The execution once it has finished (for tests and the CLI)."""
        execution = self._execution(arn)
        _wait(execution, timeout)
        return execution

    def stop_execution(self, arn: str, *, error: str | None = None, cause: str | None = None) -> Execution:
        execution = self._execution(arn)
        execution.run.stop(error, cause)
        # AWS reports ABORTED as soon as StopExecution returns; the engine ends at its next step.
        _wait(execution, STOP_GRACE_SECONDS)
        return execution

    def list_executions(
        self,
        state_machine_arn: str,
        *,
        status_filter: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> tuple[list[Execution], str | None]:
        machine = self.describe_state_machine(state_machine_arn)
        if status_filter is not None and status_filter not in EXECUTION_STATUSES:
            raise api_errors.ValidationException(f"Invalid statusFilter: {status_filter}")
        with self._lock:
            executions = [
                e
                for e in self._executions.values()
                if e.state_machine.arn == machine.arn and status_filter in (None, e.status)
            ]
        executions.sort(key=lambda e: e.start_date, reverse=True)  # newest first, as AWS lists them
        return _page(executions, max_results, next_token)

    def get_execution_history(
        self,
        arn: str,
        *,
        max_results: int | None = None,
        reverse_order: bool = False,
        next_token: str | None = None,
        include_execution_data: bool = True,
    ) -> tuple[list[dict[str, Any]], str | None]:
        execution = self._execution(arn)
        events = execution.events
        if reverse_order:
            events.reverse()
        if not include_execution_data:
            events = [_without_data(event) for event in events]
        return _page(events, max_results, next_token)

    def describe_state_machine_for_execution(self, arn: str) -> StateMachine:
        return self._execution(arn).state_machine

    def describe_map_run(self, arn: str) -> dict[str, Any]:
        """DescribeMapRun: a distributed Map run of an execution this endpoint ran (not one restored
        from the journal after a restart, whose Map runs were not kept)."""
        with self._lock:
            executions = list(self._executions.values())
        for execution in executions:
            runtime = getattr(execution.run, "runtime", None)
            progress = runtime.map_runs.get(arn) if runtime is not None else None
            if progress is not None:
                return cast(dict[str, Any], progress.describe())
        self._check_arn(arn, "mapRun")
        raise api_errors.ResourceNotFound(f"Map Run Does Not Exist: '{arn}'")

    # -- tags -------------------------------------------------------------------------------------

    def _tagged(self, arn: str) -> StateMachine:
        with self._lock:
            machine = self._machines.get(arn)
        if machine is None:
            raise api_errors.ResourceNotFound(f"Resource not found: '{arn}'")
        return machine

    def tag_resource(self, arn: str, tags: list[dict[str, str]]) -> None:
        machine = self._tagged(arn)
        with self._lock:
            merged = {tag["key"]: tag.get("value", "") for tag in machine.tags}
            merged.update({tag["key"]: tag.get("value", "") for tag in tags})
            machine.tags = [{"key": key, "value": value} for key, value in merged.items()]

    def untag_resource(self, arn: str, keys: list[str]) -> None:
        machine = self._tagged(arn)
        with self._lock:
            machine.tags = [tag for tag in machine.tags if tag["key"] not in keys]

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        return list(self._tagged(arn).tags)

    # -- callbacks --------------------------------------------------------------------------------

    def _answer(self, send: Callable[[], None], token: str) -> None:
        try:
            send()
        except TaskTokenError as exc:
            if exc.code == "TaskTimedOut":
                raise api_errors.TaskTimedOut(
                    "Task Timed Out: 'Provided task does not exist anymore'"
                ) from None
            if re.fullmatch(r"[0-9a-f]{64}", token or ""):
                raise api_errors.TaskDoesNotExist(
                    "Task Does Not Exist: 'Provided task does not exist'"
                ) from None
            raise api_errors.InvalidToken(f"Invalid Token: '{token}'") from None

    def send_task_success(self, token: str, output: str) -> None:
        try:
            parsed = json.loads(output)
        except (TypeError, ValueError):
            raise api_errors.InvalidOutput(f"Invalid Output: '{output}'") from None
        self._answer(lambda: self.callbacks.send_task_success(token, parsed), token)

    def send_task_failure(self, token: str, error: str | None = None, cause: str | None = None) -> None:
        self._answer(lambda: self.callbacks.send_task_failure(token, error, cause), token)

    def send_task_heartbeat(self, token: str) -> None:
        self._answer(lambda: self.callbacks.send_task_heartbeat(token), token)

    # -- TestState --------------------------------------------------------------------------------

    def test_state(self, request: dict[str, Any]) -> dict[str, Any]:
        from tributary.states.teststate import TestStateError, test_state

        try:
            return test_state(request, integrations=self.integrations)
        except TestStateError as exc:
            if exc.code == "InvalidDefinition":
                raise api_errors.InvalidDefinition(str(exc)) from None
            raise api_errors.ValidationException(str(exc)) from None


def _without_data(event: dict[str, Any]) -> dict[str, Any]:
    """An event with its input and output left out (includeExecutionData false)."""
    stripped = dict(event)
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict):
            stripped[key] = {k: v for k, v in details.items() if k not in ("input", "output")}
    return stripped
