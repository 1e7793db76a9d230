"""The pipeline definition, substituted as CloudFormation would, run on the local Step Functions engine.

Every task is answered by a fake that records the request, so these tests check the JSONata of the
definition (arguments built, variables carried, choices taken) on each path, not any service.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.template import cfn
from tributary.states import execute
from tributary.states.errors import StatesError
from tributary.states.service_integrations import FunctionIntegration, TaskCall

SUBSTITUTIONS = {
    "ValidateFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:validate",
    "CatalogFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:catalog",
    "LineageFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:lineage",
    "QuarantineFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:quarantine",
    "ApprovalFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:approval",
    "ApprovalTimeoutSeconds": "86400",
    "TransformLiteFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:transform_lite",
    "SmallRunMaxBytes": str(64 * 1024 * 1024),
    "ValidateMaxConcurrency": "100",
    "ValidateToleratedFailurePercentage": "10",
    "RunsTableName": "runs",
    "ArtifactsBucketName": "artifacts",
    "CuratedBucketName": "curated",
    "TransformJobName": "transform",
    "TransformJobTimeoutMinutes": "30",
    "GlueDatabaseName": "tributary_dev",
    "AthenaWorkGroupName": "tributary-workgroup",
    "NotificationTopicArn": "arn:aws:sns:us-east-1:123456789012:notifications",
    "RunTtlDays": "90",
}
RUN_ID = "orders-20261124T101500Z-3f2a9c1b7d"
EXECUTION_INPUT = {
    "run_id": RUN_ID,
    "dataset": "orders",
    "manifest_uri": f"s3://artifacts/runs/{RUN_ID}/manifest.json",
    "object_count": 4,
}
Answer = Callable[[TaskCall], Any]
VALIDATED = {
    "validated_manifest_uri": f"s3://artifacts/runs/{RUN_ID}/validated.json",
    "rejected_uri": f"s3://artifacts/runs/{RUN_ID}/rejected.json",
    "contract_uri": f"s3://artifacts/runs/{RUN_ID}/contract.json",
    "plan_uri": f"s3://artifacts/runs/{RUN_ID}/plan.json",
    "accepted": 3,
    "rejected": 1,
    "table": "orders",
    # Above SmallRunMaxBytes: these runs take the Glue path (the small-run tests below set their own).
    "accepted_bytes": 100 * 1024 * 1024,
}
# PrepareValidation's answer and the items it wrote (runs/<run_id>/validation/items.json): the
# ValidateEachObject Map reads them with its ItemReader, one EXPRESS child per item.
ITEMS_KEY = f"runs/{RUN_ID}/validation/items.json"
PREPARED = {
    "items_bucket": "artifacts",
    "items_key": ITEMS_KEY,
    "object_count": 4,
    "plan_uri": f"s3://artifacts/runs/{RUN_ID}/plan.json",
    "contract_uri": f"s3://artifacts/runs/{RUN_ID}/contract.json",
}


def items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "object": {
                "bucket": "raw",
                "key": f"incoming/orders/{index:04d}.csv",
                "version_id": f"v{index}",
                "etag": "e",
                "size": 10,
                "event_time": "2026-11-24T10:14:58Z",
            },
        }
        for index in range(count)
    ]


def validated_one(call: TaskCall) -> Any:
    """A child of ValidateEachObject: validate in its object mode accepts its object."""
    item = call.arguments["Payload"]
    return {"Payload": {"index": item["index"], "accepted": {**item["object"], "format": "csv"}}}


LOCATION = f"s3://curated/orders/order_date=2026-11-24/run_id={RUN_ID}/"
CLAUSE = f"PARTITION (order_date='2026-11-24', run_id='{RUN_ID}') LOCATION '{LOCATION}'"
SECOND_CLAUSE = CLAUSE.replace("2026-11-24", "2026-11-25")
DROP_CLAUSE = f"PARTITION (order_date='2026-11-24', run_id='{RUN_ID}')"
SECOND_DROP_CLAUSE = DROP_CLAUSE.replace("2026-11-24", "2026-11-25")
# runs/<run_id>/summary.json: the bounded part of result.json, which is all the state machine reads.
SUMMARY = {
    "run_id": RUN_ID,
    "dataset": "orders",
    "status": "SUCCEEDED",
    "rows_read": 100,
    "rows_written": 97,
    "rows_rejected": 3,
    "reject_ratio": 0.03,
    "object_count": 3,
    "partition_count": 101,
    "quality": {"passed": True, "max_reject_ratio": 0.05, "reject_ratio": 0.03},
    "result_uri": f"s3://artifacts/runs/{RUN_ID}/result.json",
    "rejects_uri": f"s3://artifacts/rejects/orders/run_id={RUN_ID}/",
    "partition_batches_uri": f"s3://artifacts/runs/{RUN_ID}/partition-batches.json",
    "objects_failed": 0,
    "failed_objects_uri": f"s3://artifacts/runs/{RUN_ID}/failed-objects.json",
}
# runs/<run_id>/partition-batches.json: one ALTER TABLE clause per batch of at most 100 partitions, in
# ADD form (clause) and DROP form (drop_clause).
BATCHES = [
    {"clause": CLAUSE, "drop_clause": DROP_CLAUSE},
    {"clause": SECOND_CLAUSE, "drop_clause": SECOND_DROP_CLAUSE},
]


def artifacts(summary: dict[str, Any], batches: list[dict[str, str]] | None = None) -> Answer:
    """s3:getObject on the artifacts bucket: the summary (ReadTransformResult) and the partition
    batches (the ItemReader of RegisterPartitions and of UnpublishRun)."""
    documents = {
        ITEMS_KEY: items(4),
        f"runs/{RUN_ID}/summary.json": summary,
        f"runs/{RUN_ID}/partition-batches.json": BATCHES if batches is None else batches,
    }

    def answer(call: TaskCall) -> Any:
        assert call.arguments["Bucket"] == "artifacts"
        return {"Body": json.dumps(documents[call.arguments["Key"]]), "ContentType": "application/json"}

    return answer


def no_decision(call: TaskCall) -> Any:
    raise StatesError("States.Timeout", "")


class FakeAws:
    """Answers each task by (service, action, function name), recording every call."""

    def __init__(self, overrides: dict[str, Answer] | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.answers: dict[str, Answer] = {
            # validate's three modes: prepare, one object per child of the Map, the summary (the
            # answer tests override as "lambda:validate", as when one invocation validated the run).
            "lambda:validate:prepare": lambda call: {"Payload": PREPARED, "StatusCode": 200},
            "lambda:validate:object": validated_one,
            "lambda:validate": lambda call: {"Payload": VALIDATED, "StatusCode": 200},
            "lambda:catalog": lambda call: {
                "Payload": {"database": "tributary_dev", "table": "orders", "created": True, "updated": False}
            },
            "lambda:lineage": lambda call: {"Payload": {"objects": 3}},
            "lambda:quarantine": lambda call: {
                "Payload": {"quarantined": 4, "quarantine_uri": f"s3://artifacts/quarantine/orders/{RUN_ID}/"}
            },
            "glue:startJobRun": lambda call: {
                "Id": "jr_0123",
                "JobName": "transform",
                "JobRunState": "SUCCEEDED",
            },
            # RunSmallTransform: the function returns summary.json's content.
            "lambda:transform_lite": lambda call: {"Payload": SUMMARY, "StatusCode": 200},
            "s3:getObject": artifacts(SUMMARY),
            # ValidateEachObject's ResultWriter.
            "s3:putObject": lambda call: {"ETag": '"etag"'},
            "athena:startQueryExecution": lambda call: {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}},
            "dynamodb:updateItem": lambda call: {},
            "sns:publish": lambda call: {"MessageId": "m-1"},
            "cloudwatch:putMetricData": lambda call: {},
            # AwaitApproval: nobody decides before the timeout (the run is refused).
            "lambda:approval": no_decision,
        }
        self.answers.update(overrides or {})

    @staticmethod
    def key(call: TaskCall) -> str:
        if call.resource.service == "lambda":
            function = "lambda:" + call.arguments["FunctionName"].rsplit(":", 1)[-1]
            mode = (
                call.arguments["Payload"].get("mode") if isinstance(call.arguments["Payload"], dict) else None
            )
            return f"{function}:{mode}" if mode in ("prepare", "object") else function
        return f"{call.resource.service}:{call.resource.action}"

    def invoke(self, call: TaskCall) -> Any:
        self.calls.append((call.state_name, call.arguments))
        return self.answers[self.key(call)](call)

    def arguments_of(self, state: str) -> list[Any]:
        return [arguments for name, arguments in self.calls if name == state]

    def states_called(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture(scope="module")
def substituted(template: dict[str, Any]) -> str:
    text = cfn.definition_path(template).read_text()
    return cfn.PLACEHOLDER.sub(lambda match: SUBSTITUTIONS[match.group(1)], text)


STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline"
EXECUTION_ARN = f"arn:aws:states:us-east-1:123456789012:execution:pipeline:{RUN_ID}"


def run(definition: str, aws: FakeAws) -> Any:
    return execute(
        definition,
        EXECUTION_INPUT,
        integrations=FunctionIntegration(aws.invoke),
        name=RUN_ID,
        state_machine_arn=STATE_MACHINE_ARN,
    )


def test_the_fixture_substitutes_exactly_what_the_template_declares(template: dict[str, Any]) -> None:
    declared = cfn.state_machine_resource(template)["Properties"]["DefinitionSubstitutions"]
    assert set(SUBSTITUTIONS) == set(declared)


def test_a_good_run_publishes_records_and_notifies(substituted: str) -> None:
    aws = FakeAws()
    result = run(substituted, aws)
    assert result.status == "SUCCEEDED", (result.error, result.cause)

    (start,) = aws.arguments_of("RecordStart")
    assert start["Key"] == {"run_id": {"S": RUN_ID}}
    assert start["ExpressionAttributeValues"][":running"] == {"S": "RUNNING"}
    assert start["ExpressionAttributeValues"][":object_count"] == {"N": "4"}
    assert int(start["ExpressionAttributeValues"][":expires_at"]["N"]) > 0

    # Validation: prepare, one EXPRESS child per object (items read from S3), then the summary, which
    # reads the children's results from S3 (the Map's ResultWriter): nothing per object in the payload.
    (prepare,) = aws.arguments_of("PrepareValidation")
    assert prepare["Payload"] == {**EXECUTION_INPUT, "mode": "prepare"}
    (reader,) = aws.arguments_of("ValidateEachObject")[:1]
    assert reader == {"Bucket": "artifacts", "Key": ITEMS_KEY}
    children = aws.arguments_of("ValidateObject")
    assert sorted(child["Payload"]["index"] for child in children) == [0, 1, 2, 3]
    assert all(
        child["Payload"] == {"mode": "object", "run_id": RUN_ID, "dataset": "orders", **item}
        for child, item in zip(sorted(children, key=lambda c: c["Payload"]["index"]), items(4), strict=True)
    )
    writes = [call["Key"] for call in aws.arguments_of("ValidateEachObject")[1:]]
    assert [key.rsplit("/", 1)[-1] for key in writes] == ["SUCCEEDED_0.json", "manifest.json"]
    assert all(key.startswith(f"runs/{RUN_ID}/validation/results/") for key in writes)
    (validate,) = aws.arguments_of("ValidateObjects")
    assert validate["Payload"] == {
        **EXECUTION_INPUT,
        "mode": "summarise",
        "results_uri": f"s3://artifacts/{writes[-1]}",
    }

    (glue,) = aws.arguments_of("RunTransformJob")
    assert glue["JobName"] == "transform"
    arguments = glue["Arguments"]
    assert arguments["--run_id"] == RUN_ID
    assert arguments["--manifest_uri"] == VALIDATED["validated_manifest_uri"]
    # The job runs the plan validate compiled; the contract is read by the catalog function only.
    assert arguments["--plan_uri"] == VALIDATED["plan_uri"] and "--contract_uri" not in arguments
    assert arguments["--output_uri"] == "s3://curated/orders/"
    assert arguments["--rejects_uri"] == f"s3://artifacts/rejects/orders/run_id={RUN_ID}/"
    assert arguments["--result_uri"] == f"s3://artifacts/runs/{RUN_ID}/result.json"

    (catalog,) = aws.arguments_of("SyncCatalogTable")
    assert catalog["Payload"] == {
        "run_id": RUN_ID,
        "dataset": "orders",
        "contract_uri": VALIDATED["contract_uri"],
    }

    (read,) = aws.arguments_of("ReadTransformResult")
    assert read == {"Bucket": "artifacts", "Key": f"runs/{RUN_ID}/summary.json"}

    # The Map reads the batches from S3, then runs one DDL statement per batch, in order.
    (reader,) = aws.arguments_of("RegisterPartitions")
    assert reader == {"Bucket": "artifacts", "Key": f"runs/{RUN_ID}/partition-batches.json"}
    statements = aws.arguments_of("RegisterPartitionBatch")
    assert [athena["QueryString"] for athena in statements] == [
        f"ALTER TABLE `tributary_dev`.`orders` ADD IF NOT EXISTS {CLAUSE}",
        f"ALTER TABLE `tributary_dev`.`orders` ADD IF NOT EXISTS {SECOND_CLAUSE}",
    ]
    assert {athena["WorkGroup"] for athena in statements} == {"tributary-workgroup"}

    # Partitions, then lineage, then the one commit point, then the announcement.
    called = aws.states_called()
    assert called.index("RegisterPartitionBatch") < called.index("RecordLineage") < called.index("CommitRun")
    assert called.index("CommitRun") < called.index("NotifySuccess")
    (commit,) = aws.arguments_of("CommitRun")
    values = commit["ExpressionAttributeValues"]
    assert values[":succeeded"] == {"S": "SUCCEEDED"}
    assert values[":running"] == {"S": "RUNNING"}
    assert values[":rows_written"] == {"N": "97"}
    assert values[":partition_count"] == {"N": "101"}
    assert values[":glue_job_run_id"] == {"S": "jr_0123"}
    assert values[":transform_path"] == {"S": "glue"}
    assert "RunSmallTransform" not in called
    assert values[":objects_failed"] == {"N": "0"}
    assert values[":execution_arn"] == {"S": EXECUTION_ARN}
    assert (
        commit["ConditionExpression"]
        == "#execution_arn = :execution_arn AND #status IN (:running, :succeeded)"
    )
    assert commit["ExpressionAttributeNames"]["#status"] == "status"

    (lineage,) = aws.arguments_of("RecordLineage")
    assert lineage["Payload"]["action"] == "record"
    assert lineage["Payload"]["manifest_uri"] == VALIDATED["validated_manifest_uri"]
    for never in ("UnpublishRun", "UnpublishPartitionBatch", "RetractLineage", "QuarantineFailedObjects"):
        assert never not in called, never

    (notify,) = aws.arguments_of("NotifySuccess")
    message = json.loads(notify["Message"])
    assert message["status"] == "SUCCEEDED" and message["rows_written"] == 97
    assert message["partition_count"] == 101
    assert message["table"] == "tributary_dev.orders"
    assert "RecordFailure" not in aws.states_called()


DROP_STATEMENT = f"ALTER TABLE `tributary_dev`.`orders` DROP IF EXISTS {DROP_CLAUSE}"
SECOND_DROP_STATEMENT = f"ALTER TABLE `tributary_dev`.`orders` DROP IF EXISTS {SECOND_DROP_CLAUSE}"


def drops(aws: FakeAws) -> list[str]:
    return [athena["QueryString"] for athena in aws.arguments_of("UnpublishPartitionBatch")]


def fails(error: str, cause: str) -> Answer:
    def answer(call: TaskCall) -> Any:
        raise StatesError(error, cause)

    return answer


def failure_of(aws: FakeAws) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    (record,) = aws.arguments_of("RecordFailure")
    (quarantine,) = aws.arguments_of("QuarantineInputs")
    (notify,) = aws.arguments_of("NotifyFailure")
    return record["ExpressionAttributeValues"], quarantine["Payload"], json.loads(notify["Message"])


def test_nothing_accepted_fails_the_run_and_quarantines_its_inputs(substituted: str) -> None:
    refused = {**VALIDATED, "accepted": 0, "rejected": 4}
    aws = FakeAws({"lambda:validate": lambda call: {"Payload": refused}})
    result = run(substituted, aws)
    assert (result.status, result.error) == ("FAILED", "Tributary.NoObjectAccepted")
    record, quarantine, message = failure_of(aws)
    assert record[":failed"] == {"S": "FAILED"}
    assert record[":error"] == {"S": "Tributary.NoObjectAccepted"}
    assert VALIDATED["rejected_uri"] in record[":cause"]["S"]
    assert quarantine["manifest_uri"] == EXECUTION_INPUT["manifest_uri"]
    assert message["quarantine_uri"] == f"s3://artifacts/quarantine/orders/{RUN_ID}/"
    assert "RunTransformJob" not in aws.states_called()


def test_a_run_failing_the_quality_gate_is_never_registered(substituted: str) -> None:
    failing = {**SUMMARY, "reject_ratio": 0.4, "quality": {"passed": False, "max_reject_ratio": 0.05}}
    aws = FakeAws({"s3:getObject": artifacts(failing)})
    result = run(substituted, aws)
    assert (result.status, result.error) == ("FAILED", "Tributary.QualityGateFailed")
    assert "RegisterPartitions" not in aws.states_called()
    record, _, _ = failure_of(aws)
    assert "0.4" in record[":cause"]["S"]


def test_a_run_of_empty_files_succeeds_without_registering(substituted: str) -> None:
    empty = {**SUMMARY, "rows_read": 0, "rows_written": 0, "rows_rejected": 0, "partition_count": 0}
    aws = FakeAws({"s3:getObject": artifacts(empty, [])})
    result = run(substituted, aws)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert "RegisterPartitions" not in aws.states_called()
    (commit,) = aws.arguments_of("CommitRun")
    assert commit["ExpressionAttributeValues"][":partition_count"] == {"N": "0"}
    assert aws.arguments_of("RecordLineage")


def test_a_failed_partition_batch_fails_the_map_into_the_failure_path(substituted: str) -> None:
    def ddl_fails(call: TaskCall) -> Any:
        if " ADD " in call.arguments["QueryString"]:
            raise StatesError("Athena.InvalidRequestException", "line 1:1: bad partition")
        return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}

    aws = FakeAws({"athena:startQueryExecution": ddl_fails})
    result = run(substituted, aws)
    # No failure is tolerated: a failed batch fails the whole Map run, which the Map's Catch takes.
    assert (result.status, result.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert aws.arguments_of("RegisterPartitionBatch")
    record, _, message = failure_of(aws)
    assert record[":failed"] == {"S": "FAILED"}
    assert "CommitRun" not in aws.states_called()
    assert message["status"] == "FAILED"
    # The first batch may have been registered: every batch is dropped before the run is recorded FAILED.
    assert drops(aws) == [DROP_STATEMENT, SECOND_DROP_STATEMENT]
    called = aws.states_called()
    assert (
        called.index("UnpublishPartitionBatch")
        < called.index("RetractLineage")
        < called.index("RecordFailure")
    )


def test_a_failed_glue_job_goes_through_the_failure_path(substituted: str) -> None:
    def job_fails(call: TaskCall) -> Any:
        raise StatesError("States.TaskFailed", json.dumps({"JobRunState": "FAILED", "ErrorMessage": "boom"}))

    aws = FakeAws({"glue:startJobRun": job_fails})
    result = run(substituted, aws)
    assert (result.status, result.error, result.cause) == ("FAILED", "States.TaskFailed", "boom")
    record, quarantine, message = failure_of(aws)
    assert record[":error"] == {"S": "States.TaskFailed"}
    assert record[":cause"] == {"S": "boom"} and quarantine["cause"] == "boom"
    assert message["error"] == "States.TaskFailed"
    assert aws.states_called()[-1] == "NotifyFailure"
    # Nothing was registered: no partition to drop, no lineage to retract.
    assert "UnpublishRun" not in aws.states_called() and "RetractLineage" not in aws.states_called()


JOB_RUN = {
    "Id": "jr_0123",
    "JobName": "transform",
    "JobRunState": "FAILED",
    "StartedOn": 1764000000.0,
    "ExecutionTime": 61,
    "Arguments": {"--run_id": RUN_ID, "--note": 'say "ErrorMessage": "not this"'},
}


@pytest.mark.parametrize(
    ("cause", "recorded"),
    [
        # GetJobRun's JSON: only the job's one-line ErrorMessage is kept.
        (json.dumps({**JOB_RUN, "ErrorMessage": "object 00002.csv: not gzip"}), "object 00002.csv: not gzip"),
        # A message with quotes, backslashes and non-ASCII is unescaped; only its first line is kept.
        (
            json.dumps({**JOB_RUN, "ErrorMessage": 'bad "ts" \\ é\n\tat org.apache.spark.Foo(Foo.java:1)'}),
            'bad "ts" \\ é',
        ),
        (json.dumps({**JOB_RUN, "ErrorMessage": "é ünïcode"}, ensure_ascii=True), "é ünïcode"),
        # Not JSON, or JSON without an ErrorMessage: the cause as it was.
        ("Glue job timed out after 45 minutes", "Glue job timed out after 45 minutes"),
        ('{"JobRunState": "TIMEOUT"', '{"JobRunState": "TIMEOUT"'),
        (json.dumps(JOB_RUN), json.dumps(JOB_RUN)),
        # The catalog function's error (the other branch): its errorMessage, not its stack trace.
        ('{"errorMessage": "x", "errorType": "KeyError", "stackTrace": ["  File \\"h.py\\""]}', "x"),
        ("", "(no cause)"),
    ],
)
def test_a_failed_glue_job_records_its_error_message_not_its_job_run(
    substituted: str, cause: str, recorded: str
) -> None:
    def job_fails(call: TaskCall) -> Any:
        raise StatesError("States.TaskFailed", cause)

    aws = FakeAws({"glue:startJobRun": job_fails})
    result = run(substituted, aws)
    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")
    record, _, _ = failure_of(aws)
    assert record[":cause"] == {"S": recorded}


def test_transient_lambda_errors_are_retried(substituted: str) -> None:
    attempts = []

    def flaky(call: TaskCall) -> Any:
        attempts.append(call.attempt)
        if len(attempts) < 3:
            raise StatesError("Lambda.TooManyRequestsException", "Rate exceeded")
        return {"Payload": VALIDATED}

    result = run(substituted, FakeAws({"lambda:validate": flaky}))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert attempts == [0, 1, 2]


def test_glue_concurrency_limits_are_waited_out(substituted: str) -> None:
    attempts = []

    def busy(call: TaskCall) -> Any:
        attempts.append(call.attempt)
        if len(attempts) < 4:
            raise StatesError("Glue.ConcurrentRunsExceededException", "Concurrent runs exceeded")
        return {"Id": "jr_0456", "JobRunState": "SUCCEEDED"}

    result = run(substituted, FakeAws({"glue:startJobRun": busy}))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert len(attempts) == 4


def test_a_broken_failure_path_still_alerts_and_fails(substituted: str) -> None:
    def broken(call: TaskCall) -> Any:
        raise StatesError("Lambda.Unknown", "quarantine crashed")

    def catalog_fails(call: TaskCall) -> Any:
        raise StatesError("Glue.AccessDeniedException", "not allowed")

    aws = FakeAws({"lambda:quarantine": broken, "lambda:catalog": catalog_fails})
    result = run(substituted, aws)
    assert (result.status, result.error) == ("FAILED", "Glue.AccessDeniedException")
    (notify,) = aws.arguments_of("NotifyFailure")
    assert json.loads(notify["Message"])["quarantine_uri"] == "(quarantine failed)"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"lambda:lineage": fails("Lambda.Unknown", "lineage crashed")}, "Lambda.Unknown"),
        (
            {"dynamodb:updateItem": lambda call: fail_commit(call)},
            "DynamoDB.ConditionalCheckFailedException",
        ),
    ],
    ids=["lineage", "commit"],
)
def test_a_failure_after_registration_unpublishes_before_recording_failed(
    substituted: str, overrides: dict[str, Answer], error: str
) -> None:
    aws = FakeAws(overrides)
    result = run(substituted, aws)
    assert (result.status, result.error) == ("FAILED", error)
    called = aws.states_called()
    assert called.index("RegisterPartitionBatch") < called.index("UnpublishPartitionBatch")
    assert drops(aws) == [DROP_STATEMENT, SECOND_DROP_STATEMENT]
    (retract,) = aws.arguments_of("RetractLineage")
    assert retract["Payload"] == {
        "action": "retract",
        "run_id": RUN_ID,
        "dataset": "orders",
        "manifest_uri": VALIDATED["validated_manifest_uri"],
    }
    assert called.index("RetractLineage") < called.index("RecordFailure")
    record, _, _ = failure_of(aws)
    assert record[":error"] == {"S": error}
    assert "MAY STILL BE REGISTERED" not in record[":cause"]["S"]
    assert "NotifySuccess" not in called and "CountUnpublishFailure" not in called


def fail_commit(call: TaskCall) -> Any:
    if call.state_name == "CommitRun":
        raise StatesError("DynamoDB.ConditionalCheckFailedException", "The conditional request failed")
    return {}


def test_an_unpublish_that_fails_for_good_says_partitions_may_still_be_registered(substituted: str) -> None:
    def athena(call: TaskCall) -> Any:
        if "DROP IF EXISTS" in call.arguments["QueryString"]:
            raise StatesError("States.TaskFailed", "FAILED: catalog unavailable")
        return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}

    aws = FakeAws(
        {"lambda:lineage": fails("Lambda.Unknown", "lineage crashed"), "athena:startQueryExecution": athena}
    )
    result = run(substituted, aws)
    assert (result.status, result.error) == ("FAILED", "Lambda.Unknown")
    # The drop was retried (States.TaskFailed is retried for DROP IF EXISTS), then the Map gave up.
    assert drops(aws).count(DROP_STATEMENT) == 4
    record, _, message = failure_of(aws)
    cause = record[":cause"]["S"]
    assert cause.startswith("lineage crashed | PARTITIONS MAY STILL BE REGISTERED")
    assert f"s3://artifacts/runs/{RUN_ID}/partition-batches.json" in cause
    assert "States.ExceedToleratedFailureThreshold" in cause
    assert message["cause"] == cause and result.cause == cause
    (metric,) = aws.arguments_of("CountUnpublishFailure")
    assert metric["Namespace"] == "Tributary"
    (datum,) = metric["MetricData"]
    assert (datum["MetricName"], datum["Value"]) == ("RunsLeftPublished", 1)
    assert datum["Dimensions"] == [{"Name": "StateMachine", "Value": "pipeline"}]
    # Lineage is still retracted after a failed drop.
    assert aws.arguments_of("RetractLineage")


def test_a_lineage_retraction_that_fails_is_named_in_the_cause(substituted: str) -> None:
    def lineage(call: TaskCall) -> Any:
        if call.arguments["Payload"]["action"] == "retract":
            raise StatesError("Lambda.Unknown", "retract crashed")
        raise StatesError("Lambda.Unknown", "lineage crashed")

    aws = FakeAws({"lambda:lineage": lineage})
    result = run(substituted, aws)
    assert result.status == "FAILED"
    record, _, _ = failure_of(aws)
    assert record[":cause"] == {
        "S": "lineage crashed | LINEAGE NOT RETRACTED: RetractLineage failed (Lambda.Unknown)"
    }


def test_a_failed_success_notification_leaves_the_run_succeeded(substituted: str) -> None:
    aws = FakeAws({"sns:publish": fails("SNS.AuthorizationErrorException", "not allowed to publish")})
    result = run(substituted, aws)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert json.loads(result.output) == {"run_id": RUN_ID, "status": "SUCCEEDED"}
    (recorded,) = aws.arguments_of("RecordNotificationError")
    assert recorded["Key"] == {"run_id": {"S": RUN_ID}}
    assert recorded["ExpressionAttributeValues"][":notification_error"] == {
        "S": "SNS.AuthorizationErrorException: not allowed to publish"
    }
    assert "notification_error" in recorded["ExpressionAttributeNames"].values()
    (metric,) = aws.arguments_of("CountNotificationFailure")
    assert metric["MetricData"][0]["MetricName"] == "SuccessNotificationsFailed"
    called = aws.states_called()
    for never in ("UnpublishPartitionBatch", "RetractLineage", "RecordFailure"):
        assert never not in called, never


def test_a_run_goes_on_without_the_objects_the_job_could_not_read(substituted: str) -> None:
    partial = {**SUMMARY, "objects_failed": 1}
    aws = FakeAws({"s3:getObject": artifacts(partial)})
    result = run(substituted, aws)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (quarantine,) = aws.arguments_of("QuarantineFailedObjects")
    assert quarantine["FunctionName"].endswith(":quarantine")
    assert quarantine["Payload"] == {
        "run_id": RUN_ID,
        "dataset": "orders",
        "failed_objects_uri": SUMMARY["failed_objects_uri"],
    }
    called = aws.states_called()
    assert called.index("QuarantineFailedObjects") < called.index("RegisterPartitionBatch")
    (commit,) = aws.arguments_of("CommitRun")
    values = commit["ExpressionAttributeValues"]
    assert values[":objects_failed"] == {"N": "1"}
    assert values[":failed_objects_uri"] == {"S": SUMMARY["failed_objects_uri"]}
    (notify,) = aws.arguments_of("NotifySuccess")
    assert json.loads(notify["Message"])["objects_failed"] == 1


def test_a_run_whose_every_object_failed_is_a_failed_run(substituted: str) -> None:
    broken = {
        **SUMMARY,
        "objects_failed": VALIDATED["accepted"],
        "rows_read": 0,
        "rows_written": 0,
        "rows_rejected": 0,
        "partition_count": 0,
    }
    aws = FakeAws({"s3:getObject": artifacts(broken, [])})
    result = run(substituted, aws)
    assert (result.status, result.error) == ("FAILED", "Tributary.AllObjectsFailed")
    record, _, _ = failure_of(aws)
    assert SUMMARY["failed_objects_uri"] in record[":cause"]["S"]
    called = aws.states_called()
    for never in (
        "QuarantineFailedObjects",
        "RegisterPartitions",
        "RecordLineage",
        "CommitRun",
        "UnpublishRun",
    ):
        assert never not in called, never


def test_a_summary_without_objects_failed_is_read_as_none_failed(substituted: str) -> None:
    older = {
        key: value for key, value in SUMMARY.items() if key not in ("objects_failed", "failed_objects_uri")
    }
    aws = FakeAws({"s3:getObject": artifacts(older)})
    result = run(substituted, aws)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert "QuarantineFailedObjects" not in aws.states_called()
    (commit,) = aws.arguments_of("CommitRun")
    assert commit["ExpressionAttributeValues"][":failed_objects_uri"] == {"S": ""}


def test_a_batch_without_drop_clause_is_dropped_by_its_add_clauses_partitions(substituted: str) -> None:
    """partition-batches.json written before the job wrote drop_clause (a run in flight during a deploy):
    the DROP form is the ADD clause's PARTITION (...) specs without LOCATION, joined by commas."""
    odd = CLAUSE.replace("2026-11-24", "it''s (odd)")
    older = [{"clause": f"{CLAUSE} {odd}"}, {"clause": SECOND_CLAUSE}]
    aws = FakeAws(
        {
            "s3:getObject": artifacts(SUMMARY, older),
            "lambda:lineage": fails("Lambda.Unknown", "lineage crashed"),
        }
    )
    result = run(substituted, aws)
    assert result.status == "FAILED"
    odd_drop = DROP_CLAUSE.replace("2026-11-24", "it''s (odd)")
    assert drops(aws) == [
        f"ALTER TABLE `tributary_dev`.`orders` DROP IF EXISTS {DROP_CLAUSE}, {odd_drop}",
        SECOND_DROP_STATEMENT,
    ]


