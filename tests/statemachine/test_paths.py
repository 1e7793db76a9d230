"""The paths that are not one Task's errors: the happy path, a run with nothing to register, nothing
accepted by validate, the quality gate refusing the job's result, objects the job could not read; and the
one commit point: what a failure after registration undoes (every partition batch, the lineage) before
the run is recorded FAILED, what an unpublish that fails for good records, and a failed announcement after
the commit, which leaves the run SUCCEEDED."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.statemachine.checks import (
    BATCHES_URI,
    FAILURE_ROUTE,
    RESULT_URI,
    ROUTE_TASKS,
    TABLE,
    UNPUBLISH_FAILED,
    UNPUBLISH_ROUTE,
    Run,
    check_failure_route,
    execution_arn,
    expect,
    run_case,
    verify,
)
from tests.statemachine.pipeline import (
    EXECUTION_INPUT,
    MAP_RUN_FAILED,
    RUN_ID,
    SUBSTITUTIONS,
    History,
    Mocks,
    Pipeline,
    details,
)

HAPPY = [
    "InitRun",
    "RecordStart",
    "PrepareValidation",
    "ValidateEachObject",
    "ValidateObjects",
    "AnyObjectAccepted",
    "TransformAndCatalog",
    "ChooseTransformPath",
    "SyncCatalogTable",
    "RunTransformJob",
    "ReadTransformResult",
    "AnyObjectFailed",
    "QualityGate",
    "RegisterPartitions",
    "RecordLineage",
    "CommitRun",
    "NotifySuccess",
    "RunSucceeded",
]
# A run of at most SmallRunMaxBytes: the same path, RunSmallTransform in the place of the Glue job.
HAPPY_LITE = [name if name != "RunTransformJob" else "RunSmallTransform" for name in HAPPY]
# The states up to the summary's check; the test cases that make objects fail in the job take the same
# path with the quarantine step added.
UP_TO_CHECK = HAPPY[: HAPPY.index("AnyObjectFailed") + 1]
SOME_OBJECTS_FAILED = [*UP_TO_CHECK, "QuarantineFailedObjects", *HAPPY[len(UP_TO_CHECK) :]]
# A run whose quality rules fail: the gate names the failure, then asks a person (AwaitApproval) and
# records the decision; approved, it is published like a run that passed; refused or timed out, it fails.
UP_TO_GATE = HAPPY[: HAPPY.index("QualityGate") + 1]
ASKED = [*UP_TO_GATE, "QualityGateFailed", "CanBeApproved", "AwaitApproval", "RecordDecision", "Approved"]
APPROVED = [*ASKED, *HAPPY[HAPPY.index("RegisterPartitions") :]]
APPROVAL_TASKS = {"AwaitApproval", "RecordDecision"}
APPROVER = "arn:aws:iam::123456789012:user/alice"


def mocked_return(mocks: Mocks, case: str, state: str) -> dict:
    return mocks.answer(mocks.response_of(case, state), 0)["Return"]


def test_happy_path(pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]) -> None:
    run = runs["HappyPath"]
    assert happy == HAPPY
    verify(pipeline, mocks, "HappyPath", run, happy)
    history = run.history
    assert not {"TaskFailed", "TaskTimedOut", "ParallelStateFailed"} & set(history.types())
    for task in pipeline.tasks:
        calls = len(run.history_of(pipeline, task).of_type(task, "TaskScheduled"))
        assert calls == (
            0
            if task in ROUTE_TASKS | {"QuarantineFailedObjects", "RunSmallTransform", *APPROVAL_TASKS}
            else 1
        ), task
    # Nothing waits on the happy path: no virtual time passes.
    assert history.events[-1]["timestamp"] == history.events[0]["timestamp"]

    # ReadTransformResult reads the run's summary.json; RegisterPartitions reads partition-batches.json
    # and registers each batch in a child execution of its own.
    read = history.parameters("ReadTransformResult")[0]
    assert read["Key"] == f"runs/{RUN_ID}/summary.json"
    summary = json.loads(mocked_return(mocks, "HappyPath", "ReadTransformResult")["Body"])
    batches = json.loads(mocked_return(mocks, "HappyPath", "RegisterPartitions")["Body"])
    assert summary["partition_count"] == 1 and len(batches) == 1
    # ValidateEachObject's Map starts first (one item), RegisterPartitions' second.
    _validating, map_started = [e for e in history.events if e["type"] == "MapStateStarted"]
    assert details(map_started)["length"] == len(batches)
    job = mocked_return(mocks, "HappyPath", "RunTransformJob")
    assert set(run.map_runs) == {"ValidateEachObject", "RegisterPartitions"}
    (query,) = run.map_runs["RegisterPartitions"].parameters("RegisterPartitionBatch")
    assert query["QueryString"] == "ALTER TABLE `{}`.`{}` ADD IF NOT EXISTS {}".format(
        mocked_return(mocks, "HappyPath", "SyncCatalogTable")["Payload"]["database"],
        mocked_return(mocks, "HappyPath", "SyncCatalogTable")["Payload"]["table"],
        batches[0]["clause"],
    )
    # The one commit point: RUNNING (or SUCCEEDED by this very execution) -> SUCCEEDED with the counts.
    (commit,) = history.parameters("CommitRun")
    assert (
        commit["ConditionExpression"]
        == "#execution_arn = :execution_arn AND #status IN (:running, :succeeded)"
    )
    values = commit["ExpressionAttributeValues"]
    assert (values[":running"], values[":succeeded"]) == ({"S": "RUNNING"}, {"S": "SUCCEEDED"})
    assert values[":execution_arn"] == {"S": execution_arn()}
    assert values[":objects_failed"] == {"N": "0"}
    assert values[":glue_job_run_id"] == {"S": job["Id"]}
    assert values[":rows_written"] == {"N": str(summary["rows_written"])}
    assert values[":partition_count"] == {"N": str(summary["partition_count"])}
    (notify,) = history.parameters("NotifySuccess")
    message = json.loads(notify["Message"])
    assert (message["status"], message["rows_written"]) == ("SUCCEEDED", summary["rows_written"])
    assert message["partition_count"] == summary["partition_count"]
    assert notify["MessageAttributes"]["status"]["StringValue"] == "SUCCEEDED"


def test_a_run_with_no_rows_succeeds_without_registering(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run]
) -> None:
    run = runs["NothingToRegister"]
    verify(pipeline, mocks, "NothingToRegister", run, [s for s in HAPPY if s != "RegisterPartitions"])
    assert "RegisterPartitions" not in run.history.entered()
    assert set(run.map_runs) == {"ValidateEachObject"}
    (commit,) = run.history.parameters("CommitRun")
    assert commit["ExpressionAttributeValues"][":partition_count"] == {"N": "0"}


def test_nothing_accepted_fails_the_run_through_the_failure_route(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]
) -> None:
    run = runs["NothingAccepted"]
    history = run.history
    assert history.entered() == [
        *HAPPY[: HAPPY.index("AnyObjectAccepted") + 1],
        "NoObjectAccepted",
        *FAILURE_ROUTE,
    ]
    validated = mocked_return(mocks, "NothingAccepted", "ValidateObjects")["Payload"]
    assert validated["accepted"] == 0
    cause = details(history.events[-1])["cause"]
    assert validated["rejected_uri"] in cause and str(validated["rejected"]) in cause
    attempts = expect(pipeline, mocks, "NothingAccepted", happy).attempts
    check_failure_route(pipeline, run, attempts, "Tributary.NoObjectAccepted", cause, glue_job_run_id="")
    for task in ("RunTransformJob", "SyncCatalogTable", "RegisterPartitions", "CommitRun", "UnpublishRun"):
        assert history.task_events(task) == [], task


def gate_cause(mocks: Mocks, case: str) -> str:
    """QualityGateFailed's cause, from the mocked summary."""
    result = json.loads(mocked_return(mocks, case, "ReadTransformResult")["Body"])
    assert result["quality"]["passed"] is False
    return (
        f"status {result['status']}, reject ratio {result['reject_ratio']} "
        f"(max {result['quality']['max_reject_ratio']}), rows written {result['rows_written']}; "
        f"details in {RESULT_URI}"
    )


