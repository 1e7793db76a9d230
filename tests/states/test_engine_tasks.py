"""Task states through the integrations passed in: resource ARNs, timeouts and heartbeats on the
virtual clock, .waitForTaskToken callbacks, and the MockConfigFile integration."""

from __future__ import annotations

import json
import threading

import pytest

from tributary.states import Execution, IntegrationRegistry, RealClock, VirtualClock, execute
from tributary.states.clock import sleep
from tributary.states.mock_config import MockConfig, MockConfigError, MockIntegration
from tributary.states.service_integrations import CallbackStore, ResourceError, TaskTokenError, parse_resource


@pytest.mark.parametrize(
    ("arn", "service", "action", "pattern", "kind"),
    [
        ("arn:aws:states:::lambda:invoke", "lambda", "invoke", "request-response", "integration"),
        ("arn:aws:states:::glue:startJobRun.sync", "glue", "startJobRun", "sync", "integration"),
        (
            "arn:aws:states:::athena:startQueryExecution.sync",
            "athena",
            "startQueryExecution",
            "sync",
            "integration",
        ),
        (
            "arn:aws:states:::states:startExecution.sync:2",
            "states",
            "startExecution",
            "sync:2",
            "integration",
        ),
        (
            "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "sqs",
            "sendMessage",
            "waitForTaskToken",
            "integration",
        ),
        ("arn:aws:states:::aws-sdk:s3:getObject", "s3", "getObject", "request-response", "integration"),
        ("arn:aws:states:::dynamodb:putItem", "dynamodb", "putItem", "request-response", "integration"),
        ("arn:aws:states:::sns:publish", "sns", "publish", "request-response", "integration"),
        (
            "arn:aws:lambda:eu-west-1:111122223333:function:validate",
            "lambda",
            "invoke",
            "request-response",
            "lambda-function",
        ),
        (
            "arn:aws:states:eu-west-1:111122223333:activity:approve",
            "activity",
            "",
            "request-response",
            "activity",
        ),
    ],
)
def test_resource_arns(arn, service, action, pattern, kind):
    resource = parse_resource(arn)
    assert (resource.service, resource.action, resource.pattern, resource.kind) == (
        service,
        action,
        pattern,
        kind,
    )


def test_aws_sdk_and_lambda_details():
    assert parse_resource("arn:aws:states:::aws-sdk:s3:getObject").sdk is True
    function = parse_resource("arn:aws:lambda:us-east-1:123456789012:function:f:prod")
    assert (function.function_name, function.region, function.account) == (
        "f:prod",
        "us-east-1",
        "123456789012",
    )


@pytest.mark.parametrize("arn", ["lambda:invoke", "arn:aws:s3:::bucket", "arn:aws:states:::aws-sdk:s3"])
def test_bad_resource_arns(arn):
    with pytest.raises(ResourceError):
        parse_resource(arn)


def test_registry_routes_by_service_and_reports_the_unserved(kit):
    registry = IntegrationRegistry({"lambda": kit.Scripted({"from": "lambda"})})
    ok = execute(kit.machine(("T", kit.task())), {}, integrations=registry)
    assert json.loads(ok.output) == {"from": "lambda"}
    missing = execute(kit.machine(("T", kit.task("arn:aws:states:::sns:publish"))), {}, integrations=registry)
    assert (missing.status, missing.error) == ("FAILED", "States.TaskFailed")


def test_parameters_reach_the_integration_and_result_selector_shapes_the_result(kit):
    integration = kit.Scripted({"Payload": {"n": 2}, "StatusCode": 200})
    state = kit.task(
        Parameters={"FunctionName": "f", "Payload.$": "$.body"},
        ResultSelector={"n.$": "$.Payload.n"},
        ResultPath="$.result",
    )
    result = execute(kit.machine(("T", state)), {"body": {"x": 1}}, integrations=integration)
    assert integration.calls[0].arguments == {"FunctionName": "f", "Payload": {"x": 1}}
    assert json.loads(result.output) == {"body": {"x": 1}, "result": {"n": 2}}


def test_jsonata_arguments_and_output(kit):
    integration = kit.Scripted(lambda call: {"echo": call.arguments})
    state = kit.task(Arguments={"v": "{% $states.input.v * 2 %}"}, Output="{% $states.result.echo.v %}")
    result = execute(kit.machine(("T", state), QueryLanguage="JSONata"), {"v": 4}, integrations=integration)
    assert json.loads(result.output) == 8


def slow(seconds: float, answer: object = "done"):
    def run(call):
        sleep(call.clock, seconds)
        return answer

    return run


