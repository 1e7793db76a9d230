"""Errors raised while running a state machine, named as AWS Step Functions names them."""

from __future__ import annotations


class DefinitionError(ValueError):
    """A definition the engine cannot load: what is wrong (`problem`) and where (`place`, e.g.
    `States.Load.Retry[0]`; empty for the top of the definition)."""

    def __init__(self, problem: str, place: str = "") -> None:
        super().__init__(f"{place or 'the definition'}: {problem}")
        self.problem = problem
        self.place = place

    def inside(self, outer: str) -> DefinitionError:
        """The same problem, placed inside `outer` (the place of a nested machine)."""
        return DefinitionError(self.problem, f"{outer}.{self.place}" if self.place else outer)


class StatesError(Exception):
    """An error that a Retry or Catch can match (or that fails the execution).

    `error` is the name a state's ErrorEquals compares against (`States.Runtime`,
    `States.TaskFailed`, `Lambda.ServiceException`, a custom name); `cause` is AWS's message.
    `location` names the state field whose expression failed (`Output/result`, `Items`,
    `Timestamp`), as an EvaluationFailed event reports it; None where AWS names none.
    """

    def __init__(self, error: str, cause: str = "", *, location: str | None = None) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause
        self.location = location


# The predefined error names of the Amazon States Language.
ALL = "States.ALL"
BRANCH_FAILED = "States.BranchFailed"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
ITEM_READER_FAILED = "States.ItemReaderFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
PERMISSIONS = "States.Permissions"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
RUNTIME = "States.Runtime"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"


class NullableFailure(StatesError):
    """A failure whose error or cause may be null in AWS's answer: a Fail state that names neither
    (seen through its Parallel branch or Map iteration), a SendTaskFailure without them.

    `original_error` and `original_cause` keep the nulls for the execution's result; `error` and
    `cause` hold "" for Retry and Catch matching."""

    def __init__(self, error: str | None, cause: str | None) -> None:
        super().__init__(error or "", cause or "")
        self.original_error = error
        self.original_cause = cause
