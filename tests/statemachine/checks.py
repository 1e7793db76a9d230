"""Running one test case of mock_config.json and checking its history against what the definition and the
mocked answers imply: the states entered, every attempt of every Task, each back-off, the catch taken and
what the failure path records and alerts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.statemachine.pipeline import (
    EXECUTION_INPUT,
    MAP_RUN_FAILED,
    MOCK_CONFIG,
    RUN_ID,
    STATE_MACHINE_ARN,
    SUBSTITUTIONS,
    TOLERANCE,
    Attempts,
    Catcher,
    History,
    Mocks,
    Pipeline,
    RetryRule,
    details,
    predict,
)
from tributary.states import Execution, MockConfig, MockIntegration

# The failure path every Task is caught into (DESIGN.md: record failure → quarantine → notify → Fail).
FAILURE_ROUTE = ["RecordFailure", "QuarantineInputs", "NotifyFailure", "RunFailed"]
# What a failure goes through first once partitions may be registered (RegisterPartitions to CommitRun):
# the partitions dropped, the lineage retracted. If the drop fails for good, UnpublishRunFailed says so in
# the cause and CountUnpublishFailure counts it.
UNPUBLISH_ROUTE = ["UnpublishRun", "RetractLineage"]
UNPUBLISH_FAILED = ["UnpublishRunFailed", "CountUnpublishFailure"]
# The states between registration and the commit, whose failures go through UNPUBLISH_ROUTE.
BEFORE_COMMIT = ["RegisterPartitions", "RecordLineage", "CommitRun"]
# After the commit: a failed announcement is recorded and counted, and the run still succeeds.
AFTER_COMMIT = ["RecordNotificationError", "CountNotificationFailure"]
# Tasks that only run after another Task failed (their test cases make that one fail first).
ROUTE_TASKS = {
    "RecordFailure",
    "QuarantineInputs",
    "NotifyFailure",
    "UnpublishPartitionBatch",
    "RetractLineage",
    "CountUnpublishFailure",
    *AFTER_COMMIT,
}
SUCCEEDED_OUTPUT = {"run_id": RUN_ID, "status": "SUCCEEDED"}
RESULT_URI = f"s3://{SUBSTITUTIONS['ArtifactsBucketName']}/runs/{RUN_ID}/result.json"
BATCHES_URI = f"s3://{SUBSTITUTIONS['ArtifactsBucketName']}/runs/{RUN_ID}/partition-batches.json"
# The table SyncCatalogTable answers in every test case.
TABLE = "tributary_dev.orders"
# The test case whose run the cases of a Task start from (the path they take until something fails).
SOME_OBJECTS_FAILED = "SomeObjectsFailed"
# The happy path on the small-run executor: validate's accepted_bytes equal SmallRunMaxBytes.
HAPPY_PATH_LITE = "HappyPathLite"
# A run whose quality rules fail asks a person (AwaitApproval): approved, it is published; refused, or
# not decided before ApprovalTimeoutSeconds, it takes the failure route. The cases of AwaitApproval and
# RecordDecision start from the approved run's path.
APPROVAL_GRANTED = "ApprovalGranted"
APPROVAL_CASES = {APPROVAL_GRANTED, "ApprovalRefused", "ApprovalTimedOut"}


def execution_arn(name: str = RUN_ID) -> str:
    return STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + f":{name}"


@dataclass
class Run:
    status: str
    error: str | None
    cause: str | None
    output: Any
    history: History
    name: str = RUN_ID
    # The events of the child executions of each distributed Map (RegisterPartitions, UnpublishRun), by
    # the Map's name: AWS keeps them out of the execution's own history.
    map_runs: dict[str, History] = field(default_factory=dict)

    def history_of(self, pipeline: Pipeline, state: str) -> History:
        """The history that holds `state`'s events: its map run's for a state of a distributed Map."""
        owner = pipeline.distributed_map_of(state)
        if owner is None:
            return self.history
        return self.map_runs.get(owner, History([]))


def map_state_name(map_run_arn: str) -> str:
    """The Map state of a map run: its ARN ends with `/<Map state name>:<counter>`."""
    return map_run_arn.rsplit("/", 1)[1].rsplit(":", 1)[0]


def run_case(definition: str, case: str, *, seed: int = 0) -> Run:
    """One execution of the definition, its tasks answered by the named test case of mock_config.json."""
    execution = Execution(
        definition,
        EXECUTION_INPUT,
        name=RUN_ID,
        state_machine_arn=STATE_MACHINE_ARN,
        integrations=MockIntegration(MockConfig.load(MOCK_CONFIG), test_case=case),
        seed=seed,
    )
    result = execution.run()
    output = json.loads(result.output) if result.output is not None else None
    # A Map retried after its map run started (ValidateEachObject's ResultWriter failed) has a map run
    # per attempt: the last one is kept.
    map_runs = {
        map_state_name(arn): History(history.events)
        for arn, history in execution.runtime.map_run_histories.items()
    }
    return Run(
        result.status,
        result.error,
        result.cause,
        output,
        History(execution.history.events),
        map_runs=map_runs,
    )


def base_path(mocks: Mocks, runs: dict[str, Run], case: str) -> list[str]:
    """The states a test case enters until something fails: the happy path's; where validate answers as
    for a small run (the cases of RunSmallTransform), the HappyPathLite path's; where objects failed in the
    job (the cases of QuarantineFailedObjects), the SomeObjectsFailed path's; where the quality rules
    fail (the cases of AwaitApproval and RecordDecision), the ApprovalGranted path's."""
    mapping = mocks.cases[case]
    if mapping["ValidateObjects"] == mocks.cases[HAPPY_PATH_LITE]["ValidateObjects"]:
        baseline = HAPPY_PATH_LITE
    elif mapping["ReadTransformResult"] == mocks.cases[SOME_OBJECTS_FAILED]["ReadTransformResult"]:
        baseline = SOME_OBJECTS_FAILED
    elif mapping["ReadTransformResult"] == mocks.cases[APPROVAL_GRANTED]["ReadTransformResult"]:
        baseline = APPROVAL_GRANTED
    else:
        baseline = "HappyPath"
    return runs[baseline].history.entered()