def test_timeout_seconds_on_the_virtual_clock(kit):
    state = kit.task("arn:aws:states:::glue:startJobRun.sync", TimeoutSeconds=60)
    late = execute(kit.machine(("T", state)), {}, integrations=kit.Scripted(slow(61)))
    assert (late.status, late.error) == ("FAILED", "States.Timeout")
    in_time = execute(kit.machine(("T", state)), {}, integrations=kit.Scripted(slow(59)))
    assert in_time.status == "SUCCEEDED"


def test_timeout_seconds_path_and_catching_the_timeout(kit):
    state = kit.task(
        TimeoutSecondsPath="$.limit",
        Catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "After"}],
    )
    definition = kit.machine(("T", state), ("After", {"Type": "Pass"}))
    definition["States"]["T"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["T"]["End"] = True
    result = execute(definition, {"limit": 5}, integrations=kit.Scripted(slow(10)))
    assert json.loads(result.output)["error"]["Error"] == "States.Timeout"


def test_task_failed_does_not_catch_a_timeout(kit):
    state = kit.task(TimeoutSeconds=1, Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "After"}])
    definition = kit.machine(("T", state), ("After", {"Type": "Pass"}))
    definition["States"]["T"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["T"]["End"] = True
    result = execute(definition, {}, integrations=kit.Scripted(slow(2)))
    assert (result.status, result.error) == ("FAILED", "States.Timeout")


CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"


def answer_later(callbacks: CallbackStore, how: str):
    """An integration that answers its own token from another thread, as a worker would."""

    def run(call):
        token = call.arguments["token"]

        def reply():
            if how == "success":
                callbacks.send_task_success(token, {"approved": True})
            else:
                callbacks.send_task_failure(token, "Rejected", "no")

        threading.Thread(target=reply).start()
        return {"MessageId": "m-1"}

    return run


@pytest.mark.parametrize("how", ["success", "failure"])
def test_wait_for_task_token(kit, how):
    callbacks = CallbackStore()
    state = kit.task(CALLBACK, Parameters={"token.$": "$$.Task.Token"})
    execution = Execution(
        kit.machine(("T", state)),
        {},
        integrations=kit.Scripted(answer_later(callbacks, how)),
        callbacks=callbacks,
    )
    result = execution.run()
    if how == "success":
        assert (result.status, json.loads(result.output)) == ("SUCCEEDED", {"approved": True})
    else:
        assert (result.status, result.error, result.cause) == ("FAILED", "Rejected", "no")
    types = [e["type"] for e in execution.history.events]
    assert types.index("TaskSubmitted") < types.index("TaskSucceeded" if how == "success" else "TaskFailed")


def test_a_token_is_closed_once_answered(kit):
    callbacks = CallbackStore()
    state = kit.task(CALLBACK, Parameters={"token.$": "$$.Task.Token"})
    integration = kit.Scripted(answer_later(callbacks, "success"))
    Execution(kit.machine(("T", state)), {}, integrations=integration, callbacks=callbacks).run()
    token = integration.calls[0].arguments["token"]
    with pytest.raises(TaskTokenError) as raised:
        callbacks.send_task_success(token, {})
    assert raised.value.code == "TaskTimedOut"
    with pytest.raises(TaskTokenError) as unknown:
        callbacks.send_task_heartbeat("nope")
    assert unknown.value.code == "InvalidToken"


def test_heartbeat_timeout_when_nobody_answers(kit):
    clock = VirtualClock()
    start = clock.now()
    state = kit.task(
        CALLBACK, Parameters={"token.$": "$$.Task.Token"}, HeartbeatSeconds=30, TimeoutSeconds=300
    )
    result = execute(kit.machine(("T", state)), {}, integrations=kit.Scripted({}), clock=clock)
    assert (result.status, result.error) == ("FAILED", "States.HeartbeatTimeout")
    assert (clock.now() - start).total_seconds() == 30


class HeartbeatEvery20Seconds(VirtualClock):
    """A virtual clock on which the worker holding the open token heartbeats every 20 seconds."""

    def __init__(self, callbacks: CallbackStore) -> None:
        super().__init__()
        self.callbacks = callbacks
        self.token: str | None = None

    def wait(self, event, seconds):
        if seconds is None or self.token is None or not self.callbacks.is_open(self.token) or seconds < 20:
            return super().wait(event, seconds)
        self.advance(20)
        self.callbacks.send_task_heartbeat(self.token)
        return True


def test_heartbeats_keep_the_task_alive_until_its_timeout(kit):
    callbacks = CallbackStore()
    clock = HeartbeatEvery20Seconds(callbacks)
    start = clock.now()

    def submit(call):
        clock.token = call.task_token
        return {}

    state = kit.task(
        CALLBACK, Parameters={"token.$": "$$.Task.Token"}, HeartbeatSeconds=30, TimeoutSeconds=90
    )
    execution = Execution(
        kit.machine(("T", state)), {}, integrations=kit.Scripted(submit), clock=clock, callbacks=callbacks
    )
    result = execution.run()
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert (clock.now() - start).total_seconds() == 90
    assert execution.history.events[-2]["type"] == "TaskTimedOut"


def test_stop_ends_a_task_waiting_for_its_token(kit):
    state = kit.task(CALLBACK, Parameters={"token.$": "$$.Task.Token"})
    execution = Execution(kit.machine(("T", state)), {}, integrations=kit.Scripted({})).start()
    assert not execution.wait(0.2)
    execution.stop("Stopped", "by the test")
    assert execution.wait(5)
    assert (execution.status, execution.error, execution.cause) == ("ABORTED", "Stopped", "by the test")
    assert execution.history.events[-1]["type"] == "ExecutionAborted"


MOCK_CONFIG = {
    "StateMachines": {
        "Pipeline": {
            "TestCases": {
                "HappyPath": {"Validate": "ValidateOk"},
                "RetryPath": {"Validate": "ValidateFlaky"},
            }
        }
    },
    "MockedResponses": {
        "ValidateOk": {"0": {"Return": {"Payload": {"accepted": 3}}}},
        "ValidateFlaky": {
            "0": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "try again"}},
            "1-2": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow down"}},
            "3": {"Return": {"Payload": {"accepted": 1}}},
        },
    },
}