def decision_recorded(run: Run) -> dict[str, Any]:
    (record,) = run.history.parameters("RecordDecision")
    assert record["TableName"] == SUBSTITUTIONS["RunsTableName"]
    assert record["Key"] == {"run_id": {"S": RUN_ID}}
    assert record["ConditionExpression"] == "#execution_arn = :execution_arn"
    assert record["UpdateExpression"].endswith("REMOVE #approval_token")
    values = record["ExpressionAttributeValues"]
    assert values[":execution_arn"] == {"S": execution_arn()}
    assert values[":running"] == {"S": "RUNNING"}
    assert values[":rejects_uri"] == {"S": f"s3://artifacts/rejects/orders/run_id={RUN_ID}/"}
    return {
        key[1:]: value["S"]
        for key, value in values.items()
        if key in (":decision", ":decided_by", ":decided_at", ":reason")
    }


def test_a_failed_quality_gate_never_registers_partitions(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]
) -> None:
    """Nobody decides (the default outcome): refused by timeout, quarantined as before."""
    run = runs["QualityGateFailed"]
    history = run.history
    assert history.entered() == [*ASKED, "Refused", *FAILURE_ROUTE]
    cause = details(history.events[-1])["cause"]
    assert cause.startswith(gate_cause(mocks, "QualityGateFailed") + "; ")
    job = mocked_return(mocks, "QualityGateFailed", "RunTransformJob")
    attempts = expect(pipeline, mocks, "QualityGateFailed", happy).attempts
    check_failure_route(
        pipeline, run, attempts, "Tributary.QualityGateFailed", cause, glue_job_run_id=job["Id"]
    )
    for task in ("RegisterPartitions", "CommitRun", "RecordLineage", "NotifySuccess", "RetractLineage"):
        assert history.task_events(task) == [], task
    assert "UnpublishRun" not in history.entered()


def test_without_approval_a_failed_gate_goes_straight_to_the_failure_route(
    mocks: Mocks, definition_text: str
) -> None:
    """ApprovalTimeoutSeconds 0 turns the question off: the run is quarantined at once."""
    timeout = SUBSTITUTIONS["ApprovalTimeoutSeconds"]
    off = definition_text.replace(f"$number('{timeout}')", "$number('0')")
    assert off != definition_text
    run = run_case(off, "QualityGateFailed")
    assert run.history.entered() == [*UP_TO_GATE, "QualityGateFailed", "CanBeApproved", *FAILURE_ROUTE]
    assert (run.status, run.error, run.cause) == (
        "FAILED",
        "Tributary.QualityGateFailed",
        gate_cause(mocks, "QualityGateFailed"),
    )
    assert run.history.task_events("AwaitApproval") == []


