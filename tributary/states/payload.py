"""The JSONPath-mode input and output processing of a state: InputPath, payload templates
(Parameters, ResultSelector, ItemSelector, Assign), ResultPath and OutputPath.

Every failure raises `StatesError` with AWS's exact error name and cause."""

from __future__ import annotations

from typing import Any


def input_path(path: str | None, value: Any, *, context: Any, variables: dict[str, Any]) -> Any:
    """InputPath: `None` (JSON null) gives `{}`; a path selecting nothing is `States.Runtime`."""
    raise NotImplementedError


def payload_template(
    template: Any, value: Any, *, context: Any, variables: dict[str, Any], field: str
) -> Any:
    """A payload template: keys ending in `.$` take a path, a `$$` context path, a `$var` or an
    intrinsic function; `field` names the state field ("Parameters", ...) for error causes."""
    raise NotImplementedError


def result_path(path: str | None, state_input: Any, result: Any) -> Any:
    """ResultPath: `None` discards the result, `$` replaces the input, other paths merge the result
    into a copy of the input, creating objects on the way (`States.ResultPathMatchFailure`)."""
    raise NotImplementedError


def output_path(path: str | None, value: Any, *, context: Any, variables: dict[str, Any]) -> Any:
    """OutputPath: `None` gives `{}`; a path selecting nothing is `States.Runtime`."""
    raise NotImplementedError