def mocked_pipeline(kit):
    return kit.machine(
        (
            "Validate",
            kit.task(Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}], OutputPath="$.Payload"),
        ),
        ("Notify", kit.task("arn:aws:states:::sns:publish", ResultPath=None)),
    )


def test_mock_config_test_case_from_the_arn_suffix(kit):
    fallback = kit.Scripted({"MessageId": "real"})
    mock = MockIntegration(MockConfig(MOCK_CONFIG), fallback=fallback)
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline#HappyPath"
    result = execute(mocked_pipeline(kit), {}, integrations=mock, state_machine_arn=arn)
    assert json.loads(result.output) == {"accepted": 3}
    assert [c.state_name for c in fallback.calls] == ["Notify"]  # states the test case leaves out go on


def test_mock_config_ranges_count_the_invocations(kit):
    mock = MockIntegration(
        MockConfig(MOCK_CONFIG), test_case="RetryPath", state_machine="Pipeline", fallback=kit.Scripted({})
    )
    execution = Execution(mocked_pipeline(kit), {}, integrations=mock)
    result = execution.run()
    assert json.loads(result.output) == {"accepted": 1}
    failures = [
        e["taskFailedEventDetails"]["error"] for e in execution.history.events if e["type"] == "TaskFailed"
    ]
    assert failures == [
        "Lambda.ServiceException",
        "Lambda.TooManyRequestsException",
        "Lambda.TooManyRequestsException",
    ]


def test_mock_config_errors_name_what_is_missing():
    config = MockConfig(MOCK_CONFIG)
    with pytest.raises(MockConfigError, match="no test case 'Nope'"):
        config.response_name("Pipeline", "Nope", "Validate")
    with pytest.raises(MockConfigError, match="invocation 1"):
        config.answer("ValidateOk", 1)
    with pytest.raises(MockConfigError, match="'N' or 'N-M'"):
        MockConfig({"MockedResponses": {"X": {"first": {"Return": 1}}}})


def _with(**changes):
    """MOCK_CONFIG with some of its parts replaced."""
    document = json.loads(json.dumps(MOCK_CONFIG))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = document
        for name in parents:
            target = target[name]
        target[last] = value
    return document


@pytest.mark.parametrize(
    "document, message",
    [
        ([], ": the MockConfigFile must be an object, not an array"),
        (_with(StateMachines=[]), ": StateMachines: must be an object, not an array"),
        (_with(StateMachines__Pipeline=[]), ": StateMachines.Pipeline: must be an object, not an array"),
        (_with(StateMachines__Pipeline={}), ": StateMachines.Pipeline: needs TestCases"),
        (
            _with(StateMachines__Pipeline__TestCases__X={"Validate": "Y"}),
            ": StateMachines.Pipeline.TestCases.X: unknown mocked response 'Y' (state 'Validate')",
        ),
        (
            _with(StateMachines__Pipeline__TestCases__X={"Validate": 3}),
            ": StateMachines.Pipeline.TestCases.X: state 'Validate' must name a mocked response, not a num",
        ),
        (
            _with(StateMachines__Pipeline__TestCases__X=None),
            ": StateMachines.Pipeline.TestCases.X: must be an object, not null",
        ),
        (
            _with(MockedResponses__ValidateOk=[]),
            ": MockedResponses.ValidateOk: must be an object, not an array",
        ),
        (_with(MockedResponses__ValidateOk={}), ": MockedResponses.ValidateOk: has no responses"),
        (
            _with(MockedResponses__ValidateOk={"first": {"Return": 1}}),
            ": MockedResponses.ValidateOk.first: the key 'first' is not 'N' or 'N-M'",
        ),
        (
            _with(MockedResponses__ValidateOk={"2-1": {"Return": 1}}),
            ": MockedResponses.ValidateOk.2-1: the key '2-1' is not an ascending range",
        ),
        (
            _with(MockedResponses__ValidateOk={"0": {"Return": 1, "Throw": {}}}),
            ": MockedResponses.ValidateOk.0: needs exactly one of Return, Throw",
        ),
        (
            _with(MockedResponses__ValidateOk={"0": {"Throw": "Boom"}}),
            ": MockedResponses.ValidateOk.0.Throw: must be an object, not a string",
        ),
        (
            _with(MockedResponses__ValidateOk={"0": {"Throw": {"Error": 7}}}),
            ": MockedResponses.ValidateOk.0.Throw.Error: must be a string, not a number",
        ),
        (
            _with(MockedResponses__ValidateOk={"0-2": {"Return": 1}, "2": {"Return": 2}}),
            ": MockedResponses.ValidateOk.2: overlaps another key",
        ),
    ],
)
def test_a_malformed_mock_config_names_the_file_and_the_path(tmp_path, document, message):
    path = tmp_path / "MockConfigFile.json"
    path.write_text(json.dumps(document))
    with pytest.raises(MockConfigError) as raised:
        MockConfig.load(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)
    assert raised.value.source == str(path)