def error_message(failure: dict[str, Any]) -> dict[str, Any]:
    """What a catch that keeps messages (its failure expression names ErrorMessage) keeps of an error: a
    Glue JobRun's or a Lambda error's (JSON) cause is replaced by the first line of its ErrorMessage or
    errorMessage; any other cause is kept."""
    try:
        document = json.loads(failure.get("Cause") or "")
    except ValueError:
        return failure
    message = None
    if isinstance(document, dict):
        message = document.get("ErrorMessage", document.get("errorMessage"))
    if isinstance(message, str) and message.split("\n")[0].strip():
        return {**failure, "Cause": message.split("\n")[0].strip()}
    return failure


def or_no_cause(cause: str | None) -> str:
    return cause or "(no cause)"


def unpublish_failed(recorded: dict[str, Any], unpublish: dict[str, Any]) -> dict[str, Any]:
    """UnpublishRunFailed: the run's error, its cause saying the partitions may still be registered."""
    return {
        "Error": recorded["Error"],
        "Cause": f"{or_no_cause(recorded.get('Cause'))} | PARTITIONS MAY STILL BE REGISTERED: "
        f"UnpublishRun failed ({unpublish['Error']}: {unpublish.get('Cause') or ''}); drop each drop_clause "
        f"of {BATCHES_URI} with ALTER TABLE {TABLE} DROP IF EXISTS",
    }