def test_an_approved_run_is_published_with_its_decision_recorded(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run]
) -> None:
    run = runs["ApprovalGranted"]
    verify(pipeline, mocks, "ApprovalGranted", run, APPROVED)
    # The question: the task token, what failed and where the rejects are, the timeout.
    (asked,) = run.history.parameters("AwaitApproval")
    assert asked["FunctionName"] == SUBSTITUTIONS["ApprovalFunctionArn"]
    payload = asked["Payload"]
    assert isinstance(payload["task_token"], str) and payload["task_token"]
    assert (payload["action"], payload["run_id"], payload["dataset"]) == ("request", RUN_ID, "orders")
    assert payload["execution_arn"] == execution_arn()
    assert payload["timeout_seconds"] == int(SUBSTITUTIONS["ApprovalTimeoutSeconds"])
    assert payload["cause"] == gate_cause(mocks, "ApprovalGranted")
    summary = json.loads(mocked_return(mocks, "ApprovalGranted", "ReadTransformResult")["Body"])
    assert payload["summary"]["reject_ratio"] == summary["reject_ratio"]
    assert payload["summary"]["rows_rejected"] == summary["rows_rejected"]
    assert payload["rejects_uri"] == f"s3://artifacts/rejects/orders/run_id={RUN_ID}/"
    assert payload["result_uri"] == RESULT_URI
    (scheduled,) = run.history.of_type("AwaitApproval", "TaskScheduled")
    assert details(scheduled)["timeoutInSeconds"] == int(SUBSTITUTIONS["ApprovalTimeoutSeconds"])
    # The decision, as the approval function answered it, on the run record; then the commit.
    answer = mocked_return(mocks, "ApprovalGranted", "AwaitApproval")
    assert decision_recorded(run) == answer
    assert answer["decision"] == "approve" and answer["decided_by"] == APPROVER
    entered = run.history.entered()
    assert entered.index("RecordDecision") < entered.index("RegisterPartitions") < entered.index("CommitRun")
    (commit,) = run.history.parameters("CommitRun")
    assert commit["ExpressionAttributeValues"][":rows_rejected"] == {"N": str(summary["rows_rejected"])}


def test_a_refused_run_is_quarantined_with_who_refused_it_and_why(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]
) -> None:
    run = runs["ApprovalRefused"]
    assert run.history.entered() == [*ASKED, "Refused", *FAILURE_ROUTE]
    thrown = mocks.answer(mocks.response_of("ApprovalRefused", "AwaitApproval"), 0)["Throw"]
    assert thrown["Error"] == "Tributary.ApprovalRefused"
    refusal = json.loads(thrown["Cause"])
    assert decision_recorded(run) == refusal
    cause = (
        f"{gate_cause(mocks, 'ApprovalRefused')}; refused by {refusal['decided_by']} at "
        f"{refusal['decided_at']}: {refusal['reason']}"
    )
    job = mocked_return(mocks, "ApprovalRefused", "RunTransformJob")
    attempts = expect(pipeline, mocks, "ApprovalRefused", happy).attempts
    check_failure_route(
        pipeline, run, attempts, "Tributary.QualityGateFailed", cause, glue_job_run_id=job["Id"]
    )
    for task in ("RegisterPartitions", "CommitRun", "RecordLineage", "NotifySuccess"):
        assert run.history.task_events(task) == [], task


def test_no_decision_before_the_timeout_refuses_the_run(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]
) -> None:
    run = runs["ApprovalTimedOut"]
    assert run.history.entered() == [*ASKED, "Refused", *FAILURE_ROUTE]
    (timed_out,) = run.history.of_type("AwaitApproval", "TaskTimedOut")
    assert details(timed_out)["error"] == "States.Timeout"
    recorded = decision_recorded(run)
    timeout = SUBSTITUTIONS["ApprovalTimeoutSeconds"]
    reason = f"no decision within {timeout} s: refused by timeout"
    assert (recorded["decision"], recorded["decided_by"], recorded["reason"]) == (
        "timeout",
        "timeout",
        reason,
    )
    cause = f"{gate_cause(mocks, 'ApprovalTimedOut')}; {reason}"
    job = mocked_return(mocks, "ApprovalTimedOut", "RunTransformJob")
    attempts = expect(pipeline, mocks, "ApprovalTimedOut", happy).attempts
    check_failure_route(
        pipeline, run, attempts, "Tributary.QualityGateFailed", cause, glue_job_run_id=job["Id"]
    )
    assert run.history.task_events("RegisterPartitions") == []


def test_a_failed_request_for_approval_quarantines_the_run(runs: dict[str, Run]) -> None:
    """The question could not be asked (the approval function failed): refused at once, with its error."""
    for case in ("AwaitApprovalFails", "AwaitApprovalRetry0Exhausted", "RecordDecisionFails"):
        run = runs[case]
        assert run.status == "FAILED", case
        assert run.history.task_events("RegisterPartitions") == [], case
        assert run.history.entered()[-len(FAILURE_ROUTE) :] == FAILURE_ROUTE, case


