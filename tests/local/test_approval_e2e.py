"""Human approval end to end on the local stack (template.yaml as is): uploads whose quality rules fail
wait in AWAITING_APPROVAL, asked on the topic; `tributary approve` publishes one (its rejects recorded),
`tributary refuse` quarantines another, and a third, left alone, is refused by timeout on the engine's
virtual clock. Who decided, when and why is on each run record.

The files are small: the runs take the small-run path (TransformLiteFunction), so no Spark starts (a run
that would start a Glue job fails the test instead)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tributary.cli import main
from tributary.local.endpoints.control import serve_control
from tributary.local.runtimes.glue_runtime import GlueRuntime
from tributary.local.session import StackInfo
from tributary.local.stack import NOTIFICATIONS_QUEUE, LocalStack, StackOptions
from tributary.local.views.report import plain_item
from tributary.serving import stop_serving

from .conftest import copy_of_the_application

REPO = Path(__file__).resolve().parents[2]
# Virtual seconds: the engine waits for a decision at most its patience (60 real seconds), then its
# clock jumps to the timeout.
TIMEOUT_SECONDS = "3600"

pytestmark = pytest.mark.slow


def clicks(bad: int, good: int = 6) -> bytes:
    """JSON Lines of the clicks contract; `bad` lines break its allowed_values rule on event_type (the
    contract tolerates a reject ratio of 0.1)."""
    lines = []
    for index in range(good + bad):
        event_type = "teleport" if index < bad else "click"
        lines.append(
            json.dumps(
                {
                    "event_id": f"evt-{index:05d}",
                    "user_id": "u-001",
                    "url": "https://shop.example.com/cart",
                    "event_type": event_type,
                    "occurred_at": "2026-11-24T10:00:00.000Z",
                    "duration_ms": 100 + index,
                    "is_bot": False,
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_the_application(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def stack(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    def refuse(self: GlueRuntime, **request: Any) -> dict[str, Any]:
        raise AssertionError("a run took the Glue path: this test must not start Spark")

    patch = pytest.MonkeyPatch()
    patch.setattr(GlueRuntime, "start_job_run", refuse)
    options = StackOptions(
        project,
        work_dir=tmp_path_factory.mktemp("work"),
        endpoint_port=0,
        batch_window_cap=0.2,
        parameter_overrides={"ApprovalTimeoutSeconds": TIMEOUT_SECONDS},
    )
    with LocalStack(options) as local:
        control = serve_control(local)
        StackInfo.of(local, f"http://127.0.0.1:{control.server_port}").save(project)
        try:
            yield local
        finally:
            stop_serving(control)
            patch.undo()


def info(project: Path) -> StackInfo:
    return StackInfo.load(project)


def record(project: Path, run_id: str) -> dict[str, Any]:
    item = (
        info(project)
        .client("dynamodb")
        .get_item(TableName=info(project).runs_table, Key={"run_id": {"S": run_id}}, ConsistentRead=True)[
            "Item"
        ]
    )
    return plain_item(item)


def wait_for(project: Path, predicate: Any, what: str, seconds: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        items = info(project).client("dynamodb").scan(TableName=info(project).runs_table)["Items"]
        for item in map(plain_item, items):
            if predicate(item):
                return item
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def asked(project: Path, stack: LocalStack) -> dict[str, str]:
    """Three uploads whose quality rules fail, one run each (each waits for a decision before the next
    upload, so the trigger's batch window never joins two): by name, the run awaiting approval."""
    s3 = info(project).client("s3")
    runs: dict[str, str] = {}
    for name in ("left-alone", "approved", "refused"):  # the timeout's clock starts first
        s3.put_object(
            Bucket=info(project).raw_bucket, Key=f"incoming/clicks/{name}.jsonl", Body=clicks(bad=4)
        )
        item = wait_for(
            project,
            lambda r: r.get("status") == "AWAITING_APPROVAL" and r["run_id"] not in runs.values(),
            f"the run of {name} to await approval",
        )
        runs[name] = item["run_id"]
    return runs


def notifications(project: Path) -> list[dict[str, Any]]:
    sqs = info(project).client("sqs")
    url = sqs.get_queue_url(QueueName=NOTIFICATIONS_QUEUE)["QueueUrl"]
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        for message in batch:
            body = json.loads(message["Body"])
            found.append(json.loads(body["Message"]) if "Message" in body else body)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def caller(project: Path) -> str:
    return str(info(project).client("sts").get_caller_identity()["Arn"])


def test_a_run_whose_quality_rules_fail_waits_and_says_how_to_decide(
    project: Path, asked: dict[str, str]
) -> None:
    for run_id in asked.values():
        item = record(project, run_id)
        assert item["approval_token"] and item["approval_expires_at"] > item["approval_requested_at"]
        assert "reject ratio" in item["quality_failure"]
        assert item["rejects_uri"].endswith(f"/run_id={run_id}/")
    messages = [m for m in notifications(project) if m.get("status") == "AWAITING_APPROVAL"]
    assert sorted(m["run_id"] for m in messages) == sorted(asked.values())
    for message in messages:
        assert message["rows_rejected"] == 4 and message["reject_ratio"] == 0.4
        assert message["max_reject_ratio"] == 0.1
        assert f"tributary approve {message['run_id']}" in message["how_to_decide"]


def test_an_approved_run_is_published_with_its_rejects_and_the_decision_recorded(
    project: Path, asked: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = asked["approved"]
    reason = "event types renamed upstream; publish the rest"
    assert main(["approve", run_id, "--reason", reason, "--root", str(project)]) == 0
    assert f"{run_id}: approved by {caller(project)}" in capsys.readouterr().out
    item = wait_for(
        project, lambda r: r["run_id"] == run_id and r["status"] == "SUCCEEDED", "the approved run"
    )
    assert (item["approval_decision"], item["approval_decided_by"]) == ("approve", caller(project))
    assert item["approval_reason"] == reason and item["approval_decided_at"]
    assert "approval_token" not in item
    assert (item["rows_written"], item["rows_rejected"]) == (6, 4)
    assert item["partition_count"] >= 1
    # The rejects stay where the run wrote them, named on the record.
    bucket, prefix = item["rejects_uri"][len("s3://") :].split("/", 1)
    assert info(project).client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) > 0
    # A second decision on a decided run is refused with the run's state, and changes nothing.
    assert main(["refuse", run_id, "--reason", "too late", "--root", str(project)]) == 1
    assert "is SUCCEEDED, not AWAITING_APPROVAL" in capsys.readouterr().err
    assert record(project, run_id)["approval_decision"] == "approve"
    # history and graph show the path through the new states
    assert main(["history", run_id, "--root", str(project)]) == 0
    history = capsys.readouterr().out
    assert "AwaitApproval" in history and "RecordDecision" in history
    graph = project / "approved.html"
    assert main(["graph", run_id, "-o", str(graph), "--root", str(project)]) == 0
    assert 'data-state="AwaitApproval" data-type="Task" data-status="succeeded"' in graph.read_text()


def test_a_refused_run_is_quarantined_with_who_refused_it_and_why(
    project: Path, asked: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = asked["refused"]
    assert main(["refuse", run_id, "--reason", "too many unknown event types", "--root", str(project)]) == 0
    item = wait_for(
        project, lambda r: r["run_id"] == run_id and r["status"] == "QUARANTINED", "the refused run"
    )
    assert (item["approval_decision"], item["approval_decided_by"]) == ("refuse", caller(project))
    assert item["error"] == "Tributary.QualityGateFailed"
    assert (
        f"refused by {caller(project)}" in item["cause"] and "too many unknown event types" in item["cause"]
    )
    assert "partition_count" not in item  # never committed
    assert item["quarantine_uri"].startswith("s3://")


def test_a_run_nobody_decides_is_refused_by_timeout(project: Path, asked: dict[str, str]) -> None:
    run_id = asked["left-alone"]
    item = wait_for(
        project, lambda r: r["run_id"] == run_id and r["status"] == "QUARANTINED", "the timeout", 300.0
    )
    assert (item["approval_decision"], item["approval_decided_by"]) == ("timeout", "timeout")
    assert item["approval_reason"] == f"no decision within {TIMEOUT_SECONDS} s: refused by timeout"
    assert item["cause"].endswith(item["approval_reason"])
    assert "partition_count" not in item