LAMBDA_UNKNOWN = (
    "The cause could not be determined because Lambda did not return an error type. Returned payload: "
    '{"errorMessage":"Runtime exited with error: signal: killed"}'
)


@pytest.mark.parametrize(
    ("cause", "recorded"),
    [
        (
            json.dumps(
                {
                    "errorMessage": "manifest of run a does not belong to run b",
                    "errorType": "ValueError",
                    "requestId": "52fdfc07",
                    "stackTrace": ['  File "/var/task/validate/handler.py", line 40, in lambda_handler\n'],
                }
            ),
            "manifest of run a does not belong to run b",
        ),
        # Lambda.Unknown's cause is text around a payload: kept whole.
        (LAMBDA_UNKNOWN, LAMBDA_UNKNOWN),
        ('{"errorType": "KeyError"}', '{"errorType": "KeyError"}'),
    ],
)
def test_a_failed_function_records_its_error_message_not_its_stack_trace(
    substituted: str, cause: str, recorded: str
) -> None:
    aws = FakeAws({"lambda:validate": fails("ValueError", cause)})
    result = run(substituted, aws)
    assert (result.status, result.error, result.cause) == ("FAILED", "ValueError", recorded)
    record, _, _ = failure_of(aws)
    assert record[":cause"] == {"S": recorded}