def test_the_run_record_starts_with_the_execution_input(runs: dict[str, Run]) -> None:
    (start,) = runs["HappyPath"].history.parameters("RecordStart")
    assert start["TableName"] == SUBSTITUTIONS["RunsTableName"]
    assert start["Key"] == {"run_id": {"S": RUN_ID}}
    assert start["ExpressionAttributeValues"][":manifest_uri"] == {"S": EXECUTION_INPUT["manifest_uri"]}


def batches_of(mocks: Mocks, case: str) -> list[dict[str, str]]:
    """partition-batches.json as the test case's ItemReaders read it."""
    read = [read_batches(mocks, case, name) for name in ("RegisterPartitions", "UnpublishRun")]
    assert read[0] == read[1]
    return read[0]


def read_batches(mocks: Mocks, case: str, reader: str) -> list[dict[str, str]]:
    """What an ItemReader reads once it reads (its first answer that is not a failure)."""
    response = mocks.response_of(case, reader)
    answers = (mocks.answer(response, invocation) for invocation in range(10))
    body = next(answer["Return"]["Body"] for answer in answers if "Return" in answer)
    batches: list[dict[str, str]] = json.loads(body)
    return batches


def statements(run: Run, map_state: str, task: str) -> list[str]:
    return [query["QueryString"] for query in run.map_runs.get(map_state, History([])).parameters(task)]


def ddl(verb: str, clause: str) -> str:
    database, table = TABLE.split(".")
    return f"ALTER TABLE `{database}`.`{table}` {verb} {clause}"


def check_unpublished(mocks: Mocks, run: Run, case: str) -> None:
    """UnpublishRun dropped every batch of the run (DROP IF EXISTS, whether it was registered or not), then
    RetractLineage deleted the run's lineage, then the failure route ran."""
    entered = run.history.entered()
    assert entered[-len(FAILURE_ROUTE) - len(UNPUBLISH_ROUTE) :] == [*UNPUBLISH_ROUTE, *FAILURE_ROUTE]
    drops = statements(run, "UnpublishRun", "UnpublishPartitionBatch")
    assert drops == [ddl("DROP IF EXISTS", batch["drop_clause"]) for batch in batches_of(mocks, case)]
    (retract,) = run.history.parameters("RetractLineage")
    validated = mocked_return(mocks, case, "ValidateObjects")["Payload"]["validated_manifest_uri"]
    assert retract["Payload"] == {
        "action": "retract",
        "run_id": RUN_ID,
        "dataset": EXECUTION_INPUT["dataset"],
        "manifest_uri": validated,
    }
    assert retract["FunctionName"] == SUBSTITUTIONS["LineageFunctionArn"]
    (record,) = run.history.parameters("RecordFailure")
    assert "MAY STILL BE REGISTERED" not in record["ExpressionAttributeValues"][":cause"]["S"]
    assert not set(UNPUBLISH_FAILED) & set(entered)
    assert run.status == "FAILED"


def committed(run: Run) -> bool:
    return bool(run.history.of_type("CommitRun", "TaskSucceeded"))


@pytest.mark.parametrize(
    ("case", "failing"),
    [
        ("RegisterPartitionBatchFails", "RegisterPartitions"),
        ("RegisterPartitionBatchRetry0Exhausted", "RegisterPartitions"),
        ("RecordLineageFails", "RecordLineage"),
        ("RecordLineageRetry0Exhausted", "RecordLineage"),
        ("CommitRunFails", "CommitRun"),
        ("CommitRunRetry0Exhausted", "CommitRun"),
    ],
)
def test_a_failure_after_registration_unpublishes_before_the_run_is_recorded_failed(
    mocks: Mocks, runs: dict[str, Run], case: str, failing: str
) -> None:
    run = runs[case]
    entered = run.history.entered()
    assert entered[entered.index(failing) + 1] == "UnpublishRun"
    check_unpublished(mocks, run, case)
    assert not committed(run) and "NotifySuccess" not in entered
    assert run.error == (MAP_RUN_FAILED["Error"] if failing == "RegisterPartitions" else run.error)
    if case == "CommitRunFails":
        # The commit's condition failed (the record is no longer this execution's RUNNING run).
        assert run.error == "DynamoDB.ConditionalCheckFailedException"


@pytest.mark.parametrize("failing_batch", [1, 2, 3])
def test_a_failure_in_any_partition_batch_drops_every_batch(
    mocks: Mocks, runs: dict[str, Run], failing_batch: int
) -> None:
    case = f"PartitionBatch{failing_batch}Of3Fails"
    run = runs[case]
    batches = batches_of(mocks, case)
    assert len(batches) == 3
    added = statements(run, "RegisterPartitions", "RegisterPartitionBatch")
    # The batches before the failing one were registered (readers may have seen them) ...
    wanted = [ddl("ADD IF NOT EXISTS", batch["clause"]) for batch in batches]
    assert added[:failing_batch] == wanted[:failing_batch]
    failed = run.map_runs["RegisterPartitions"].failures("RegisterPartitionBatch")
    assert len(failed) == 1
    # ... the Map fails, and every batch is dropped before the run is recorded FAILED.
    assert (run.error, run.cause) == (MAP_RUN_FAILED["Error"], MAP_RUN_FAILED["Cause"])
    check_unpublished(mocks, run, case)
    assert not committed(run)