def lineage_not_retracted(recorded: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {
        "Error": recorded["Error"],
        "Cause": f"{or_no_cause(recorded.get('Cause'))} | LINEAGE NOT RETRACTED: RetractLineage failed "
        f"({error['Error']})",
    }


@dataclass
class Expected:
    attempts: dict[str, Attempts]
    entered: list[str]
    ignored: set[str]  # states of sibling branches of the failing one
    failing: str | None  # the first Task of the success path that ends in an error
    catchers: list[Catcher]  # the catchers that must handle an error, in order
    # The failing Task's error, or its distributed Map's.
    failure: dict[str, Any] | None = None
    # What the failure path records ($failure): the error as the catchers and Pass states on the way made
    # it (a Glue job's ErrorMessage, a failed unpublish or lineage retraction named in the cause).
    recorded: dict[str, Any] | None = None
    succeeded: bool = True  # the execution succeeds (no failure, or one after the commit)


def _fails(pipeline: Pipeline, attempts: dict[str, Attempts], state: str) -> dict[str, Any] | None:
    """The error `state` ends with under the mocked answers: a Task's own, or for a distributed Map the
    Map run's error when one of its child Tasks fails."""
    attempt = attempts.get(state)
    if attempt is not None:
        return attempt.error
    if pipeline.states[state]["Type"] == "Map" and any(
        attempts[task].failed for task in pipeline.inside(state) if task in attempts
    ):
        return MAP_RUN_FAILED
    return None


def expect(pipeline: Pipeline, mocks: Mocks, case: str, happy: list[str]) -> Expected:
    """What a test case must do, from the mocked answers and the definition, given the states its path
    enters until something fails (`happy`, see base_path). Only for test cases whose failures are Task
    errors (a test case answers each Task once). The states of a distributed Map run in its child
    executions, right after the Map enters."""
    mapping = mocks.cases[case]
    attempts = {task: predict(pipeline.rules_of(task), mocks, mapping[task]) for task in pipeline.tasks}
    steps = [
        step
        for name in happy
        for step in [name, *(pipeline.inside(name) if name in pipeline.item_readers else [])]
    ]
    failing = next((name for name in steps if name in attempts and attempts[name].failed), None)
    if failing is None:
        return Expected(attempts, list(happy), set(), None, [])
    # A failed child execution fails the distributed Map with its own error; the Map's Catch takes it.
    owner = pipeline.distributed_map_of(failing)
    failure = MAP_RUN_FAILED if owner else attempts[failing].error
    assert failure is not None
    current = owner or failing
    catchers = []
    entered = happy[: happy.index(current) + 1]
    error: dict[str, Any] | None = failure
    recorded: dict[str, Any] = failure
    unpublish: dict[str, Any] | None = None
    while True:
        if error is not None:
            catcher = pipeline.handler_of(current, error["Error"])
            assert catcher is not None, f"{case}: nothing catches {error['Error']} from {current}"
            catchers.append(catcher)
            assigned = catcher.spec.get("Assign", {})
            if "rrorMessage" in str(assigned.get("failure", "")):
                recorded = error_message(error)
            elif catcher.state == "RetractLineage":
                recorded = lineage_not_retracted(recorded, error)
            elif "failure" in assigned:
                recorded = error
            if "unpublishFailure" in assigned:
                unpublish = error
            following = catcher.spec["Next"]
        else:
            following = pipeline.states[current].get("Next")
        if following is None:
            break
        entered.append(following)
        current = following
        if current == "UnpublishRunFailed":
            assert unpublish is not None
            recorded = unpublish_failed(recorded, unpublish)
        error = _fails(pipeline, attempts, current)
    succeeded = pipeline.states[current]["Type"] == "Succeed"
    return Expected(
        attempts,
        entered,
        pipeline.siblings(failing),
        failing,
        catchers,
        None if succeeded else failure,
        None if succeeded else recorded,
        succeeded,
    )


def check_attempts(pipeline: Pipeline, task: str, attempts: Attempts, history: History, case: str) -> None:
    """Every attempt of a Task: one TaskScheduled each, the mocked errors in order (States.Timeout as
    TaskTimedOut), the result, and each back-off within what the Retry rule allows."""
    label = f"{case}: {task}"
    assert len(history.of_type(task, "TaskScheduled")) == attempts.attempts, label
    seen = [(e["type"], details(e)["error"], details(e).get("cause") or "") for e in history.failures(task)]
    wanted = [
        ("TaskTimedOut" if t["Error"] == "States.Timeout" else "TaskFailed", t["Error"], t.get("Cause") or "")
        for t in attempts.thrown
    ]
    assert seen == wanted, label
    succeeded = history.of_type(task, "TaskSucceeded")
    if attempts.failed:
        assert succeeded == [], label
    else:
        (success,) = succeeded
        assert json.loads(details(success)["output"]) == attempts.returned, label
    gaps = history.backoffs(task)
    assert len(gaps) == len(attempts.retries), f"{label}: {len(gaps)} retries, not {len(attempts.retries)}"
    for gap, (index, done) in zip(gaps, attempts.retries, strict=True):
        rule = RetryRule(task, index, pipeline.rules_of(task)[index])
        ceiling = rule.ceiling(done)
        if rule.jitter == "FULL":
            assert -TOLERANCE <= gap <= ceiling + TOLERANCE, (
                f"{label}: retry {done + 1} after {gap}s > {ceiling}s"
            )
        else:
            assert abs(gap - ceiling) <= TOLERANCE, f"{label}: retry {done + 1} after {gap}s, not {ceiling}s"


def check_state_order(pipeline: Pipeline, history: History) -> None:
    """Top-level states enter and exit in turn (a Fail state only enters); nested states exit at most
    once, after they entered."""
    top = [(kind, name) for kind, name in history.state_events() if pipeline.parent[name] is None]
    wanted: list[tuple[str, str]] = []
    for kind, name in top:
        if kind == "Entered":
            wanted.append(("Entered", name))
            if pipeline.states[name]["Type"] != "Fail":
                wanted.append(("Exited", name))
    assert top == wanted
    events = history.state_events()
    for position, (kind, name) in enumerate(events):
        if kind == "Exited":
            assert ("Entered", name) in events[:position], f"{name} exited before it entered"
    exits = [name for kind, name in events if kind == "Exited"]
    assert len(exits) == len(set(exits)), "a state exited twice"


def without_now(update: dict[str, Any]) -> dict[str, Any]:
    values = {key: value for key, value in update["ExpressionAttributeValues"].items() if key != ":now"}
    return {**update, "ExpressionAttributeValues": values}


def check_failure_route(
    pipeline: Pipeline,
    run: Run,
    attempts: dict[str, Attempts],
    error: str,
    cause: str,
    *,
    glue_job_run_id: str,
) -> None:
    """RecordFailure writes FAILED with the error and cause, QuarantineInputs gets them, NotifyFailure
    alerts with them, and the execution fails with them (so the ExecutionsFailed alarm counts it)."""
    history = run.history
    assert history.entered()[-len(FAILURE_ROUTE) :] == FAILURE_ROUTE

    *retried, record = history.parameters("RecordFailure")
    # A retry sends the same update but for its timestamps ($now() is read again for each attempt).
    assert all(without_now(earlier) == without_now(record) for earlier in retried)
    assert record["TableName"] == SUBSTITUTIONS["RunsTableName"]
    assert record["Key"] == {"run_id": {"S": RUN_ID}}
    values = record["ExpressionAttributeValues"]
    assert values[":failed"] == {"S": "FAILED"}
    assert values[":error"] == {"S": error}
    assert values[":cause"] == {"S": cause or "(no cause)"}
    assert values[":glue_job_run_id"] == {"S": glue_job_run_id}
    assert values[":result_uri"] == {"S": RESULT_URI}
    assert "#error" in record["UpdateExpression"] and "#cause" in record["UpdateExpression"]

    *retried, quarantine = history.parameters("QuarantineInputs")
    assert all(earlier == quarantine for earlier in retried)
    assert quarantine["FunctionName"] == SUBSTITUTIONS["QuarantineFunctionArn"]
    payload = quarantine["Payload"]
    assert (payload["run_id"], payload["dataset"]) == (RUN_ID, EXECUTION_INPUT["dataset"])
    assert payload["manifest_uri"] == EXECUTION_INPUT["manifest_uri"]
    assert (payload["error"], payload.get("cause") or "") == (error, cause)

    *retried, notify = history.parameters("NotifyFailure")
    assert all(earlier == notify for earlier in retried)
    assert notify["TopicArn"] == SUBSTITUTIONS["NotificationTopicArn"]
    assert notify["Subject"] == f"Tributary run FAILED: {EXECUTION_INPUT['dataset']}"
    assert notify["MessageAttributes"]["status"] == {"DataType": "String", "StringValue": "FAILED"}
    message = json.loads(notify["Message"])
    assert (message["status"], message["error"], message.get("cause") or "") == (
        "FAILED",
        error,
        cause[:2000],
    )
    assert (message["run_id"], message["manifest_uri"]) == (RUN_ID, EXECUTION_INPUT["manifest_uri"])
    assert message["execution_arn"] == execution_arn(run.name)
    quarantined = attempts["QuarantineInputs"]
    wanted_uri = (
        "(quarantine failed)" if quarantined.failed else quarantined.returned["Payload"]["quarantine_uri"]
    )
    assert message["quarantine_uri"] == wanted_uri

    ending = history.events[-1]
    assert ending["type"] == "ExecutionFailed"
    assert (details(ending)["error"], details(ending).get("cause") or "") == (error, cause)
    assert (run.status, run.error, run.cause or "") == ("FAILED", error, cause)


def verify(pipeline: Pipeline, mocks: Mocks, case: str, run: Run, happy: list[str]) -> Expected:
    """The whole history of a test case whose failures (if any) are Task errors."""
    expected = expect(pipeline, mocks, case, happy)
    history = run.history
    entered = [name for name in history.entered() if name not in expected.ignored]
    assert entered == [name for name in expected.entered if name not in expected.ignored], case
    check_state_order(pipeline, history)
    for task in pipeline.tasks:
        if task in expected.ignored:
            continue
        task_history = run.history_of(pipeline, task)
        if (pipeline.distributed_map_of(task) or task) in expected.entered:
            check_attempts(pipeline, task, expected.attempts[task], task_history, case)
        else:
            assert task_history.task_events(task) == [], f"{case}: {task} was called"
    for catcher in expected.catchers:
        check_caught(pipeline, history, catcher)
    if expected.succeeded:
        assert (run.status, run.output) == ("SUCCEEDED", SUCCEEDED_OUTPUT), (case, run.error, run.cause)
        assert history.events[-1]["type"] == "ExecutionSucceeded"
        return expected
    after_transform = pipeline.states["TransformAndCatalog"]["Next"]
    # Only a run that got past the Glue path has a job run id to record (the small-run path has none).
    glue_job_run_id = (
        expected.attempts["RunTransformJob"].returned["Id"]
        if after_transform in expected.entered and "RunTransformJob" in expected.entered
        else ""
    )
    assert expected.recorded is not None
    check_failure_route(
        pipeline,
        run,
        expected.attempts,
        expected.recorded["Error"],
        expected.recorded.get("Cause") or "",
        glue_job_run_id=glue_job_run_id,
    )
    return expected


def check_caught(pipeline: Pipeline, history: History, catcher: Catcher) -> None:
    """The state owning the catcher failed, and the next state entered outside it is the catcher's Next."""
    entered = history.entered()
    owner = catcher.state
    inside = {name for name in pipeline.states if owner in pipeline.enclosing(name)}
    position = entered.index(owner)
    following = next(name for name in entered[position + 1 :] if name not in inside)
    assert following == catcher.spec["Next"], f"{catcher} did not lead to {catcher.spec['Next']}"
    failed = [
        e
        for e in history.events
        if e["type"] in ("TaskFailed", "TaskTimedOut", "ParallelStateFailed", "MapStateFailed")
        and history.state_of(e) == owner
    ]
    assert failed, f"{owner} did not fail"
