"""The schema of a definition: which fields each state type takes, in each query language, and
what values they may hold. Graph checks (targets, reachability) are in `graph.py`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tributary.states.definition import JSONATA_ONLY, JSONPATH_ONLY
from tributary.states.validation import expressions, task_resources
from tributary.states.validation.choice_rules import ChoiceRules
from tributary.states.validation.diagnostics import PASS_RESULT_IS_STATIC, Report
from tributary.states.validation.values import (
    JSONATA,
    JSONPATH,
    ValueChecks,
    is_rfc3339,
    required,
)

STATE_TYPES = ("Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
MAX_STATE_NAME_LENGTH = 80

_COMMON = {"Type", "Comment", "QueryLanguage"}
_TRANSITION = {"Next", "End"}
_IO = {"InputPath", "OutputPath", "Output", "Assign"}
_RESULT = {"ResultPath", "ResultSelector", "Parameters", "Arguments", "Retry", "Catch"}
FIELDS: dict[str, set[str]] = {
    "Pass": _COMMON | _TRANSITION | _IO | {"ResultPath", "Parameters", "Result"},
    "Task": _COMMON
    | _TRANSITION
    | _IO
    | _RESULT
    | {"Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath"}
    | {"Credentials"},
    "Choice": _COMMON | _IO | {"Choices", "Default"},
    "Wait": _COMMON | _TRANSITION | _IO | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": _COMMON | {"InputPath", "OutputPath", "Output"},
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON | _TRANSITION | _IO | _RESULT | {"Branches"},
    "Map": _COMMON
    | _TRANSITION
    | _IO
    | _RESULT
    | {"Iterator", "ItemProcessor", "ItemsPath", "Items", "ItemSelector", "ItemReader", "ItemBatcher"}
    | {"ResultWriter", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailureCount"}
    | {"ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "Label"},
}
# Fields holding a path that must select exactly one node.
REFERENCE_PATH_FIELDS = {
    "ResultPath",
    "ItemsPath",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
}
# Fields that hold a value or, with a `Path` suffix, where to find it: never both.
_EXCLUSIVE_PAIRS = (
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "MaxConcurrency",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
)
RETRIER_FIELDS = {
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
}
CATCHER_FIELDS = {"ErrorEquals", "Next", "ResultPath", "Assign", "Output", "Comment"}


class StateSchema(ValueChecks):
    """Checks the fields of one state (not its transitions) in its query language."""

    def __init__(self, report: Report, state_machine_type: str) -> None:
        super().__init__(report)
        self.state_machine_type = state_machine_type
        self.choice_rules = ChoiceRules(report)

    def check(self, state: dict[str, Any], location: str, language: str) -> None:
        state_type = state.get("Type")
        if state_type not in STATE_TYPES:
            self.report.add(f"{location}/Type", f"The value '{state_type}' is not a valid state type")
            return
        allowed = FIELDS[state_type]
        for name in state:
            if name not in allowed:
                self.report.add(location, f"The field '{name}' is not supported by Step Functions")
            elif language == JSONATA and name in JSONPATH_ONLY:
                self.report.add(
                    location, f"The field '{name}' is not supported for the JSONata query language"
                )
            elif language == JSONPATH and name in JSONATA_ONLY:
                self.report.add(
                    location, f"The field '{name}' is not supported for the JSONPath query language"
                )
        for name in _EXCLUSIVE_PAIRS:
            if name in state and f"{name}Path" in state:
                self.report.add(location, f"The fields '{name}' and '{name}Path' cannot both be set")
        self._io(state, location, language)
        checker: Callable[[dict[str, Any], str, str], None] | None = getattr(
            self, f"_{state_type.lower()}", None
        )
        if checker:
            checker(state, location, language)
        if "Retry" in state:
            self._retriers(state["Retry"], f"{location}/Retry")
        if "Catch" in state:
            self._catchers(state["Catch"], f"{location}/Catch", language)

    # -- shared by several types ------------------------------------------------------------------

    def _io(self, state: dict[str, Any], location: str, language: str) -> None:
        if language == JSONPATH:
            for name in ("InputPath", "OutputPath"):
                if name in state:
                    self.path(state[name], f"{location}/{name}")
            for name in REFERENCE_PATH_FIELDS & state.keys():
                self.path(state[name], f"{location}/{name}", reference=True, nullable=name == "ResultPath")
            for name in ("Parameters", "ResultSelector", "ItemSelector", "Assign"):
                if name in state:
                    self._object_field(state, name, location)
                    self.template(state[name], f"{location}/{name}")
        else:
            for name in ("Arguments", "Output", "Assign", "Items", "ItemSelector"):
                if name in state:
                    self.jsonata_values(state[name], f"{location}/{name}")
            if "Assign" in state:
                self._object_field(state, "Assign", location)

    def _object_field(self, state: dict[str, Any], name: str, location: str) -> None:
        if not isinstance(state[name], dict) and name != "Parameters":
            self.report.add(f"{location}/{name}", f"The value for '{name}' must be an object")

    def _retriers(self, retriers: Any, location: str) -> None:
        if not isinstance(retriers, list):
            self.report.add(location, "The value for 'Retry' must be an array")
            return
        for index, retrier in enumerate(retriers):
            where = f"{location}[{index}]"
            if not isinstance(retrier, dict):
                self.report.add(where, "A retrier must be an object")
                continue
            for name in retrier:
                if name not in RETRIER_FIELDS:
                    self.report.add(where, f"The field '{name}' is not supported by Step Functions")
            self._error_equals(retrier, where, last=index == len(retriers) - 1)
            self.number_field(retrier, "IntervalSeconds", where, JSONPATH, minimum=1)
            self.number_field(retrier, "MaxAttempts", where, JSONPATH, minimum=0)
            self.number_field(retrier, "MaxDelaySeconds", where, JSONPATH, minimum=1)
            self.number_field(retrier, "BackoffRate", where, JSONPATH, minimum=1.0, integer=False)
            if retrier.get("JitterStrategy", "NONE") not in ("FULL", "NONE"):
                self.report.add(
                    f"{where}/JitterStrategy", "The value for 'JitterStrategy' must be FULL or NONE"
                )

    def _catchers(self, catchers: Any, location: str, language: str) -> None:
        if not isinstance(catchers, list):
            self.report.add(location, "The value for 'Catch' must be an array")
            return
        for index, catcher in enumerate(catchers):
            where = f"{location}[{index}]"
            if not isinstance(catcher, dict):
                self.report.add(where, "A catcher must be an object")
                continue
            for name in catcher:
                if name not in CATCHER_FIELDS:
                    self.report.add(where, f"The field '{name}' is not supported by Step Functions")
                elif language == JSONATA and name == "ResultPath":
                    self.report.add(
                        where, "The field 'ResultPath' is not supported for the JSONata query language"
                    )
                elif language == JSONPATH and name == "Output":
                    self.report.add(
                        where, "The field 'Output' is not supported for the JSONPath query language"
                    )
            required(self.report, catcher, ["ErrorEquals", "Next"], where)
            self._error_equals(catcher, where, last=index == len(catchers) - 1)
            if language == JSONPATH and "ResultPath" in catcher:
                self.path(catcher["ResultPath"], f"{where}/ResultPath", reference=True)
            if language == JSONPATH and "Assign" in catcher:
                self.template(catcher["Assign"], f"{where}/Assign")
            if language == JSONATA:
                for name in ("Assign", "Output"):
                    if name in catcher:
                        self.jsonata_values(catcher[name], f"{where}/{name}")

    def _error_equals(self, entry: dict[str, Any], location: str, *, last: bool) -> None:
        errors = entry.get("ErrorEquals")
        if errors is None:
            self.report.add(location, "These fields are required: [ErrorEquals]")
            return
        if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
            self.report.add(f"{location}/ErrorEquals", "ErrorEquals must be a non-empty array of strings")
            return
        if "States.ALL" in errors and (len(errors) > 1 or not last):
            self.report.add(
                f"{location}/ErrorEquals", "States.ALL must appear alone, in the last retrier or catcher"
            )

    # -- one method per state type ----------------------------------------------------------------

    def _task(self, state: dict[str, Any], location: str, language: str) -> None:
        resource = state.get("Resource")
        if resource is None:
            self.report.add(location, "These fields are required: [Resource]")
        elif not isinstance(resource, str):
            self.report.add(f"{location}/Resource", "The value for 'Resource' must be a string")
        else:
            problem = task_resources.check_task_resource(resource, self.state_machine_type)
            if problem:
                self.report.add(f"{location}/Resource", problem)
        for name in ("TimeoutSeconds", "HeartbeatSeconds"):
            self.number_field(state, name, location, language, minimum=1)
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if isinstance(timeout, int) and isinstance(heartbeat, int) and heartbeat >= timeout:
            self.report.add(
                f"{location}/HeartbeatSeconds", "HeartbeatSeconds must be smaller than TimeoutSeconds"
            )
        if "Credentials" in state:
            credentials = state["Credentials"]
            if not isinstance(credentials, dict) or not ({"RoleArn", "RoleArn.$"} & credentials.keys()):
                self.report.add(f"{location}/Credentials", "The field 'RoleArn' is required but was missing")

    def _pass(self, state: dict[str, Any], location: str, language: str) -> None:
        if language == JSONATA and "Output" in state and "Result" in state:
            self.report.add(location, "The fields 'Result' and 'Output' cannot both be set")
        if isinstance(state.get("Result"), dict) and any(key.endswith(".$") for key in state["Result"]):
            self.report.warn(
                f"{location}/Result",
                "Result is static: its '.$' fields are not evaluated (Parameters selects from the input)",
                PASS_RESULT_IS_STATIC,
            )

    def _wait(self, state: dict[str, Any], location: str, language: str) -> None:
        given = [name for name in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if name in state]
        if len(given) != 1:
            self.report.add(
                location,
                "Exactly one of the fields [Seconds, SecondsPath, Timestamp, TimestampPath] is required",
            )
        self.number_field(state, "Seconds", location, language, minimum=0)
        if "Timestamp" in state:
            value = state["Timestamp"]
            if language == JSONATA and expressions.is_jsonata(value):
                self.jsonata_values(value, f"{location}/Timestamp")
            elif not isinstance(value, str) or not is_rfc3339(value):
                self.report.add(f"{location}/Timestamp", "String does not match RFC3339 timestamp")

    def _fail(self, state: dict[str, Any], location: str, language: str) -> None:
        for name in ("Error", "Cause"):
            if f"{name}Path" in state and name in state:
                self.report.add(location, f"The fields '{name}' and '{name}Path' cannot both be set")
            if name in state:
                if not isinstance(state[name], str):
                    self.report.add(f"{location}/{name}", f"The value for '{name}' must be a string")
                elif language == JSONATA:
                    self.jsonata_values(state[name], f"{location}/{name}")
            if (
                language == JSONPATH
                and f"{name}Path" in state
                and not self.dynamic_value_ok(state[f"{name}Path"])
            ):
                self.report.add(
                    f"{location}/{name}Path",
                    f"The value for the field '{name}Path' must be a valid JSONPath or a valid intrinsic "
                    "function call",
                )

    def _choice(self, state: dict[str, Any], location: str, language: str) -> None:
        self.choice_rules.check(state, location, language)

    def _parallel(self, state: dict[str, Any], location: str, language: str) -> None:
        branches = state.get("Branches")
        if branches is None:
            self.report.add(location, "These fields are required: [Branches]")
        elif not isinstance(branches, list) or not branches:
            self.report.add(f"{location}/Branches", "Branches must be a non-empty array")

    def _map(self, state: dict[str, Any], location: str, language: str) -> None:
        if "ItemProcessor" not in state and "Iterator" not in state:
            self.report.add(location, "These fields are required: [ItemProcessor]")
        if "ItemProcessor" in state and "Iterator" in state:
            self.report.add(location, "The fields 'ItemProcessor' and 'Iterator' cannot both be set")
        processor = state.get("ItemProcessor", state.get("Iterator"))
        if isinstance(processor, dict):
            config = processor.get("ProcessorConfig", {})
            if not isinstance(config, dict):
                self.report.add(
                    f"{location}/ItemProcessor/ProcessorConfig", "ProcessorConfig must be an object"
                )
            else:
                if config.get("Mode", "INLINE") not in ("INLINE", "DISTRIBUTED"):
                    self.report.add(
                        f"{location}/ItemProcessor/ProcessorConfig/Mode", "Mode must be INLINE or DISTRIBUTED"
                    )
                if config.get("ExecutionType", "STANDARD") not in ("STANDARD", "EXPRESS"):
                    self.report.add(
                        f"{location}/ItemProcessor/ProcessorConfig/ExecutionType",
                        "ExecutionType must be STANDARD or EXPRESS",
                    )
        self.number_field(state, "MaxConcurrency", location, language, minimum=0)
        self.number_field(state, "ToleratedFailureCount", location, language, minimum=0)
        self.number_field(state, "ToleratedFailurePercentage", location, language, minimum=0, integer=False)
        percentage = state.get("ToleratedFailurePercentage")
        if isinstance(percentage, int | float) and percentage > 100:
            self.report.add(f"{location}/ToleratedFailurePercentage", "The value must be between 0 and 100")
        for name, allowed in (
            ("ItemReader", task_resources.ITEM_READER_RESOURCES),
            ("ResultWriter", task_resources.RESULT_WRITER_RESOURCES),
        ):
            if name in state:
                self._reader_or_writer(state[name], f"{location}/{name}", allowed, language)
        if "ItemBatcher" in state and not isinstance(state["ItemBatcher"], dict):
            self.report.add(f"{location}/ItemBatcher", "ItemBatcher must be an object")

    def _reader_or_writer(self, node: Any, location: str, allowed: frozenset[str], language: str) -> None:
        if not isinstance(node, dict):
            self.report.add(location, "The value must be an object")
            return
        resource = node.get("Resource")
        if not isinstance(resource, str):
            self.report.add(location, "These fields are required: [Resource]")
            return
        short = resource.split(":::", 1)[-1]
        if short not in allowed and ":::aws-sdk:" not in resource:
            self.report.add(f"{location}/Resource", task_resources.not_recognized(resource))
        if language == JSONPATH and "Parameters" in node:
            self.template(node["Parameters"], f"{location}/Parameters")
        if language == JSONATA and "Arguments" in node:
            self.jsonata_values(node["Arguments"], f"{location}/Arguments")
