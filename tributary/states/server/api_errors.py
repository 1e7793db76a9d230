"""The errors of the Step Functions API, as the AWS JSON 1.0 protocol carries them (`__type`, `message`)."""

from __future__ import annotations


class ServiceError(Exception):
    """An API error: `code` is AWS's exception name (`StateMachineDoesNotExist`, ...)."""

    code = "InternalServerError"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _error(code: str) -> type[ServiceError]:
    return type(code, (ServiceError,), {"code": code})


StateMachineDoesNotExist = _error("StateMachineDoesNotExist")
StateMachineAlreadyExists = _error("StateMachineAlreadyExists")
StateMachineTypeNotSupported = _error("StateMachineTypeNotSupported")
ExecutionDoesNotExist = _error("ExecutionDoesNotExist")
ExecutionAlreadyExists = _error("ExecutionAlreadyExists")
InvalidDefinition = _error("InvalidDefinition")
InvalidName = _error("InvalidName")
InvalidArn = _error("InvalidArn")
InvalidExecutionInput = _error("InvalidExecutionInput")
InvalidOutput = _error("InvalidOutput")
InvalidToken = _error("InvalidToken")
TaskDoesNotExist = _error("TaskDoesNotExist")
TaskTimedOut = _error("TaskTimedOut")
ValidationException = _error("ValidationException")
UnknownOperation = _error("UnknownOperationException")
ResourceNotFound = _error("ResourceNotFound")