def test_an_unreadable_mock_config_names_the_file(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(MockConfigError, match=f"^{missing}: cannot read it"):
        MockConfig.load(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(MockConfigError, match=f"^{broken}: not JSON"):
        MockConfig.load(broken)


def test_lookups_a_mock_config_cannot_answer_name_the_file_and_the_path(tmp_path):
    path = tmp_path / "mocks.json"
    path.write_text(json.dumps(MOCK_CONFIG))
    config = MockConfig.load(path)
    with pytest.raises(MockConfigError) as no_case:
        config.response_name("Pipeline", "Nope", "Validate")
    assert str(no_case.value) == (
        f"{path}: StateMachines.Pipeline.TestCases: no test case 'Nope' for state machine 'Pipeline'"
    )
    with pytest.raises(MockConfigError) as no_answer:
        config.answer("ValidateOk", 1)
    assert (
        str(no_answer.value)
        == f"{path}: MockedResponses.ValidateOk: no answer for invocation 1 (counted from 0)"
    )


def test_stop_cancels_a_sync_integration_that_is_polling(kit):
    polls = []

    def poll_until_cancelled(call):
        while not call.clock.wait(call.cancelled, 0.01):
            polls.append(1)
        return {"JobRunState": "STOPPED"}

    state = kit.task("arn:aws:states:::glue:startJobRun.sync")
    execution = Execution(
        kit.machine(("T", state)), {}, integrations=kit.Scripted(poll_until_cancelled), clock=RealClock()
    ).start()
    while not polls:
        threading.Event().wait(0.01)
    execution.stop()
    assert execution.wait(5)
    assert execution.status == "ABORTED"
    assert "TaskSucceeded" not in [e["type"] for e in execution.history.events]


def test_a_sync_integration_reports_submission_then_polls_on_the_clock(kit):
    def glue_sync(call):
        call.submitted({"JobRunId": "jr_1"})
        for _ in range(3):  # three polls of 30 s on the virtual clock
            sleep(call.clock, 30)
        return {"JobRunId": "jr_1", "JobRunState": "SUCCEEDED"}

    state = kit.task("arn:aws:states:::glue:startJobRun.sync", Parameters={"JobName": "transform"})
    execution = Execution(kit.machine(("T", state)), {}, integrations=kit.Scripted(glue_sync))
    result = execution.run()
    assert json.loads(result.output)["JobRunState"] == "SUCCEEDED"
    events = {e["type"]: e for e in execution.history.events}
    assert json.loads(events["TaskSubmitted"]["taskSubmittedEventDetails"]["output"]) == {"JobRunId": "jr_1"}
    assert events["TaskScheduled"]["taskScheduledEventDetails"]["resource"] == "startJobRun.sync"
    waited = events["TaskSucceeded"]["timestamp"] - events["TaskSubmitted"]["timestamp"]
    assert waited.total_seconds() == 90


def test_send_task_failure_without_error_or_cause_fails_with_nulls(kit):
    callbacks = CallbackStore()

    def fail_silently(call):
        threading.Thread(target=callbacks.send_task_failure, args=(call.task_token,)).start()
        return {}

    state = kit.task(CALLBACK, Parameters={"token.$": "$$.Task.Token"})
    execution = Execution(
        kit.machine(("T", state)), {}, integrations=kit.Scripted(fail_silently), callbacks=callbacks
    )
    result = execution.run()
    assert (result.status, result.error, result.cause) == ("FAILED", None, None)