def test_a_run_of_three_batches_registers_each_then_commits(mocks: Mocks, runs: dict[str, Run]) -> None:
    run = runs["ThreeBatches"]
    assert run.status == "SUCCEEDED" and run.history.entered() == HAPPY
    batches = batches_of(mocks, "ThreeBatches")
    assert statements(run, "RegisterPartitions", "RegisterPartitionBatch") == [
        ddl("ADD IF NOT EXISTS", batch["clause"]) for batch in batches
    ]
    assert "UnpublishRun" not in run.map_runs and committed(run)


def test_a_lineage_failure_after_three_batches_drops_all_three(mocks: Mocks, runs: dict[str, Run]) -> None:
    run = runs["ThreeBatchesLineageFails"]
    assert len(statements(run, "RegisterPartitions", "RegisterPartitionBatch")) == 3
    check_unpublished(mocks, run, "ThreeBatchesLineageFails")
    assert len(statements(run, "UnpublishRun", "UnpublishPartitionBatch")) == 3


@pytest.mark.parametrize(
    "case",
    [
        "UnpublishPartitionBatchFails",
        "UnpublishPartitionBatchRetry0Exhausted",
        "UnpublishPartitionBatchRetry1Exhausted",
    ],
)
def test_an_unpublish_that_fails_for_good_is_recorded_and_counted(
    mocks: Mocks, runs: dict[str, Run], case: str
) -> None:
    run = runs[case]
    entered = run.history.entered()
    assert entered[-len(FAILURE_ROUTE) - 4 :] == [
        "UnpublishRun",
        *UNPUBLISH_FAILED,
        "RetractLineage",
        *FAILURE_ROUTE,
    ]
    primary = mocks.answer(mocks.response_of(case, "RecordLineage"), 0)["Throw"]
    # The run keeps its own error; the cause says its partitions may still be registered, and how to
    # drop them.
    assert run.error == primary["Error"]
    (record,) = run.history.parameters("RecordFailure")
    cause = record["ExpressionAttributeValues"][":cause"]["S"]
    assert cause.startswith((primary["Cause"] or "(no cause)") + " | PARTITIONS MAY STILL BE REGISTERED: ")
    assert (
        MAP_RUN_FAILED["Error"] in cause
        and BATCHES_URI in cause
        and f"ALTER TABLE {TABLE} DROP IF EXISTS" in cause
    )
    assert run.cause == cause
    (notify,) = run.history.parameters("NotifyFailure")
    assert json.loads(notify["Message"])["cause"] == cause[:2000]
    # Counted for the RunsLeftPublished alarm, and the lineage is retracted all the same.
    (metric,) = run.history.parameters("CountUnpublishFailure")
    assert metric["Namespace"] == "Tributary"
    (datum,) = metric["MetricData"]
    assert (datum["MetricName"], datum["Value"], datum["Unit"]) == ("RunsLeftPublished", 1, "Count")
    assert datum["Dimensions"] == [{"Name": "StateMachine", "Value": "Pipeline"}]
    assert run.history.parameters("RetractLineage")


@pytest.mark.parametrize("case", ["NotifySuccessFails", "NotifySuccessRetry0Exhausted"])
def test_a_failed_announcement_after_the_commit_leaves_the_run_succeeded(
    mocks: Mocks, runs: dict[str, Run], case: str
) -> None:
    run = runs[case]
    assert (run.status, run.output) == ("SUCCEEDED", {"run_id": RUN_ID, "status": "SUCCEEDED"})
    entered = run.history.entered()
    assert entered == [*HAPPY[:-1], "RecordNotificationError", "CountNotificationFailure", "RunSucceeded"]
    assert committed(run)
    error = run.history.failures("NotifySuccess")[-1]
    (recorded,) = run.history.parameters("RecordNotificationError")
    assert recorded["Key"] == {"run_id": {"S": RUN_ID}}
    assert recorded["UpdateExpression"].startswith("SET #notification_error = :notification_error")
    assert recorded["ExpressionAttributeValues"][":notification_error"] == {
        "S": f"{details(error)['error']}: {details(error)['cause']}"
    }
    (metric,) = run.history.parameters("CountNotificationFailure")
    assert metric["MetricData"][0]["MetricName"] == "SuccessNotificationsFailed"
    for never in ("UnpublishRun", "RecordFailure", "RetractLineage"):
        assert never not in entered, never


def test_objects_the_job_could_not_read_are_quarantined_and_the_run_goes_on(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run]
) -> None:
    run = runs["SomeObjectsFailed"]
    verify(pipeline, mocks, "SomeObjectsFailed", run, SOME_OBJECTS_FAILED)
    summary = json.loads(mocked_return(mocks, "SomeObjectsFailed", "ReadTransformResult")["Body"])
    assert (
        0
        < summary["objects_failed"]
        < mocked_return(mocks, "SomeObjectsFailed", "ValidateObjects")["Payload"]["accepted"]
    )
    (quarantine,) = run.history.parameters("QuarantineFailedObjects")
    assert quarantine["FunctionName"] == SUBSTITUTIONS["QuarantineFunctionArn"]
    assert quarantine["Payload"] == {
        "run_id": RUN_ID,
        "dataset": EXECUTION_INPUT["dataset"],
        "failed_objects_uri": summary["failed_objects_uri"],
    }
    (commit,) = run.history.parameters("CommitRun")
    values = commit["ExpressionAttributeValues"]
    assert values[":objects_failed"] == {"N": str(summary["objects_failed"])}
    assert values[":failed_objects_uri"] == {"S": summary["failed_objects_uri"]}
    (notify,) = run.history.parameters("NotifySuccess")
    assert json.loads(notify["Message"])["objects_failed"] == summary["objects_failed"]


