"""`tributary states ...`: results, exit codes, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tributary.cli import main

MACHINE = {
    "StartAt": "Greet",
    "States": {
        "Greet": {
            "Type": "Pass",
            "Parameters": {"greeting.$": "States.Format('hi {}', $.who)"},
            "Next": "Nap",
        },
        "Nap": {"Type": "Wait", "Seconds": 3600, "Next": "Call"},
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Retry": [
                {"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 5, "MaxAttempts": 2}
            ],
            "ResultPath": "$.call",
            "End": True,
        },
    },
}
MOCKS = {
    "StateMachines": {"greeter": {"TestCases": {"Busy": {"Call": "BusyThenOk"}, "Down": {"Call": "Down"}}}},
    "MockedResponses": {
        "BusyThenOk": {
            "0": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow down"}},
            "1": {"Return": {"Payload": "done"}},
        },
        "Down": {"0-2": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "down"}}},
    },
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "machine": tmp_path / "greeter.asl.json",
        "mocks": tmp_path / "mocks.json",
        "input": tmp_path / "in.json",
    }
    paths["machine"].write_text(json.dumps(MACHINE))
    paths["mocks"].write_text(json.dumps(MOCKS))
    paths["input"].write_text('{"who": "file"}')
    paths["list"] = tmp_path / "list.json"
    paths["list"].write_text("[1, 2]")
    paths["typo"] = tmp_path / "typo.json"
    typo = {**MOCKS, "StateMachines": {"greeter": {"TestCases": {"Busy": {"Call": "BusyThenOK"}}}}}
    paths["typo"].write_text(json.dumps(typo))
    return paths


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["states", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_execute_with_mock_config_shows_progress_and_result(files: dict[str, Path], capsys: Any) -> None:
    code, out, err = _run(
        capsys,
        "execute",
        str(files["machine"]),
        "--input",
        '{"who": "you"}',
        "--mock-config",
        str(files["mocks"]),
        "--test-case",
        "Busy",
    )
    assert code == 0
    assert json.loads(out) == {"greeting": "hi you", "call": {"Payload": "done"}}
    # the lines and symbols of `tributary run` (tributary/local/views/progress.py)
    assert "  ▶ Nap\n" in err
    assert "  ✔ Nap 1h 00m\n" in err  # virtual time: an hour on the clock, not in the test
    assert "  ↻ Call retry 1 after Lambda.TooManyRequestsException: slow down\n" in err
    assert "  ✔ Call 5.0s after 1 retry\n" in err
    assert "  ✔ execution succeeded in 1h 00m\n" in err
    assert "→" not in err and "←" not in err and "✗" not in err
    assert "SUCCEEDED" in err


def test_execute_reads_input_from_a_file_and_reports_failure(files: dict[str, Path], capsys: Any) -> None:
    code, out, _ = _run(
        capsys,
        "execute",
        str(files["machine"]),
        "--input",
        f"@{files['input']}",
        "--mock-config",
        str(files["mocks"]),
        "--test-case",
        "Down",
        "--quiet",
    )
    assert code == 1
    assert json.loads(out) == {"status": "FAILED", "error": "Lambda.ServiceException", "cause": "down"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["execute", "missing.asl.json"], "missing.asl.json: no such file"),
        (["execute", "{machine}", "--input", "{{not json"], "--input is not valid JSON"),
        (["execute", "{machine}", "--mock-config", "{mocks}"], "--mock-config and --test-case go together"),
        (["execute", "{machine}", "--mock-config", "{mocks}", "--test-case", "Nope"], "no test case 'Nope'"),
        (["test-state", "--definition", "{machine}"], "'stateName' is required"),
        (["execute", "{machine}", "--mock-config", "{machine}", "--test-case", "Busy"], "no state machine"),
        (
            ["execute", "{machine}", "--mock-config", "{list}", "--test-case", "Busy"],
            "not a Step Functions Local",
        ),
        (["serve", "--mock-config", "{list}"], "not a Step Functions Local MockConfigFile"),
        (
            ["execute", "{machine}", "--mock-config", "{typo}", "--test-case", "Busy"],
            "typo.json: not a Step Functions Local MockConfigFile (StateMachines.greeter.TestCases.Busy: "
            "unknown mocked response 'BusyThenOK' (state 'Call'))",
        ),
        (
            ["serve", "--mock-config", "{typo}"],
            "typo.json: not a Step Functions Local MockConfigFile (StateMachines.greeter.TestCases.Busy: ",
        ),
        (
            [
                "test-state",
                "--definition",
                "{machine}",
                "--state-name",
                "Call",
                "--mock",
                '{{"result": 1, "errorOutput": {{}}}}',
            ],
            "exactly one of",
        ),
        (["test-state", "--definition", "{machine}", "--state-name", "Ghost"], "State 'Ghost' is not in"),
    ],
)
def test_mistakes_are_one_line_errors(
    files: dict[str, Path], capsys: Any, argv: list[str], message: str
) -> None:
    argv = [a.format(**{name: str(path) for name, path in files.items()}) for a in argv]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("tributary: error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_validate_reports_each_problem_and_exits_1(
    files: dict[str, Path], tmp_path: Path, capsys: Any
) -> None:
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}))
    code, out, _ = _run(capsys, "validate", str(files["machine"]), str(broken))
    assert code == 1
    assert f"{files['machine']}: valid" in out
    assert f"{broken}: /States/A/Next: Missing 'Next' target: B" in out
    assert _run(capsys, "validate", str(files["machine"]))[0] == 0


def test_test_state_runs_one_state_with_a_mock(files: dict[str, Path], capsys: Any) -> None:
    code, out, _ = _run(
        capsys,
        "test-state",
        "--definition",
        str(files["machine"]),
        "--state-name",
        "Call",
        "--input",
        '{"x": 1}',
        "--mock",
        '{"errorOutput": {"error": "Lambda.TooManyRequestsException", "cause": "busy"}}',
        "--inspection-level",
        "DEBUG",
    )
    response = json.loads(out)
    assert code == 1
    assert (response["status"], response["error"]) == ("RETRIABLE", "Lambda.TooManyRequestsException")
    assert response["inspectionData"]["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 5}


def test_test_state_takes_a_bare_result_as_mock(files: dict[str, Path], capsys: Any) -> None:
    code, out, _ = _run(
        capsys,
        "test-state",
        "--definition",
        str(files["machine"]),
        "--state-name",
        "Call",
        "--mock",
        '{"Payload": 7}',
    )
    assert code == 0
    assert json.loads(out)["output"] == {"call": {"Payload": 7}}


def test_serve_on_a_busy_port_is_a_one_line_error(capsys: Any) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, _, err = _run(capsys, "serve", "--port", str(busy.getsockname()[1]))
    assert code == 2
    assert err.startswith("tributary: error: cannot listen on 127.0.0.1:")


def test_substitutions_fill_placeholders_as_sam_does(tmp_path: Path, capsys: Any) -> None:
    machine = tmp_path / "subst.asl.json"
    machine.write_text(
        json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "${Bucket}", "End": True}}})
    )
    code, out, _ = _run(capsys, "execute", str(machine), "--quiet", "-s", "Bucket=artifacts")
    assert (code, json.loads(out)) == (0, "artifacts")
    code, _, err = _run(capsys, "execute", str(machine), "-s", "no-equals-sign")
    assert code == 2 and "is not KEY=VALUE" in err


class _NoServer:
    server_port = 8083

    def serve_forever(self) -> None:
        pass

    def server_close(self) -> None:
        pass


@pytest.mark.parametrize(
    "argv, patience", [([], 60.0), (["--patience", "2.5"], 2.5), (["--patience", "0"], 0.0)]
)
def test_serve_gives_callbacks_patience_on_the_virtual_clock(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, argv: list[str], patience: float
) -> None:
    from tributary.states.server import __main__ as server_main

    served: list[Any] = []
    monkeypatch.setattr(server_main, "make_server", lambda backend, *_: served.append(backend) or _NoServer())
    code, out, _ = _run(capsys, "serve", *argv)
    assert code == 0 and "Step Functions endpoint on http://127.0.0.1:8083" in out
    assert (served[0].real_time, served[0].patience) == (False, patience)


def test_serve_refuses_a_negative_patience(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        _run(capsys, "serve", "--patience", "-1")
    assert "--patience: must be 0 or more seconds" in capsys.readouterr().err


def test_python_m_server_names_the_file_and_the_path_of_a_bad_mock_config(
    files: dict[str, Path], capsys: Any
) -> None:
    from tributary.states.server.__main__ import main as server_main

    with pytest.raises(SystemExit):
        server_main(["--mock-config", str(files["typo"])])
    err = capsys.readouterr().err
    assert (
        f"{files['typo']}: StateMachines.greeter.TestCases.Busy: unknown mocked response 'BusyThenOK'" in err
    )