# ---------------------------------------------------------------- the transform path

SMALL_RUN_MAX_BYTES = int(SUBSTITUTIONS["SmallRunMaxBytes"])


def validated_bytes(accepted_bytes: int) -> Answer:
    return lambda call: {"Payload": {**VALIDATED, "accepted_bytes": accepted_bytes}}


def with_threshold(substituted: str, value: int) -> str:
    """The definition as deployed with another SmallRunMaxBytes."""
    marker = f"$number('{SUBSTITUTIONS['SmallRunMaxBytes']}')"
    assert marker in substituted
    return substituted.replace(marker, f"$number('{value}')")


def test_a_small_run_is_transformed_by_the_function_with_the_glue_jobs_arguments(substituted: str) -> None:
    lite = FakeAws({"lambda:validate": validated_bytes(1024)})
    result = run(substituted, lite)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    glue = FakeAws()
    assert run(substituted, glue).status == "SUCCEEDED"

    (invoked,) = lite.arguments_of("RunSmallTransform")
    assert invoked["FunctionName"] == SUBSTITUTIONS["TransformLiteFunctionArn"]
    (job,) = glue.arguments_of("RunTransformJob")
    # The function's event is the job's arguments, name for name (interfaces: both executors take them).
    event = dict(invoked["Payload"])
    arguments = dict(job["Arguments"])
    assert event.pop("ingest_ts") and arguments.pop("--ingest_ts")
    assert {f"--{name}": value for name, value in event.items()} == arguments
    assert event["plan_uri"] == VALIDATED["plan_uri"]
    assert event["manifest_uri"] == VALIDATED["validated_manifest_uri"]

    # Everything after the transform is shared: the same states, the same requests.
    transform = {"RunSmallTransform", "RunTransformJob"}
    assert [s for s in lite.states_called() if s not in transform] == [
        s for s in glue.states_called() if s not in transform
    ]
    assert "RunTransformJob" not in lite.states_called()
    assert "RunSmallTransform" not in glue.states_called()
    (commit,) = lite.arguments_of("CommitRun")
    values = commit["ExpressionAttributeValues"]
    assert values[":transform_path"] == {"S": "lite"}
    assert values[":glue_job_run_id"] == {"S": ""}
    assert values[":rows_written"] == {"N": str(SUMMARY["rows_written"])}