def test_a_run_whose_every_object_failed_is_a_failed_run(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]
) -> None:
    run = runs["AllObjectsFailed"]
    history = run.history
    assert history.entered() == [*UP_TO_CHECK, "AllObjectsFailed", *FAILURE_ROUTE]
    summary = json.loads(mocked_return(mocks, "AllObjectsFailed", "ReadTransformResult")["Body"])
    assert (
        summary["objects_failed"]
        == mocked_return(mocks, "AllObjectsFailed", "ValidateObjects")["Payload"]["accepted"]
    )
    cause = details(history.events[-1])["cause"]
    assert summary["failed_objects_uri"] in cause and str(summary["objects_failed"]) in cause
    job = mocked_return(mocks, "AllObjectsFailed", "RunTransformJob")
    attempts = expect(pipeline, mocks, "AllObjectsFailed", happy).attempts
    check_failure_route(
        pipeline, run, attempts, "Tributary.AllObjectsFailed", cause, glue_job_run_id=job["Id"]
    )
    for task in ("QuarantineFailedObjects", "RegisterPartitions", "CommitRun", "UnpublishRun"):
        assert history.task_events(task) == [] and task not in history.entered(), task


def test_a_failed_glue_job_records_its_error_message_not_its_job_run(
    mocks: Mocks, runs: dict[str, Run]
) -> None:
    run = runs["RunTransformJobFails"]
    thrown: dict[str, Any] = mocks.answer(mocks.response_of("RunTransformJobFails", "RunTransformJob"), 0)[
        "Throw"
    ]
    job_run = json.loads(thrown["Cause"])
    (record,) = run.history.parameters("RecordFailure")
    assert record["ExpressionAttributeValues"][":cause"] == {"S": job_run["ErrorMessage"]}
    assert "JobRunState" not in run.cause  # type: ignore[operator]
    assert (run.error, run.cause) == (thrown["Error"], job_run["ErrorMessage"])
    # Nothing was registered: no partition to drop, no lineage to retract.
    assert "UnpublishRun" not in run.history.entered() and "RetractLineage" not in run.history.entered()


@pytest.mark.parametrize(
    "case",
    [
        "RecordStartFails",
        "ValidateObjectsFails",
        "RunTransformJobFails",
        "SyncCatalogTableFails",
        "ReadTransformResultFails",
        "QuarantineFailedObjectsFails",
        "NothingAccepted",
        "QualityGateFailed",
        "AllObjectsFailed",
    ],
)
def test_a_failure_before_registration_has_nothing_to_undo(runs: dict[str, Run], case: str) -> None:
    run = runs[case]
    entered = run.history.entered()
    assert run.status == "FAILED" and entered[-len(FAILURE_ROUTE) :] == FAILURE_ROUTE
    assert not {"RegisterPartitions", *UNPUBLISH_ROUTE, *UNPUBLISH_FAILED} & set(entered)
    assert set(run.map_runs) <= {"ValidateEachObject"}


def reader_retry_seconds(run: Run, name: str) -> float:
    """Virtual seconds from the Map's entry to its start (its ItemReader's failed reads and back-offs), or
    to its exit when it never started."""
    events = run.history.events
    entered = next(e for e in events if e["type"] == "MapStateEntered" and details(e)["name"] == name)
    following = next(
        e
        for e in events[events.index(entered) + 1 :]
        if e["type"] in ("MapStateStarted", "MapStateExited") and run.history.state_of(e) == name
    )
    return (following["timestamp"] - entered["timestamp"]).total_seconds()


def reader_retry_ceiling(pipeline: Pipeline, name: str) -> float:
    """The longest a Map's ItemReader may take to succeed at its last retry (no jitter)."""
    (rule,) = pipeline.states[name]["Retry"]
    return float(
        sum(
            min(rule["IntervalSeconds"] * rule["BackoffRate"] ** retry, rule["MaxDelaySeconds"])
            for retry in range(rule["MaxAttempts"])
        )
    )


@pytest.mark.parametrize("name", ["RegisterPartitions", "UnpublishRun"])
def test_a_failed_read_of_the_partition_batches_is_retried(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], name: str
) -> None:
    ceiling = reader_retry_ceiling(pipeline, name)
    recovered = runs[f"{name}ReaderRecovers"]
    assert 0 < reader_retry_seconds(recovered, name) <= ceiling
    if name == "RegisterPartitions":
        assert recovered.status == "SUCCEEDED" and recovered.history.entered() == HAPPY
        assert len(statements(recovered, name, "RegisterPartitionBatch")) == 1
    else:
        # RecordLineage failed; the unpublish read its batches at the fourth try and dropped them.
        check_unpublished(mocks, recovered, f"{name}ReaderRecovers")
    exhausted = runs[f"{name}ReaderExhausted"]
    assert exhausted.status == "FAILED"
    entered = exhausted.history.entered()
    if name == "RegisterPartitions":
        # Nothing could be registered, but the run is unpublished all the same (nothing is assumed).
        assert exhausted.error == "States.ItemReaderFailed"
        assert entered[entered.index(name) + 1] == "UnpublishRun"
        assert statements(exhausted, name, "RegisterPartitionBatch") == []
    else:
        assert entered[entered.index(name) + 1 : entered.index(name) + 3] == UNPUBLISH_FAILED
        assert (
            exhausted.cause is not None and "UnpublishRun failed (States.ItemReaderFailed" in exhausted.cause
        )


