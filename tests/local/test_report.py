"""Run reports built from the documents of a run and the history of the real pipeline definition, run on
the local engine with every task answered by a fake."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tributary.local.views.report import (
    CopyKey,
    QuarantinedCopy,
    build_report,
    exit_code,
    partition_values,
    plain_item,
    quarantined_copies,
    render_json,
    render_text,
)
from tributary.states import Execution
from tributary.states.errors import StatesError
from tributary.states.service_integrations import FunctionIntegration, TaskCall

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "orders-20261124T101500Z-3f2a9c1b7d"
QUARANTINE = f"s3://artifacts/quarantine/orders/{RUN_ID}/"
LOCATION = f"s3://curated/orders/order_date=2026-11-24/run_id={RUN_ID}/"
GOOD, BAD, EMPTY = "incoming/orders/a b+c.csv", "incoming/orders/bad.csv", "incoming/orders/empty.csv"
RESULT: dict[str, Any] = {
    "run_id": RUN_ID,
    "dataset": "orders",
    "status": "SUCCEEDED",
    "rows_read": 100,
    "rows_written": 97,
    "rows_rejected": 3,
    "reject_ratio": 0.03,
    "objects": [
        {"key": GOOD, "version_id": "v1", "rows_read": 100, "rows_written": 97, "rows_rejected": 3},
        {"key": EMPTY, "version_id": "v3", "rows_read": 0, "rows_written": 0, "rows_rejected": 0},
    ],
    "partitions": [
        {
            "values": {"order_date": "2026-11-24", "run_id": RUN_ID},
            "location": LOCATION,
            "rows": 97,
            "files": 1,
        }
    ],
    "partition_clause": f"PARTITION (order_date='2026-11-24', run_id='{RUN_ID}') LOCATION '{LOCATION}'",
    "rejects_uri": f"s3://artifacts/rejects/orders/run_id={RUN_ID}/",
    "outputs": [LOCATION + "part-00000-abc.snappy.parquet"],
    "quality": {
        "passed": True,
        "max_reject_ratio": 0.05,
        "reject_ratio": 0.03,
        "rules": [
            {"column": "order_id", "rule": "unique", "failed_rows": 0},
            {"column": "amount", "rule": "min", "value": 0, "failed_rows": 3},
        ],
    },
    "timing": {"started_at": "2026-11-24T10:15:01Z", "finished_at": "2026-11-24T10:15:13Z", "seconds": 12.3},
}
REJECTED = {
    "run_id": RUN_ID,
    "dataset": "orders",
    "objects": [
        {
            "bucket": "raw",
            "key": BAD,
            "version_id": "v2",
            "size": 10,
            "event_time": "2026-11-24T10:14:58Z",
            "reasons": [{"code": "columns_mismatch", "message": "header has 2 columns, the contract 6"}],
        }
    ],
}
JSON_KEYS = {
    "run_id",
    "status",
    "objects",
    "rows_in",
    "rows_out",
    "rows_rejected",
    "partitions",
    "outputs",
    "quality",
    "states",
    "error",
    "cause",
    "failed_state",
    "quarantine_uri",
}


def summary_of(document: dict[str, Any]) -> dict[str, Any]:
    """runs/<run_id>/summary.json for a result document: what the state machine reads."""
    bounded = ("run_id", "dataset", "status", "rows_read", "rows_written", "rows_rejected", "reject_ratio")
    quality = document["quality"]
    return {
        **{name: document[name] for name in bounded},
        "object_count": len(document["objects"]),
        "partition_count": len(document["partitions"]),
        "quality": {name: quality[name] for name in ("passed", "max_reject_ratio", "reject_ratio")},
    }


def pipeline(
    *, accepted: int = 2, result: dict[str, Any] | None = None, glue_error: StatesError | None = None
) -> list[dict[str, Any]]:
    """The history of statemachine/pipeline.asl.json on the engine, tasks answered by fakes."""
    text = (ROOT / "statemachine" / "pipeline.asl.json").read_text()
    numbers = {
        "TransformJobTimeoutMinutes": "30",
        "RunTtlDays": "90",
        "SmallRunMaxBytes": "67108864",
        "ApprovalTimeoutSeconds": "86400",
        "ValidateMaxConcurrency": "10",
        "ValidateToleratedFailurePercentage": "10",
    }
    text = re.sub(r"\$\{([A-Za-z0-9_.]+)\}", lambda m: numbers.get(m.group(1), "local-" + m.group(1)), text)
    document = result or RESULT

    def answer(call: TaskCall) -> Any:
        service = call.resource.service
        if service == "lambda":
            function = call.arguments["FunctionName"]
            mode = call.arguments["Payload"].get("mode")
            if "Validate" in function and mode == "prepare":
                return {
                    "Payload": {
                        "items_bucket": "artifacts",
                        "items_key": f"runs/{RUN_ID}/validation/items.json",
                    }
                }
            if "Validate" in function and mode == "object":
                return {"Payload": {"index": call.arguments["Payload"]["index"]}}
            if "Validate" in function:
                payload = {
                    "validated_manifest_uri": f"s3://artifacts/runs/{RUN_ID}/validated.json",
                    "rejected_uri": f"s3://artifacts/runs/{RUN_ID}/rejected.json",
                    "contract_uri": f"s3://artifacts/runs/{RUN_ID}/contract.json",
                    "plan_uri": f"s3://artifacts/runs/{RUN_ID}/plan.json",
                    "accepted": accepted,
                    "accepted_bytes": 100 * 1024 * 1024,  # above SmallRunMaxBytes: the Glue path
                    "rejected": 3 - accepted,
                    "table": "orders",
                }
                return {"Payload": payload}
            if "Catalog" in function:
                return {"Payload": {"database": "tributary", "table": "orders", "created": False}}
            if "Quarantine" in function:
                return {"Payload": {"quarantined": 3, "quarantine_uri": QUARANTINE}}
            if "Approval" in function:  # AwaitApproval: nobody decides before the timeout
                raise StatesError("States.Timeout", "")
            return {"Payload": {"objects": accepted}}
        if service == "glue":
            if glue_error is not None:
                raise glue_error
            return {"Id": "jr_1", "JobRunState": "SUCCEEDED"}
        if service == "s3":
            key = call.arguments["Key"]
            if call.resource.action == "putObject":  # ValidateEachObject's ResultWriter
                return {}
            if key.endswith("/validation/items.json"):  # one item per object
                return {"Body": json.dumps([{"index": index, "object": {}} for index in range(3)])}
            if key.endswith("/partition-batches.json"):
                clause = document["partition_clause"]
                return {"Body": json.dumps([{"clause": clause}] if clause else [])}
            assert key.endswith("/summary.json"), key
            return {"Body": json.dumps(summary_of(document))}
        return {}

    execution_input = {"run_id": RUN_ID, "dataset": "orders", "manifest_uri": "s3://m", "object_count": 3}
    execution = Execution(text, execution_input, integrations=FunctionIntegration(answer), name=RUN_ID)
    execution.start()
    execution.wait()
    return list(execution.history.events)


def record(status: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "run_id": RUN_ID,
        "status": status,
        "dataset": "orders",
        "object_count": Decimal(3),
        "objects": [GOOD, BAD, EMPTY],
        "started_at": "2026-11-24T10:15:00Z",
    }
    return item | extra


@pytest.fixture(scope="module")
def succeeded() -> list[dict[str, Any]]:
    return pipeline()


def test_a_successful_run_reports_objects_rows_partitions_quality_and_time(succeeded: Any) -> None:
    report = build_report(
        record("SUCCEEDED", rows_written=Decimal(97)), RESULT, REJECTED, succeeded, quarantine_uri=None
    )
    assert report.status == "SUCCEEDED" and report.error is None and report.failed_state is None
    outcomes = {o.key: (o.outcome, o.reason, o.rows_in, o.rows_out) for o in report.objects}
    assert outcomes == {
        GOOD: ("processed", None, 100, 97),
        BAD: ("rejected", "columns_mismatch: header has 2 columns, the contract 6", None, None),
        EMPTY: ("processed", "no rows (empty file)", 0, 0),
    }
    assert (report.rows_in, report.rows_out, report.rows_rejected) == (100, 97, 3)
    (partition,) = report.partitions
    assert (partition.values["order_date"], partition.rows, partition.files) == ("2026-11-24", 97, 1)
    assert report.outputs == RESULT["outputs"]
    assert report.quality is not None and report.quality["passed"] is True
    names = [s.name for s in report.states]
    assert names[:6] == [
        "InitRun",
        "RecordStart",
        "PrepareValidation",
        "ValidateEachObject",
        "ValidateObjects",
        "AnyObjectAccepted",
    ]
    assert {"RunTransformJob", "SyncCatalogTable", "RegisterPartitions", "RunSucceeded"} <= set(names)
    assert "RecordFailure" not in names
    assert all(s.status == "succeeded" and s.seconds is not None for s in report.states)
    assert exit_code([report]) == 0

    text = render_text(report)
    assert text.splitlines()[0].startswith(f"Run {RUN_ID}  SUCCEEDED")
    assert "Objects: 2 processed, 0 skipped, 1 rejected" in text
    assert f"✘ {BAD}" in text and "columns_mismatch: header has 2 columns" in text
    assert "Rows: 100 in, 97 out, 3 rejected (3.0%)" in text
    assert f"order_date=2026-11-24  97 rows, 1 file  {LOCATION}" in text
    assert "Quality gate: passed (reject ratio 0.03 ≤ max 0.05)" in text
    assert "✘ amount min value=0: 3 failed rows" in text
    assert "✔   RunTransformJob" in text  # a branch's state, indented under its Parallel
    assert "Failed at" not in text and "\033[" not in text
    assert "\033[32mSUCCEEDED\033[0m" in render_text(report, color=True)


def test_the_json_report_has_the_documented_keys(succeeded: Any) -> None:
    report = build_report(record("SUCCEEDED"), RESULT, REJECTED, succeeded)
    document = json.loads(render_json(report))
    assert set(document) >= JSON_KEYS
    assert document["run_id"] == RUN_ID and document["status"] == "SUCCEEDED"
    assert {"key", "outcome", "reason"} <= set(document["objects"][0])
    assert document["partitions"][0]["location"] == LOCATION
    assert {"name", "seconds"} <= set(document["states"][0])
    assert document["quality"]["rules"][1]["failed_rows"] == 3
    assert json.loads(render_json([report, report]))[1]["run_id"] == RUN_ID


def test_a_glue_failure_names_the_state_the_error_the_cause_and_the_quarantine() -> None:
    cause = json.dumps({"errorMessage": "AnalysisException: amount not found", "errorType": "Glue"})
    events = pipeline(glue_error=StatesError("States.TaskFailed", cause))
    item = record("QUARANTINED", error="States.TaskFailed", cause=cause, finished_at="2026-11-24T10:16:00Z")
    report = build_report(item, None, REJECTED, events)
    assert (report.status, report.failed_state, report.error) == (
        "QUARANTINED",
        "RunTransformJob",
        "States.TaskFailed",
    )
    assert report.cause == cause
    assert report.quarantine_uri == QUARANTINE  # from the QuarantineInputs state's variables
    outcomes = {o.key: o for o in report.objects}
    assert outcomes[GOOD].outcome == "skipped"
    assert outcomes[GOOD].reason == "not processed: the run failed at RunTransformJob (States.TaskFailed)"
    assert outcomes[BAD].outcome == "rejected"
    assert outcomes[GOOD].quarantine_uri == QUARANTINE + GOOD
    failed = {s.name for s in report.states if s.status == "failed"}
    assert failed == {"RunTransformJob", "TransformAndCatalog", "RunFailed"}
    assert exit_code([report]) == 1

    text = render_text(report)
    assert (
        "Failed at RunTransformJob: States.TaskFailed\n  Glue: AnalysisException: amount not found\n" in text
    )
    assert f"Quarantined inputs (copies; the originals stay): {QUARANTINE}" in text
    assert f"quarantined copy: {QUARANTINE}{GOOD}" in text
    document = json.loads(render_json(report))
    assert (document["failed_state"], document["quarantine_uri"]) == ("RunTransformJob", QUARANTINE)


def test_a_failed_quality_gate_is_reported_from_the_failure_the_pipeline_named() -> None:
    bad = copy.deepcopy(RESULT)
    bad["quality"]["passed"] = False
    bad["quality"]["reject_ratio"] = bad["reject_ratio"] = 0.3
    events = pipeline(result=bad)
    report = build_report(record("RUNNING"), bad, None, events, quarantine_uri=QUARANTINE)
    assert report.status == "FAILED"  # the execution failed whatever the record says
    assert (report.failed_state, report.error) == ("QualityGateFailed", "Tributary.QualityGateFailed")
    assert report.cause is not None and "reject ratio 0.3" in report.cause
    good = next(o for o in report.objects if o.key == GOOD)
    assert (good.outcome, good.rows_out) == ("skipped", 97)
    assert good.reason is not None and good.reason.startswith("transformed but not published")
    assert "Quality gate: failed (reject ratio 0.3 > max 0.05)" in render_text(report)


def test_a_run_with_every_object_refused_fails_at_no_object_accepted() -> None:
    events = pipeline(accepted=0)
    report = build_report(record("FAILED"), None, REJECTED, events)
    assert (report.failed_state, report.error) == ("NoObjectAccepted", "Tributary.NoObjectAccepted")
    assert report.rows_in is None and report.partitions == [] and report.quality is None
    assert "Rows:" not in render_text(report)


def test_quarantine_that_failed_is_said() -> None:
    events = [
        {"id": 1, "previousEventId": 0, "type": "ExecutionStarted", "timestamp": 0.0},
        {
            "id": 2,
            "previousEventId": 1,
            "type": "TaskStateEntered",
            "timestamp": 1.0,
            "stateEnteredEventDetails": {"name": "QuarantineInputs"},
        },
        {
            "id": 3,
            "previousEventId": 2,
            "type": "TaskStateExited",
            "timestamp": 2.0,
            "stateExitedEventDetails": {
                "name": "QuarantineInputs",
                "assignedVariables": {"quarantineUri": '"(quarantine failed)"'},
            },
        },
        {
            "id": 4,
            "previousEventId": 3,
            "type": "ExecutionFailed",
            "timestamp": 3.0,
            "executionFailedEventDetails": {},
        },
    ]
    report = build_report(record("FAILED", error="E", cause="(no cause)"), history=events)
    assert report.quarantine_uri is None and report.cause is None and report.seconds == 3.0
    assert "Quarantine failed: the inputs were not copied" in render_text(report)


def test_records_in_any_dynamodb_shape_and_capped_object_lists() -> None:
    typed = {
        "run_id": {"S": RUN_ID},
        "status": {"S": "SUCCEEDED"},
        "object_count": {"N": "250"},
        "objects": {"L": [{"S": GOOD}]},
        "rows_read": {"N": "10"},
        "partitions": {"L": [{"S": LOCATION}]},
    }
    assert plain_item(typed)["object_count"] == 250
    assert plain_item({"rows_read": Decimal("10"), "ratio": Decimal("0.5")}) == {
        "rows_read": 10,
        "ratio": 0.5,
    }
    report = build_report(typed)
    assert (report.rows_in, report.object_count) == (10, 250)
    assert report.partitions[0].values == {"order_date": "2026-11-24", "run_id": RUN_ID}
    assert report.objects[0].outcome == "skipped"  # SUCCEEDED but not in any result
    assert "… and 249 more (see the manifest)" in render_text(report)


def test_a_manifest_lists_every_object() -> None:
    manifest = {"objects": [{"key": f"incoming/orders/{i}.csv", "version_id": str(i)} for i in range(120)]}
    report = build_report(record("RUNNING", objects=[]), manifest=manifest)
    assert len(report.objects) == 120 and {o.outcome for o in report.objects} == {"pending"}
    assert report.objects[7].version_id == "7"
    assert exit_code([report]) == 1


def test_exit_code_is_zero_only_when_every_run_succeeded() -> None:
    assert exit_code(["SUCCEEDED", "SUCCEEDED"]) == 0
    assert exit_code(["SUCCEEDED", "QUARANTINED"]) == 1
    assert exit_code(["RUNNING"]) == 1
    assert exit_code([]) == 1
    assert exit_code([build_report(record("SUCCEEDED"))]) == 0


def test_partition_values_come_from_the_location() -> None:
    assert partition_values("s3://b/orders/order_date=2026-11-24/run_id=r1/") == {
        "order_date": "2026-11-24",
        "run_id": "r1",
    }
    assert partition_values("s3://b/orders/") == {}


def test_a_timed_out_execution_blames_the_innermost_open_state() -> None:
    definition = {
        "TimeoutSeconds": 2,
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": True}}}],
                "End": True,
            }
        },
    }
    execution = Execution(definition, {})
    execution.start()
    execution.wait()
    report = build_report({"run_id": "r1", "status": "RUNNING"}, history=execution.history.events)
    assert (report.status, report.failed_state, report.error) == ("TIMED_OUT", "W", "States.Timeout")
    assert [(s.name, s.seconds, s.status, s.depth) for s in report.states] == [
        ("P", 2.0, "failed", 0),
        ("W", 2.0, "failed", 1),
    ]
    assert exit_code([report]) == 1


def test_objects_validate_refused_point_at_their_quarantined_copy_even_in_a_successful_run(
    succeeded: Any,
) -> None:
    refused = REJECTED | {"quarantine_uri": QUARANTINE}
    report = build_report(record("SUCCEEDED"), RESULT, refused, succeeded)
    copies = {o.key: o.quarantine_uri for o in report.objects}
    assert copies == {GOOD: None, BAD: f"{QUARANTINE}{BAD}", EMPTY: None}
    assert f"quarantined copy: {QUARANTINE}{BAD}" in render_text(report)


# ---- versions, safe quarantine keys, objects the job left out
TWICE = "incoming/orders/twice.csv"
DIGEST_V1 = f"{QUARANTINE}incoming/orders/twice~{'1' * 32}.csv"
DIGEST_V2 = f"{QUARANTINE}incoming/orders/twice~{'2' * 32}.csv"
CORRUPT = "incoming/orders/cut.csv.gz"


def two_versions_manifest() -> dict[str, Any]:
    return {
        "objects": [
            {"key": TWICE, "version_id": "v1", "etag": "e1"},
            {"key": TWICE, "version_id": "v2", "etag": "e2"},
            {"key": GOOD, "version_id": "g1", "etag": "eg"},
        ]
    }


def test_two_versions_of_one_key_are_two_objects_each_with_its_own_outcome() -> None:
    refused = {
        "objects": [{"key": TWICE, "version_id": "v2", "reasons": [{"code": "empty", "message": "0 bytes"}]}]
    }
    result = RESULT | {
        "objects": [
            {"key": TWICE, "version_id": "v1", "rows_read": 5, "rows_written": 5, "rows_rejected": 0},
            {"key": GOOD, "version_id": "g1", "rows_read": 95, "rows_written": 92, "rows_rejected": 3},
        ]
    }
    report = build_report(
        record("SUCCEEDED", object_count=Decimal(3)), result, refused, manifest=two_versions_manifest()
    )
    outcomes = [(o.key, o.version_id, o.etag, o.outcome, o.rows_in) for o in report.objects]
    assert outcomes == [
        (TWICE, "v1", "e1", "processed", 5),
        (TWICE, "v2", "e2", "rejected", None),
        (GOOD, "g1", "eg", "processed", 95),
    ]
    text = render_text(report)
    assert "Objects: 2 processed, 0 skipped, 1 rejected" in text
    assert f"✔ {TWICE} (version v1)" in text and f"✘ {TWICE} (version v2)" in text
    assert f"{GOOD} (version" not in text  # a key seen once is shown bare
    document = json.loads(render_json(report))
    assert [(o["key"], o["version_id"]) for o in document["objects"]][:2] == [(TWICE, "v1"), (TWICE, "v2")]


def test_sources_that_name_no_version_take_the_key_s_versions_in_turn() -> None:
    # The record lists keys only (no manifest); an old result names no version either.
    result = RESULT | {
        "objects": [
            {"key": TWICE, "rows_read": 1, "rows_written": 1, "rows_rejected": 0},
            {"key": TWICE, "rows_read": 2, "rows_written": 2, "rows_rejected": 0},
        ]
    }
    report = build_report(record("SUCCEEDED", objects=[TWICE, TWICE], object_count=Decimal(2)), result)
    assert [(o.key, o.rows_in, o.outcome) for o in report.objects] == [
        (TWICE, 1, "processed"),
        (TWICE, 2, "processed"),
    ]
    # An unversioned bucket: the ETag tells the two apart.
    manifest = {"objects": [{"key": TWICE, "etag": "e1"}, {"key": TWICE, "etag": "e2"}]}
    refused = {"objects": [{"key": TWICE, "etag": "e2", "reasons": [{"code": "empty", "message": "0"}]}]}
    report = build_report(record("SUCCEEDED"), RESULT | {"objects": []}, refused, manifest=manifest)
    assert [(o.etag, o.outcome) for o in report.objects] == [("e1", "skipped"), ("e2", "rejected")]
    assert f"{TWICE} (version e2)" in render_text(report)


def test_quarantine_copies_are_where_their_reason_files_say_not_at_prefix_plus_key() -> None:
    listing = [
        DIGEST_V1,
        DIGEST_V1 + ".reason.json",
        DIGEST_V2 + ".reason.json",  # only the reason: the input was gone
        f"{QUARANTINE}{GOOD}",
        f"{QUARANTINE}{GOOD}.reason.json",  # an older reason without "key": the path spells it
        "s3://artifacts/elsewhere/x.reason.json",
    ]
    reasons = {
        DIGEST_V1 + ".reason.json": {"key": TWICE, "version_id": "v1", "error": "States.TaskFailed"},
        DIGEST_V2 + ".reason.json": {
            "key": TWICE,
            "version_id": "v2",
            "error": "States.TaskFailed",
            "cause": "input missing at quarantine time; boom",
        },
        f"{QUARANTINE}{GOOD}.reason.json": {"version_id": "g1", "error": "States.TaskFailed"},
    }
    copies = quarantined_copies(QUARANTINE, listing, reasons.get)
    assert copies == {
        (TWICE, "v1"): QuarantinedCopy(DIGEST_V1, True, "States.TaskFailed", None),
        (TWICE, "v2"): QuarantinedCopy(
            DIGEST_V2, False, "States.TaskFailed", "input missing at quarantine time; boom"
        ),
        (GOOD, "g1"): QuarantinedCopy(f"{QUARANTINE}{GOOD}", True, "States.TaskFailed", None),
    }
    manifest = two_versions_manifest()
    manifest["objects"].append({"key": BAD, "version_id": "b1"})  # no reason file: the old layout
    item = record("FAILED", error="States.TaskFailed", quarantine_uri=QUARANTINE)
    report = build_report(item, manifest=manifest, copies=copies)
    found = {(o.key, o.version_id): (o.quarantine_uri, o.quarantine_error) for o in report.objects}
    assert found == {
        (TWICE, "v1"): (DIGEST_V1, "States.TaskFailed"),
        (TWICE, "v2"): (None, "States.TaskFailed"),
        (GOOD, "g1"): (f"{QUARANTINE}{GOOD}", "States.TaskFailed"),
        (BAD, "b1"): (f"{QUARANTINE}{BAD}", None),
    }
    missing = next(o for o in report.objects if o.version_id == "v2")
    assert missing.reason is not None
    assert missing.reason.endswith("(not copied to quarantine: input missing at quarantine time; boom)")
    text = render_text(report)
    assert f"quarantined copy: {DIGEST_V1}" in text and f"{QUARANTINE}{TWICE}" not in text


def test_a_refused_object_with_an_unsafe_key_points_at_its_digest_copy_in_a_successful_run(
    succeeded: Any,
) -> None:
    odd = "incoming/orders/../etc/passwd.csv"
    digest = f"{QUARANTINE}incoming/orders/_../etc/passwd~{'3' * 32}.csv"
    refused = {
        "objects": [{"key": odd, "version_id": "o1", "reasons": [{"code": "empty", "message": "0 bytes"}]}],
        "quarantine_uri": QUARANTINE,
    }
    copies: dict[CopyKey, QuarantinedCopy] = {
        (odd, "o1"): QuarantinedCopy(digest, True, "Tributary.ObjectRefused", None)
    }
    report = build_report(record("SUCCEEDED", objects=[GOOD, odd]), RESULT, refused, succeeded, copies=copies)
    (refused_outcome,) = [o for o in report.objects if o.key == odd]
    assert (refused_outcome.outcome, refused_outcome.quarantine_uri) == ("rejected", digest)
    assert [o.quarantine_uri for o in report.objects if o.key != odd] == [None, None]


def test_objects_the_glue_job_could_not_read_are_rejected_with_its_reason_and_counted() -> None:
    left_out = {
        "key": CORRUPT,
        "version_id": "c1",
        "staged_uri": "s3://artifacts/runs/r/input/00001.csv.gz",
        "reasons": [{"code": "corrupt_gzip", "message": "Unexpected end of input stream"}],
    }
    result = RESULT | {"failed_objects": [left_out]}
    copy = QuarantinedCopy(f"{QUARANTINE}{CORRUPT}", True, "Tributary.ObjectFailed", "corrupt_gzip")
    item = record("SUCCEEDED", objects=[GOOD, CORRUPT, EMPTY], object_count=Decimal(3))
    for documents in (
        {"result": result},  # result.json's failed_objects
        {"result": RESULT, "failed_objects": {"objects": [left_out], "quarantine_uri": None}},
        {"result": RESULT | {"objects": [*RESULT["objects"], {"key": CORRUPT, "rows_read": 0}]}}
        | {"failed_objects": [left_out]},  # even if the job's result listed it too
    ):
        report = build_report(item, **documents, copies={(CORRUPT, "c1"): copy})
        (failed,) = [o for o in report.objects if o.key == CORRUPT]
        assert failed.outcome == "rejected"
        assert failed.reason == "the Glue job could not read it: corrupt_gzip: Unexpected end of input stream"
        assert (failed.quarantine_uri, failed.quarantine_error) == (copy.uri, "Tributary.ObjectFailed")
        assert report.objects_failed == 1 and report.object_count == 3 and len(report.objects) == 3
        text = render_text(report)
        assert "Objects: 2 processed, 0 skipped, 1 rejected (1 the Glue job could not read)" in text
        assert f"✘ {CORRUPT}" in text and f"quarantined copy: {copy.uri}" in text
        assert json.loads(render_json(report))["objects_failed"] == 1
    # Without the reason files (an older run), the copy is at the run's quarantine prefix + key.
    report = build_report(item, RESULT, failed_objects=[left_out], quarantine_uri=QUARANTINE)
    assert next(o for o in report.objects if o.key == CORRUPT).quarantine_uri == QUARANTINE + CORRUPT


def test_the_caller_reads_failed_objects_and_the_reason_files_from_s3() -> None:
    from moto import mock_aws

    from tributary.local.commands.one_shot import quarantine_documents

    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        prefix = f"quarantine/orders/{RUN_ID}/"
        v1, v2 = DIGEST_V1.split("artifacts/", 1)[1], DIGEST_V2.split("artifacts/", 1)[1]
        s3.put_object(Bucket="artifacts", Key=v1, Body=b"a,b\n")
        for key, version in ((v1, "v1"), (v2, "v2")):  # v2's input was gone: only its reason
            reason = {"key": TWICE, "version_id": version, "error": "Tributary.ObjectFailed", "cause": "x"}
            s3.put_object(Bucket="artifacts", Key=key + ".reason.json", Body=json.dumps(reason).encode())
        s3.put_object(Bucket="artifacts", Key=f"{prefix}{BAD}.reason.json", Body=b"not json")
        failed = {"run_id": RUN_ID, "objects": [{"key": TWICE, "version_id": "v1", "reasons": []}]}
        s3.put_object(Bucket="artifacts", Key=f"runs/{RUN_ID}/failed-objects.json", Body=json.dumps(failed))
        s3.put_object(Bucket="artifacts", Key=f"quarantine/orders/other-run/{TWICE}.reason.json", Body=b"{}")

        documents = {"run_record": {"run_id": {"S": RUN_ID}, "dataset": {"S": "orders"}}, "rejected": None}
        found = quarantine_documents(s3, "artifacts", RUN_ID, documents)
        assert found["failed_objects"] == failed
        assert found["copies"] == {
            (TWICE, "v1"): QuarantinedCopy(DIGEST_V1, True, "Tributary.ObjectFailed", "x"),
            (TWICE, "v2"): QuarantinedCopy(DIGEST_V2, False, "Tributary.ObjectFailed", "x"),
            (BAD, None): QuarantinedCopy(f"{QUARANTINE}{BAD}", False, None, None),
        }
        # No dataset anywhere but rejected.json's quarantine_uri; a run without failed-objects.json.
        other = quarantine_documents(
            s3, "artifacts", "r2", {"run_record": {}, "rejected": {"quarantine_uri": QUARANTINE.rstrip("/")}}
        )
        assert other["failed_objects"] is None and len(other["copies"]) == 3
        assert quarantine_documents(s3, "artifacts", "r3", {"run_record": {}}) == {
            "failed_objects": None,
            "copies": None,
        }


def test_a_failed_job_s_result_reports_no_rows_or_gate_but_its_error_and_left_out_objects() -> None:
    failed_result = {
        "run_id": RUN_ID,
        "status": "FAILED",
        "error": {"type": "EOFException", "message": "Unexpected end of input stream"},
        "rows_read": 0,
        "rows_written": 0,
        "rows_rejected": 0,
        "objects": [],
        "failed_objects": [
            {"key": CORRUPT, "reasons": [{"code": "corrupt_gzip", "message": "cut short"}]},
        ],
        "partitions": [],
        "outputs": [],
        "quality": {"passed": False, "max_reject_ratio": None, "reject_ratio": 0.0, "rules": []},
    }
    item = record("QUARANTINED", objects=[GOOD, CORRUPT], object_count=Decimal(2))
    report = build_report(item, failed_result, quarantine_uri=QUARANTINE)
    assert (report.rows_in, report.rows_out, report.quality) == (None, None, None)
    assert report.cause == "EOFException: Unexpected end of input stream"
    outcomes = {o.key: (o.outcome, o.reason) for o in report.objects}
    assert outcomes[CORRUPT] == ("rejected", "the Glue job could not read it: corrupt_gzip: cut short")
    assert outcomes[GOOD][0] == "skipped"
    text = render_text(report)
    assert "Rows:" not in text and "Quality gate" not in text
    assert "  EOFException: Unexpected end of input stream" in text
    # The record's cause (the Glue run's ErrorMessage) wins over the result's.
    assert build_report(item | {"cause": "from Glue"}, failed_result).cause == "from Glue"


def test_an_upload_is_in_a_run_only_if_a_manifest_lists_its_version() -> None:
    from tributary.local.commands.one_shot import Upload, uploads_without_run

    first, second = Upload(Path("a.csv"), TWICE, "v1"), Upload(Path("b.csv"), TWICE, "v2")
    unversioned = Upload(Path("c.csv"), GOOD, None)
    manifests = [None, {"objects": [{"key": TWICE, "version_id": "v1"}, {"key": GOOD}]}]
    assert uploads_without_run([first, second, unversioned], manifests) == [second]
    assert uploads_without_run([first], []) == [first]


def big_run() -> dict[str, Any]:
    """A run partitioned by day over four years (1,461 partitions, one file each) from 30 objects, one
    of them rejected in the middle of the list."""
    from datetime import date, timedelta

    days = [(date(2020, 1, 1) + timedelta(days=i)).isoformat() for i in range(1461)]
    locations = [f"s3://curated/orders/order_date={d}/run_id={RUN_ID}/" for d in days]
    keys = [f"incoming/orders/part-{i:02d}.csv" for i in range(30)]
    result = copy.deepcopy(RESULT) | {
        "rows_read": 1461,
        "rows_written": 1461,
        "rows_rejected": 0,
        "objects": [
            {"key": k, "version_id": "v1", "rows_read": 50, "rows_written": 50, "rows_rejected": 0}
            for k in keys
            if k != keys[15]
        ],
        "partitions": [
            {"values": {"order_date": d, "run_id": RUN_ID}, "location": loc, "rows": 1, "files": 1}
            for d, loc in zip(days, locations, strict=True)
        ],
        "outputs": [loc + "part-00000-abc.snappy.parquet" for loc in locations],
    }
    rejected = {
        "objects": [
            {"key": keys[15], "version_id": "v1", "reasons": [{"code": "empty", "message": "no rows"}]}
        ]
    }
    objects = [{"key": k, "version_id": "v1"} for k in keys]
    return {
        "record": record("SUCCEEDED", objects=objects, object_count=30),
        "result": result,
        "rejected": rejected,
    }


def test_a_big_run_is_summarised_in_text_and_listed_whole_in_json() -> None:
    run = big_run()
    report = build_report(run["record"], run["result"], run["rejected"])
    text = render_text(report)
    lines = text.splitlines()
    assert len(lines) < 60, f"{len(lines)} lines for a report of 1461 partitions"
    assert "Partitions (1461; 1461 rows, 1461 files in all):" in text
    assert "order_date=2020-01-01  1 row, 1 file" in text  # the first ...
    assert "order_date=2023-12-31  1 row, 1 file" in text  # ... and the last partition
    assert "order_date=2021-06-15" not in text
    assert "… 1451 more partitions (all of them: --output json)" in text
    assert "Output files (1461) under s3://curated/orders/:" in text
    assert "… 1451 more output files (all of them: --output json)" in text
    # 30 objects: the rejected one in the middle is shown, the processed ones around it are counted
    assert "Objects: 29 processed, 0 skipped, 1 rejected" in text
    assert "✘ incoming/orders/part-15.csv" in text
    assert "incoming/orders/part-00.csv" in text and "incoming/orders/part-29.csv" in text
    hidden = [line for line in lines if line.strip().startswith("… ") and "more object" in line]
    assert [line.strip() for line in hidden] == [
        "… 10 more objects (all of them: --output json)",
        "… 9 more objects (all of them: --output json)",
    ]
    assert len(render_text(report, limit=10_000).splitlines()) > 2 * 1461  # everything when asked

    document = json.loads(render_json(report))
    assert len(document["partitions"]) == 1461 and len(document["outputs"]) == 1461
    assert len(document["objects"]) == 30


def test_a_list_at_the_limit_is_shown_whole() -> None:
    run = big_run()
    run["result"]["partitions"] = run["result"]["partitions"][:10]
    run["result"]["outputs"] = run["result"]["outputs"][:10]
    text = render_text(build_report(run["record"], run["result"], run["rejected"]))
    assert "more partition" not in text and "more output file" not in text
    assert "order_date=2020-01-05" in text and "Output files (10):" in text


# -- human approval (issue 12): the run record's approval_* fields ----------------------------------------
STEWARD = "arn:aws:iam::123456789012:user/data-steward"


def test_a_run_awaiting_approval_says_until_when_and_how_to_decide() -> None:
    asked = record(
        "AWAITING_APPROVAL",
        approval_requested_at="2026-11-24T10:16:00Z",
        approval_expires_at="2026-11-25T10:16:00Z",
    )
    report = build_report(asked)
    assert report.approval is not None and report.approval["decision"] is None
    text = render_text(report)
    assert "Awaiting approval until 2026-11-25T10:16:00Z" in text
    assert f"tributary approve {RUN_ID} --reason" in text and f"tributary refuse {RUN_ID} --reason" in text
    assert "Failed at" not in text  # not a failure (yet)
    assert json.loads(render_json(report))["approval"]["expires_at"] == "2026-11-25T10:16:00Z"


@pytest.mark.parametrize(
    ("status", "decision", "by", "reason", "says"),
    [
        (
            "SUCCEEDED",
            "approve",
            STEWARD,
            "known defect",
            f"Approval: approved by {STEWARD} at T: known defect",
        ),
        (
            "QUARANTINED",
            "refuse",
            STEWARD,
            "too many rejects",
            f"Approval: refused by {STEWARD} at T: too many",
        ),
        (
            "QUARANTINED",
            "timeout",
            "timeout",
            "no decision within 60 s",
            "Approval: none by T: no decision within",
        ),
    ],
)
def test_a_decision_is_reported_with_who_when_and_why(
    status: str, decision: str, by: str, reason: str, says: str
) -> None:
    decided = record(
        status,
        approval_decision=decision,
        approval_decided_by=by,
        approval_decided_at="T",
        approval_reason=reason,
    )
    report = build_report(decided)
    assert report.approval is not None and report.approval["decided_by"] == by
    assert says in render_text(report)


def test_a_run_never_asked_has_no_approval() -> None:
    report = build_report(record("SUCCEEDED"))
    assert report.approval is None and "Approval" not in render_text(report)
    assert json.loads(render_json(report))["approval"] is None