@pytest.mark.parametrize(
    ("threshold", "accepted_bytes", "path"),
    [
        (SMALL_RUN_MAX_BYTES, SMALL_RUN_MAX_BYTES, "RunSmallTransform"),
        (SMALL_RUN_MAX_BYTES, SMALL_RUN_MAX_BYTES + 1, "RunTransformJob"),
        (SMALL_RUN_MAX_BYTES, 0, "RunSmallTransform"),  # every file empty (headers only)
        (0, 0, "RunTransformJob"),  # SmallRunMaxBytes 0: always Glue
        (0, 1, "RunTransformJob"),
        (1, 1, "RunSmallTransform"),
        (1, 2, "RunTransformJob"),
    ],
)
def test_the_path_is_chosen_on_the_accepted_bytes(
    substituted: str, threshold: int, accepted_bytes: int, path: str
) -> None:
    aws = FakeAws({"lambda:validate": validated_bytes(accepted_bytes)})
    result = run(with_threshold(substituted, threshold), aws)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    taken = [s for s in aws.states_called() if s in ("RunSmallTransform", "RunTransformJob")]
    assert taken == [path]


@pytest.mark.parametrize(
    ("error", "cause", "recorded"),
    [
        # The function's TransformFailed: its one-line message, not the stack trace.
        (
            "TransformFailed",
            json.dumps(
                {
                    "errorMessage": 'plan_version 2 is not supported by this executor\n  at "plan.json"',
                    "errorType": "TransformFailed",
                    "requestId": "7c1f",
                    "stackTrace": [
                        '  File "/var/task/transform_lite/handler.py", line 9, in lambda_handler\n'
                    ],
                }
            ),
            "plan_version 2 is not supported by this executor",
        ),
        # Lambda's own timeout keeps its message too.
        (
            "Sandbox.Timedout",
            json.dumps(
                {
                    "errorMessage": "RequestId: 7c1f Error: Task timed out after 900.00 seconds",
                    "errorType": "Sandbox.Timedout",
                }
            ),
            "RequestId: 7c1f Error: Task timed out after 900.00 seconds",
        ),
        # A cause that is not a JSON object stays as it is.
        (
            "Lambda.Unknown",
            "Runtime exited without providing a reason",
            "Runtime exited without providing a reason",
        ),
    ],
)
def test_a_failed_small_transform_records_its_one_line_message(
    substituted: str, error: str, cause: str, recorded: str
) -> None:
    aws = FakeAws({"lambda:validate": validated_bytes(1024), "lambda:transform_lite": fails(error, cause)})
    result = run(substituted, aws)
    assert (result.status, result.error, result.cause) == ("FAILED", error, recorded)
    record, quarantine, message = failure_of(aws)
    assert record[":cause"] == {"S": recorded} and quarantine["cause"] == recorded
    assert record[":glue_job_run_id"] == {"S": ""}
    assert message["error"] == error
    called = aws.states_called()
    assert "RunTransformJob" not in called and "ReadTransformResult" not in called
    # Nothing was registered: no partition to drop, no lineage to retract.
    assert "UnpublishPartitionBatch" not in called and "RetractLineage" not in called


def test_transient_errors_of_the_small_transform_are_retried(substituted: str) -> None:
    attempts = []

    def flaky(call: TaskCall) -> Any:
        attempts.append(call.attempt)
        if len(attempts) < 3:
            raise StatesError("Lambda.ServiceException", "Lambda was unable to process the request")
        return {"Payload": SUMMARY}

    aws = FakeAws({"lambda:validate": validated_bytes(1024), "lambda:transform_lite": flaky})
    result = run(substituted, aws)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert attempts == [0, 1, 2]
