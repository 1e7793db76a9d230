"""`tributary states ...`: run, validate and test state machines from the command line, and serve
the local Step Functions endpoint.

    tributary states execute FILE [--input JSON|@file] [--mock-config F --test-case NAME] [--real-time]
    tributary states validate FILE... [--type STANDARD|EXPRESS]
    tributary states test-state --definition FILE [--state-name S] [--input ...] [--mock ...]
    tributary states serve [--port N] [--real-time] [--patience S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tributary.cli import UsageError

LOCAL_ACCOUNT = "123456789012"


def register(subparsers: Any) -> None:
    states = subparsers.add_parser(
        "states", help="run, validate and test Step Functions state machines locally"
    )
    commands = states.add_subparsers(dest="states_command", metavar="COMMAND")
    states.set_defaults(func=lambda args: _help(states))

    execute = commands.add_parser("execute", help="run a state machine and show its progress and result")
    execute.add_argument("file", help="the state machine definition (.asl.json)")
    execute.add_argument("--input", default="{}", help="execution input: JSON text, or @file")
    execute.add_argument("--name", default="local", help="execution name (default: local)")
    execute.add_argument("--mock-config", help="a Step Functions Local MockConfigFile answering Task states")
    execute.add_argument("--test-case", help="the test case of the mock config to use")
    execute.add_argument("--real-time", action="store_true", help="Wait states and retries take real time")
    execute.add_argument(
        "--type", default="STANDARD", choices=("STANDARD", "EXPRESS"), help="state machine type"
    )
    execute.add_argument("--quiet", action="store_true", help="print only the result")
    _add_substitutions(execute)
    execute.set_defaults(func=execute_command)

    validate = commands.add_parser("validate", help="check definitions as CreateStateMachine does")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument(
        "--type", default="STANDARD", choices=("STANDARD", "EXPRESS"), help="state machine type"
    )
    _add_substitutions(validate)
    validate.set_defaults(func=validate_command)

    test_state = commands.add_parser("test-state", help="run one state as the TestState API does")
    test_state.add_argument(
        "--definition", required=True, help="a state, or a whole machine with --state-name"
    )
    test_state.add_argument("--state-name", help="the state to test inside a whole state machine")
    test_state.add_argument("--input", default="{}", help="the state's input: JSON text, or @file")
    test_state.add_argument(
        "--mock", help='the mocked result (JSON, or @file), or {"result": ...} / {"errorOutput": {...}}'
    )
    test_state.add_argument("--variables", help="variables visible to the state: JSON object, or @file")
    test_state.add_argument("--context", help="the context object ($$): JSON object, or @file")
    test_state.add_argument("--inspection-level", default="INFO", choices=("INFO", "DEBUG", "TRACE"))
    _add_substitutions(test_state)
    test_state.set_defaults(func=test_state_command)

    serve = commands.add_parser("serve", help="serve the local Step Functions endpoint (AWS JSON 1.0)")
    from tributary.states.server.__main__ import add_arguments

    add_arguments(serve)
    serve.set_defaults(func=serve_command)


def _add_substitutions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--substitution",
        "-s",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="replace ${KEY} in the definition, as SAM's DefinitionSubstitutions do (repeatable)",
    )


def _substitutions(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--substitution {pair!r} is not KEY=VALUE")
        values[key] = value
    return values


def _substitute(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    return text


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# -- reading what the user gave ----------------------------------------------------------------------


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def _json_argument(value: str, what: str) -> Any:
    """JSON text, or `@file` holding it."""
    text = _read_file(value[1:]) if value.startswith("@") else value
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None


def _definition(path: str, substitutions: list[str] | None = None) -> dict[str, Any]:
    try:
        definition = json.loads(_substitute(_read_file(path), _substitutions(substitutions or [])))
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(definition, dict):
        raise UsageError(f"{path}: a definition must be a JSON object")
    return definition


def load_mock_config(path: str) -> Any:
    """A MockConfigFile, or a one-line UsageError saying why it is not one."""
    from tributary.states.mock_config import MockConfig, MockConfigError

    document = _json_argument("@" + path, path)
    try:
        return MockConfig(document, source=path)
    except MockConfigError as exc:
        raise UsageError(f"{path}: not a Step Functions Local MockConfigFile ({exc.detail})") from None


# -- execute ------------------------------------------------------------------------------------------


class Progress:
    """Prints each state as it is entered and left, with how long it took on the execution's clock, in
    the lines and symbols `tributary run` uses (▶ entered, ✔ succeeded, ✘ failed, ↻ retried, ■ stopped)."""

    def __init__(self, out: TextIO) -> None:
        from tributary.local.views.progress import ProgressTracker, use_color

        self.out = out
        self.tracker = ProgressTracker(color=use_color(out))

    def __call__(self, event: dict[str, Any]) -> None:
        for line in self.tracker.feed([event]):  # thread-safe: branches call from their threads
            print(f"  {line}", file=self.out, flush=True)


def execute_command(args: argparse.Namespace) -> int:
    from tributary.states.clock import RealClock, VirtualClock
    from tributary.states.errors import DefinitionError
    from tributary.states.execution import Execution
    from tributary.states.mock_config import MockConfigError, MockIntegration
    from tributary.states.validation import validate

    definition = _definition(args.file, args.substitution)
    problems = validate(json.dumps(definition), args.type)
    if problems:
        raise UsageError(f"{args.file}: invalid definition: " + "; ".join(problems))
    execution_input = _json_argument(args.input, "--input")
    machine_name = Path(args.file).name.split(".")[0] or "local"
    integrations = None
    if args.mock_config or args.test_case:
        if not (args.mock_config and args.test_case):
            raise UsageError("--mock-config and --test-case go together")
        config = load_mock_config(args.mock_config)
        if machine_name not in config.test_cases:
            # A config for one machine applies whatever the file is called.
            if len(config.test_cases) != 1:
                names = ", ".join(sorted(config.test_cases)) or "none"
                raise UsageError(
                    f"{args.mock_config} has no state machine '{machine_name}' (it has: {names})"
                )
            machine_name = next(iter(config.test_cases))
        if args.test_case not in config.test_cases[machine_name]:
            raise UsageError(f"{args.mock_config} has no test case '{args.test_case}' for '{machine_name}'")
        integrations = MockIntegration(config, test_case=args.test_case, state_machine=machine_name)
    start = datetime.now(UTC)
    clock = RealClock() if args.real_time else VirtualClock(start)
    arn = f"arn:aws:states:us-east-1:{LOCAL_ACCOUNT}:stateMachine:{machine_name}"
    out = sys.stderr
    if not args.quiet:
        print(f"Execution {args.name} of {machine_name}", file=out, flush=True)
    try:
        execution = Execution(
            definition,
            execution_input,
            name=args.name,
            state_machine_arn=arn,
            state_machine_type=args.type,
            integrations=integrations,
            clock=clock,
        )
    except DefinitionError as exc:
        raise UsageError(f"{args.file}: invalid definition: {exc}") from None
    if not args.quiet:
        execution.history.listeners.append(Progress(out))
    began = time.perf_counter()
    try:
        outcome = execution.run()
    except MockConfigError as exc:
        raise UsageError(str(exc)) from None
    elapsed = time.perf_counter() - began
    if not args.quiet:
        clock_seconds = (clock.now() - execution.start_date).total_seconds()
        print(
            f"{outcome.status} in {elapsed:.3f} s ({clock_seconds:.3f} s on the execution's clock)",
            file=out,
            flush=True,
        )
    if outcome.status == "SUCCEEDED":
        print(json.dumps(json.loads(outcome.output or "null"), indent=2))
        return 0
    print(json.dumps({"status": outcome.status, "error": outcome.error, "cause": outcome.cause}, indent=2))
    return 1


# -- validate -----------------------------------------------------------------------------------------


def validate_command(args: argparse.Namespace) -> int:
    """Errors make a definition invalid (exit 1); warnings are shown, as the console shows them."""
    from tributary.states.validation import diagnose

    invalid = 0
    for path in args.files:
        text = _substitute(_read_file(path), _substitutions(args.substitution))
        diagnostics = diagnose(text, args.type, warnings=True)
        errors = [d for d in diagnostics if d.severity == "ERROR"]
        for diagnostic in diagnostics:
            prefix = "" if diagnostic.severity == "ERROR" else "warning: "
            print(f"{path}: {prefix}{diagnostic}")
        if errors:
            invalid += 1
        else:
            print(f"{path}: valid")
    return 1 if invalid else 0


# -- test-state ---------------------------------------------------------------------------------------


def test_state_command(args: argparse.Namespace) -> int:
    from tributary.states.teststate import TestStateError, test_state

    request: dict[str, Any] = {
        "definition": json.dumps(_definition(args.definition, args.substitution)),
        "input": json.dumps(_json_argument(args.input, "--input")),
        "inspectionLevel": args.inspection_level,
    }
    if args.state_name:
        request["stateName"] = args.state_name
    if args.mock:
        mock = _json_argument(args.mock, "--mock")
        if isinstance(mock, dict) and mock.keys() & {"result", "errorOutput"}:
            if "result" in mock and not isinstance(mock["result"], str):
                mock["result"] = json.dumps(mock["result"])
            request["mock"] = mock
        else:
            request["mock"] = {"result": json.dumps(mock)}
    for name in ("variables", "context"):
        value = getattr(args, name)
        if value:
            request[name] = json.dumps(_json_argument(value, f"--{name}"))
    try:
        response = test_state(request)
    except TestStateError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(_readable(response), indent=2))
    return 0 if response["status"] in ("SUCCEEDED", "CAUGHT_ERROR") else 1


test_state_command.__test__ = False  # type: ignore[attr-defined]


def _readable(response: dict[str, Any]) -> dict[str, Any]:
    """The response with its JSON-text fields shown as JSON."""
    shown = dict(response)
    if isinstance(shown.get("output"), str):
        shown["output"] = json.loads(shown["output"])
    inspection = shown.get("inspectionData")
    if isinstance(inspection, dict):
        shown["inspectionData"] = {
            key: json.loads(value) if isinstance(value, str) else value for key, value in inspection.items()
        }
    return shown


# -- serve --------------------------------------------------------------------------------------------


def serve_command(args: argparse.Namespace) -> int:
    from tributary.states.server.__main__ import serve

    if args.mock_config:
        args.mock_config = load_mock_config(args.mock_config)
    try:
        return serve(args)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