# ---------------------------------------------------------------- the transform path


def small_run_max_bytes(definition_text: str) -> int:
    assigned = json.loads(definition_text)["States"]["InitRun"]["Assign"]["smallRunMaxBytes"]
    found = re.fullmatch(r"\{% \$number\('(\d+)'\) %\}", assigned)
    assert found is not None, assigned
    return int(found.group(1))


def test_the_boundary_cases_sit_on_either_side_of_the_threshold(mocks: Mocks, definition_text: str) -> None:
    """HappyPathLite's validate accepted exactly SmallRunMaxBytes, HappyPath's one byte more."""
    threshold = small_run_max_bytes(definition_text)
    assert threshold == int(SUBSTITUTIONS["SmallRunMaxBytes"]) > 0
    lite = mocked_return(mocks, "HappyPathLite", "ValidateObjects")["Payload"]
    glue = mocked_return(mocks, "HappyPath", "ValidateObjects")["Payload"]
    assert (lite["accepted_bytes"], glue["accepted_bytes"]) == (threshold, threshold + 1)
    assert {key: value for key, value in lite.items() if key != "accepted_bytes"} == {
        key: value for key, value in glue.items() if key != "accepted_bytes"
    }


def test_a_run_of_at_most_the_threshold_is_transformed_by_the_function(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run]
) -> None:
    run, glue = runs["HappyPathLite"], runs["HappyPath"]
    verify(pipeline, mocks, "HappyPathLite", run, HAPPY_LITE)
    assert run.history.entered() == HAPPY_LITE
    assert run.history.task_events("RunTransformJob") == []
    (invoked,) = run.history.parameters("RunSmallTransform")
    assert invoked["FunctionName"] == SUBSTITUTIONS["TransformLiteFunctionArn"]
    # The function's event is the Glue job's arguments, name for name.
    (job,) = glue.history.parameters("RunTransformJob")
    assert {f"--{name}": value for name, value in invoked["Payload"].items()} == job["Arguments"]
    validated = mocked_return(mocks, "HappyPathLite", "ValidateObjects")["Payload"]
    assert invoked["Payload"]["plan_uri"] == validated["plan_uri"]
    assert invoked["Payload"]["manifest_uri"] == validated["validated_manifest_uri"]
    # Everything after the transform is shared and sees the same summary; the run record says the path.
    (commit,) = run.history.parameters("CommitRun")
    (glue_commit,) = glue.history.parameters("CommitRun")
    values = commit["ExpressionAttributeValues"]
    assert (values[":transform_path"], values[":glue_job_run_id"]) == ({"S": "lite"}, {"S": ""})
    assert glue_commit["ExpressionAttributeValues"][":transform_path"] == {"S": "glue"}
    ignored = {":transform_path", ":glue_job_run_id", ":now"}
    assert {k: v for k, v in values.items() if k not in ignored} == {
        k: v for k, v in glue_commit["ExpressionAttributeValues"].items() if k not in ignored
    }
    for state in ("ReadTransformResult", "RecordLineage", "NotifySuccess"):
        assert run.history.parameters(state) == glue.history.parameters(state), state


def test_a_threshold_of_zero_sends_every_run_to_glue(
    pipeline: Pipeline, mocks: Mocks, definition_text: str
) -> None:
    threshold = small_run_max_bytes(definition_text)
    always_glue = definition_text.replace(f"$number('{threshold}')", "$number('0')")
    assert always_glue != definition_text
    run = run_case(always_glue, "HappyPathLite")
    assert run.status == "SUCCEEDED" and run.history.entered() == HAPPY
    assert run.history.task_events("RunSmallTransform") == []
    (commit,) = run.history.parameters("CommitRun")
    assert commit["ExpressionAttributeValues"][":transform_path"] == {"S": "glue"}


def test_a_failed_small_transform_records_its_one_line_message(mocks: Mocks, runs: dict[str, Run]) -> None:
    run = runs["RunSmallTransformFails"]
    thrown = mocks.answer(mocks.response_of("RunSmallTransformFails", "RunSmallTransform"), 0)["Throw"]
    message = json.loads(thrown["Cause"])["errorMessage"]
    assert "\n" in message
    first_line = message.split("\n")[0].strip()
    (record,) = run.history.parameters("RecordFailure")
    values = record["ExpressionAttributeValues"]
    assert (values[":error"], values[":cause"]) == ({"S": "TransformFailed"}, {"S": first_line})
    assert values[":glue_job_run_id"] == {"S": ""}
    assert (run.error, run.cause) == ("TransformFailed", first_line)
    entered = run.history.entered()
    assert entered[entered.index("RunSmallTransform") + 1 :] == FAILURE_ROUTE


def map_events(history: History, name: str) -> list[dict[str, Any]]:
    """The events from the Map state's entry to its exit (or to the next state entered)."""
    events = history.events
    start = next(
        i for i, e in enumerate(events) if e["type"] == "MapStateEntered" and details(e)["name"] == name
    )
    end = next(
        (i for i, e in enumerate(events[start + 1 :], start + 1) if e["type"].endswith("StateEntered")),
        len(events),
    )
    return events[start:end]


