"""`tributary reprocess` and `tributary redrive` against a running local stack built from template.yaml:
the sweep function runs in the stack's Lambda runtime, as `aws lambda invoke` runs it on AWS. The runs
here fail at validation (refused uploads), so no Spark starts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tributary.cli import main
from tributary.local.endpoints.control import serve_control
from tributary.local.session import StackInfo
from tributary.local.stack import LocalStack, StackOptions

REPO = Path(__file__).resolve().parents[2]
REFUSED = b"not,the,orders,columns\n1,2,3,4\n"  # validate refuses it: columns_mismatch

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local_stack_e2e")]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LocalStack]]:
    """A project folder whose .tributary/stack.json points at a running stack, as `tributary up` leaves."""
    folder = tmp_path_factory.mktemp("project")
    options = StackOptions(REPO, work_dir=folder / "work", batch_window_cap=0.5, real_time=False)
    with LocalStack(options) as stack:
        control = serve_control(stack)
        StackInfo.of(stack, f"http://127.0.0.1:{control.server_port}").save(folder)
        try:
            yield folder, stack
        finally:
            control.shutdown()


def runs(stack: LocalStack) -> dict[str, dict[str, Any]]:
    table = stack.physical_id("RunsTable")
    items = stack.aws.client("dynamodb").scan(TableName=table)["Items"]
    return {item["run_id"]["S"]: {k: next(iter(v.values())) for k, v in item.items()} for item in items}


def wait_for(condition: Any, seconds: float = 90.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("not reached in time")


def finished(stack: LocalStack, count: int) -> list[str]:
    """The run ids once ``count`` runs have all ended (failed, as these inputs are refused)."""
    records = runs(stack)
    done = [r for r, item in records.items() if item["status"] in ("FAILED", "QUARANTINED")]
    return sorted(done) if len(records) == count and len(done) == count else []


def cli(root: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_reprocess_starts_a_new_run_once_and_refuses_the_rest(
    root: tuple[Path, LocalStack], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, stack = root
    s3 = stack.aws.client("s3")
    s3.put_object(Bucket=stack.physical_id("RawBucket"), Key="incoming/orders/bad.csv", Body=REFUSED)
    [failed] = wait_for(lambda: finished(stack, 1))

    code, out, _ = cli(folder, capsys, "reprocess", failed)

    assert code == 0, out
    assert out.startswith(f"{failed}: 1 object version(s) sent to the ingest queue")
    [new] = [r for r in wait_for(lambda: finished(stack, 2)) if r != failed]
    assert runs(stack)[failed]["reprocessed_objects"] == "1"
    assert runs(stack)[new]["object_count"] == "1"
    # Who asked (the identity of the stack's credentials) is the new run's trigger (audit trail).
    caller = stack.aws.client("sts").get_caller_identity()["Arn"]
    assert runs(stack)[failed]["reprocessed_by"] == caller
    assert (runs(stack)[new]["trigger_kind"], runs(stack)[new]["trigger_principal"]) == ("reprocess", caller)

    code, _, err = cli(folder, capsys, "reprocess", failed)
    assert code == 1
    assert err.startswith(f"not reprocessed: run {failed} was already reprocessed at ")
    code, _, err = cli(folder, capsys, "reprocess", "orders-no-such-run")
    assert (code, err) == (1, "not reprocessed: no run orders-no-such-run in the runs table\n")
    time.sleep(2)  # nothing else starts
    assert len(runs(stack)) == 2


def undelivered_uploads(stack: LocalStack, keys: list[str]) -> None:
    """Upload while the ingest rule cannot reach its queue: the bus puts the events in its target's DLQ."""
    sqs = stack.aws.client("sqs")
    ingest_arn = stack.stack.resources["IngestQueue"].attributes["Arn"]
    dlq = stack.physical_id("EventDeliveryDeadLetterQueue")
    deliver = stack.bus.deliverers["sqs"]

    def ingest_unreachable(arn: str, body: str) -> None:
        if arn == ingest_arn:
            raise RuntimeError("injected: the ingest queue is unreachable")
        deliver(arn, body)

    stack.bus.deliverers["sqs"] = ingest_unreachable
    try:
        for key in keys:
            stack.aws.client("s3").put_object(Bucket=stack.physical_id("RawBucket"), Key=key, Body=REFUSED)
        wait_for(
            lambda: (
                sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
                    "Attributes"
                ]["ApproximateNumberOfMessages"]
                == str(len(keys))
            )
        )
    finally:
        stack.bus.deliverers["sqs"] = deliver


def test_redrive_moves_upload_events_of_either_dlq_and_keeps_the_rest(
    root: tuple[Path, LocalStack], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, stack = root
    before = len(runs(stack))
    sqs = stack.aws.client("sqs")
    events_dlq = stack.physical_id("EventDeliveryDeadLetterQueue")
    undelivered_uploads(stack, ["incoming/orders/undelivered-1.csv", "incoming/orders/undelivered-2.csv"])
    # One of them as if the trigger had failed it maxReceiveCount times: in the ingest queue's DLQ.
    [message] = sqs.receive_message(QueueUrl=events_dlq, MaxNumberOfMessages=1)["Messages"]
    sqs.send_message(QueueUrl=stack.physical_id("IngestDeadLetterQueue"), MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=events_dlq, ReceiptHandle=message["ReceiptHandle"])
    glue_alert = json.dumps({"detail-type": "Glue Job State Change", "source": "aws.glue", "detail": {}})
    sqs.send_message(QueueUrl=events_dlq, MessageBody=glue_alert)
    assert len(runs(stack)) == before

    code, out, _ = cli(folder, capsys, "redrive", "ingest")
    assert (code, out) == (0, "ingest dead-letter queue: 1 message(s) moved to the ingest queue\n")
    code, out, _ = cli(folder, capsys, "redrive", "events")
    assert code == 0
    assert out.splitlines()[0] == "events dead-letter queue: 1 message(s) moved to the ingest queue"
    assert out.splitlines()[1].endswith(": Glue Job State Change event from aws.glue")
    wait_for(lambda: finished(stack, before + 2))

    code, _, err = cli(folder, capsys, "redrive", "ingest", "--max-messages", "0")
    assert (code, err) == (2, "tributary: error: --max-messages must be at least 1\n")