def test_validation_runs_one_express_child_per_object_and_keeps_their_results_in_s3(
    mocks: Mocks, runs: dict[str, Run]
) -> None:
    run = runs["HappyPath"]
    history = run.history
    (prepare,) = history.parameters("PrepareValidation")
    assert prepare["Payload"] == {**EXECUTION_INPUT, "mode": "prepare"}
    prepared = mocked_return(mocks, "HappyPath", "PrepareValidation")["Payload"]
    # The items come from S3 (where PrepareValidation wrote them), not from the execution's payload.
    events = map_events(history, "ValidateEachObject")
    items = json.loads(mocked_return(mocks, "HappyPath", "ValidateEachObject")["Body"])
    (started,) = [e for e in events if e["type"] == "MapStateStarted"]
    assert details(started)["length"] == len(items)
    # The children are EXPRESS executions of their own: none of their events is in the parent's history.
    assert {"MapRunStarted", "MapRunSucceeded"} <= {e["type"] for e in events}
    assert "ValidateObject" not in history.entered()
    child_events = run.map_runs["ValidateEachObject"]
    (child,) = child_events.parameters("ValidateObject")
    assert child["Payload"] == {"mode": "object", "run_id": RUN_ID, "dataset": "orders", **items[0]}
    assert child["FunctionName"] == SUBSTITUTIONS["ValidateFunctionArn"]
    # Claim check: the Map's output says where the results are, nothing per object.
    (exited,) = [e for e in events if e["type"] == "MapStateExited"]
    output = json.loads(details(exited)["output"])
    assert set(output) == {"MapRunArn", "ResultWriterDetails"}
    results = output["ResultWriterDetails"]
    assert results["Bucket"] == SUBSTITUTIONS["ArtifactsBucketName"]
    assert results["Key"].startswith(f"runs/{RUN_ID}/validation/results/") and results["Key"].endswith(
        "/manifest.json"
    )
    assert prepared["items_key"] == f"runs/{RUN_ID}/validation/items.json"
    # The summary reads them there and answers as one invocation would (the states after it unchanged).
    (summary,) = history.parameters("ValidateObjects")
    assert summary["Payload"] == {
        **EXECUTION_INPUT,
        "mode": "summarise",
        "results_uri": f"s3://{results['Bucket']}/{results['Key']}",
    }


def test_a_failed_child_within_the_tolerated_share_leaves_the_run_going(runs: dict[str, Run]) -> None:
    """One child of twenty fails (5 % <= ValidateToleratedFailurePercentage 10): the Map succeeds, the
    summary refuses that object (validate's summarise mode, tested in tests/functions), the run goes on."""
    run = runs["SomeObjectValidationsFailed"]
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.history.entered() == HAPPY
    children = run.map_runs["ValidateEachObject"]
    assert len(children.parameters("ValidateObject")) == 20
    assert [e["type"] for e in children.events].count("TaskFailed") == 1


def test_failed_children_beyond_the_tolerated_share_fail_the_run(mocks: Mocks, runs: dict[str, Run]) -> None:
    """The one child of a one-object run fails: 100 % > 10 %, the Map Run fails
    (States.ExceedToleratedFailureThreshold) into the failure route, which quarantines the run's inputs."""
    run = runs["ValidateObjectFails"]
    assert (run.status, run.error) == ("FAILED", MAP_RUN_FAILED["Error"])
    entered = run.history.entered()
    assert entered == [*HAPPY[: HAPPY.index("ValidateEachObject") + 1], *FAILURE_ROUTE]
    (record,) = run.history.parameters("RecordFailure")
    assert record["ExpressionAttributeValues"][":error"] == {"S": MAP_RUN_FAILED["Error"]}
    (quarantine,) = run.history.parameters("QuarantineInputs")
    assert quarantine["Payload"]["error"] == MAP_RUN_FAILED["Error"]


def test_a_result_writer_that_keeps_failing_is_retried_then_fails_the_run(
    pipeline: Pipeline, runs: dict[str, Run]
) -> None:
    run = runs["ValidateEachObjectWriterExhausted"]
    assert (run.status, run.error) == ("FAILED", "States.ResultWriterFailed")
    entered = run.history.entered()
    assert entered == [*HAPPY[: HAPPY.index("ValidateEachObject") + 1], *FAILURE_ROUTE]
    # The Map (its reader, children and writer) ran 1 + MaxAttempts times.
    (rule,) = pipeline.states["ValidateEachObject"]["Retry"]
    assert "States.ResultWriterFailed" in rule["ErrorEquals"]
    started = [e for e in run.history.events if e["type"] == "MapRunStarted"]
    assert len(started) == 1 + rule["MaxAttempts"]
    assert "ValidateObjects" not in entered


def test_a_failed_read_of_the_validation_items_is_retried(pipeline: Pipeline, runs: dict[str, Run]) -> None:
    name = "ValidateEachObject"
    ceiling = reader_retry_ceiling(pipeline, name)
    recovered = runs[f"{name}ReaderRecovers"]
    assert 0 < reader_retry_seconds(recovered, name) <= ceiling
    assert recovered.status == "SUCCEEDED" and recovered.history.entered() == HAPPY
    exhausted = runs[f"{name}ReaderExhausted"]
    assert (exhausted.status, exhausted.error) == ("FAILED", "States.ItemReaderFailed")
    entered = exhausted.history.entered()
    assert entered == [*HAPPY[: HAPPY.index(name) + 1], *FAILURE_ROUTE]
    assert name not in exhausted.map_runs
