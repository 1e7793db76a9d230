"""Local state that survives: moto's state saved before each mutating request is answered, the
engine's executions recorded, both restored on the same folder."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tributary.local.delivery.events import listen_to_s3
from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.persistence import snapshots
from tributary.local.persistence.executions import ExecutionJournal
from tributary.local.persistence.local_state import LocalState
from tributary.local.persistence.snapshots import MANIFEST, StateError
from tributary.local.stack import LocalStack, StackOptions
from tributary.states.server.backend import StepFunctionsBackend
from tributary.states.server.models import Execution

from .conftest import FIXTURE_APP

BUCKET = "persisted-bucket"
PASS_MACHINE = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


def test_objects_versions_messages_in_flight_items_and_catalog_survive_a_restart(tmp_path: Path) -> None:
    with MotoServer(state_dir=tmp_path) as aws:
        s3, sqs, ddb, glue = (aws.client(s) for s in ("s3", "sqs", "dynamodb", "glue"))
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        versions = [s3.put_object(Bucket=BUCKET, Key="k", Body=body)["VersionId"] for body in (b"1", b"2")]
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
        for body in ("a", "b", "c"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        (in_flight,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"]
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="t", Item={"id": {"S": "a"}, "n": {"N": "1"}})
        glue.create_database(DatabaseInput={"Name": "db"})
        glue.create_table(DatabaseName="db", TableInput={"Name": "orders", "PartitionKeys": [{"Name": "d"}]})
        glue.create_partition(
            DatabaseName="db", TableName="orders", PartitionInput={"Values": ["2024-01-01"]}
        )
    with MotoServer(state_dir=tmp_path) as aws:
        assert aws.restored >= 4
        s3, sqs, ddb, glue = (aws.client(s) for s in ("s3", "sqs", "dynamodb", "glue"))
        listed = s3.list_object_versions(Bucket=BUCKET)["Versions"]
        assert sorted(v["VersionId"] for v in listed) == sorted(versions)
        assert [s3.get_object(Bucket=BUCKET, Key="k", VersionId=v)["Body"].read() for v in versions] == [
            b"1",
            b"2",
        ]
        url = sqs.get_queue_url(QueueName="q")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (
            attributes["ApproximateNumberOfMessages"],
            attributes["ApproximateNumberOfMessagesNotVisible"],
        ) == (
            "2",
            "1",
        )
        # The message in flight keeps its receipt handle: it can still be deleted.
        sqs.delete_message(QueueUrl=url, ReceiptHandle=in_flight["ReceiptHandle"])
        assert ddb.get_item(TableName="t", Key={"id": {"S": "a"}})["Item"]["n"] == {"N": "1"}
        partitions = glue.get_partitions(DatabaseName="db", TableName="orders")["Partitions"]
        assert [p["Values"] for p in partitions] == [["2024-01-01"]]


def test_a_lambda_backend_in_use_does_not_stop_the_saves(tmp_path: Path) -> None:
    """moto's Lambda cannot be pickled (weak references, lambdas): one request that reached it used to
    make every later save fail (each mutating request then answered 503). Its state is not kept: the
    local stack's functions are not moto's."""
    with MotoServer(state_dir=tmp_path) as aws:
        awslambda, s3 = aws.client("lambda"), aws.client("s3")
        with pytest.raises(awslambda.exceptions.ResourceNotFoundException):
            awslambda.get_function_configuration(FunctionName="nowhere")
        s3.create_bucket(Bucket=BUCKET)  # saved with the Lambda backend in the state
    with MotoServer(state_dir=tmp_path) as aws:
        assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == [BUCKET]
        assert aws.client("lambda").list_functions()["Functions"] == []


def test_large_bodies_are_written_once_as_blobs_and_collected_when_gone(tmp_path: Path) -> None:
    big = bytes(range(256)) * 1024  # 256 KiB
    with MotoServer(state_dir=tmp_path) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="big", Body=big)
        (blob,) = (tmp_path / "blobs").iterdir()
        assert blob.read_bytes() == big
        written = blob.stat().st_mtime_ns
        for index in range(3):
            s3.put_object(Bucket=BUCKET, Key=f"small-{index}", Body=b"s")
        assert [p.stat().st_mtime_ns for p in (tmp_path / "blobs").iterdir()] == [written]  # not rewritten
        assert all(big not in p.read_bytes() for p in tmp_path.glob("s3-*.pickle"))
    with MotoServer(state_dir=tmp_path) as aws:
        s3 = aws.client("s3")
        assert s3.get_object(Bucket=BUCKET, Key="big")["Body"].read() == big
        s3.put_object(Bucket=BUCKET, Key="small-0", Body=b"t")
        assert [p.stat().st_mtime_ns for p in (tmp_path / "blobs").iterdir()] == [written]  # known again
        s3.delete_object(Bucket=BUCKET, Key="big")
        assert list((tmp_path / "blobs").iterdir()) == []


def test_concurrent_requests_share_snapshots_and_each_answer_follows_its_snapshot(tmp_path: Path) -> None:
    with MotoServer(state_dir=tmp_path) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        store = aws.store
        assert store is not None
        before = store.stats.snapshots

        def upload(worker: int) -> None:
            for index in range(25):
                s3.put_object(Bucket=BUCKET, Key=f"{worker}/{index}", Body=b"x")
                assert store._durable >= store._requested - 8

        threads = [threading.Thread(target=upload, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.stats.snapshots - before < 200  # 200 requests, fewer snapshots: grouped
    with MotoServer(state_dir=tmp_path) as aws:
        assert aws.client("s3").list_objects_v2(Bucket=BUCKET)["KeyCount"] == 200


def test_a_long_poll_neither_holds_up_snapshots_nor_misses_a_message(tmp_path: Path) -> None:
    with MotoServer(state_dir=tmp_path) as aws:
        sqs, s3 = aws.client("sqs"), aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        received: list[dict[str, object]] = []
        poller = threading.Thread(
            target=lambda: received.extend(
                sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
            )
        )
        poller.start()
        time.sleep(0.5)
        started = time.monotonic()
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")  # needs a snapshot while the poll waits
        assert time.monotonic() - started < 1.0
        sqs.send_message(QueueUrl=url, MessageBody="late")
        poller.join(10)
        assert [m["Body"] for m in received] == ["late"]
        assert time.monotonic() - started < 2.0  # answered when the message came, not after 5 s


def test_a_failed_save_answers_an_error_not_an_acknowledgement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MotoServer(state_dir=tmp_path) as aws:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)

        def disk_full(path: Path, data: bytes, *, sync_folder: bool) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(snapshots, "write_durably", disk_full)
        with pytest.raises(s3.exceptions.ClientError, match="503"):
            s3.put_object(Bucket=BUCKET, Key="k", Body=b"1")
        monkeypatch.undo()
    with MotoServer(state_dir=tmp_path) as aws:  # what is on disk is the last acknowledged state
        assert aws.client("s3").list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_executions_are_recorded_at_start_and_end_and_restored(tmp_path: Path) -> None:
    journal = ExecutionJournal(tmp_path)
    backend = StepFunctionsBackend()
    backend.recorder = journal
    machine = backend.create_state_machine("m", PASS_MACHINE)
    done = backend.start_execution(machine.arn, name="done", execution_input='{"a": 1}')
    backend.wait_for_execution(done.arn, 10)
    deadline = time.monotonic() + 5
    while journal.records()[0]["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
    # An execution that had started when the stack died: only its start is on disk.
    unfinished = backend.start_execution(machine.arn, name="unfinished", execution_input='{"b": 2}')
    backend.wait_for_execution(unfinished.arn, 10)
    record = json.loads(next(p for p in tmp_path.glob("*.json") if "unfinished" in p.read_text()).read_text())
    record = {
        k: v for k, v in record.items() if k in ("arn", "name", "state_machine_arn", "input", "start_date")
    }
    journal._write({**record, "status": "RUNNING", "start_date": unfinished.start_date})

    restored = StepFunctionsBackend()
    restored.recorder = ExecutionJournal(tmp_path)
    restored.create_state_machine("m", PASS_MACHINE)
    notes = restored.restore(ExecutionJournal(tmp_path).records())
    assert notes == ["unfinished: had not ended when the stack stopped; started again from its input"]
    again = restored.wait_for_execution(unfinished.arn, 10)
    assert (again.status, again.output, again.input) == ("SUCCEEDED", '{"b":2}', '{"b": 2}')
    old = restored.describe_execution(done.arn)
    assert old.describe()["status"] == "SUCCEEDED" and old.output == done.output
    assert [e["type"] for e in restored.get_execution_history(done.arn)[0]] == [
        e["type"] for e in done.events
    ]
    listed, _ = restored.list_executions(machine.arn)
    assert {e.name for e in listed} == {"done", "unfinished"}
    deadline = time.monotonic() + 5
    while {r["status"] for r in ExecutionJournal(tmp_path).records()} != {"SUCCEEDED"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert {r["name"]: r["resumed"] for r in ExecutionJournal(tmp_path).records()} == {
        "done": 0,
        "unfinished": 1,
    }


def test_the_start_is_on_disk_before_start_execution_answers(tmp_path: Path) -> None:
    class Recorder(ExecutionJournal):
        def started(self, execution: Execution, *, resumed: int = 0) -> None:
            super().started(execution, resumed=resumed)
            seen.append(json.loads(self._path(execution.arn).read_text())["status"])

    seen: list[str] = []
    backend = StepFunctionsBackend()
    backend.recorder = Recorder(tmp_path)
    machine = backend.create_state_machine("m", PASS_MACHINE)
    execution = backend.start_execution(machine.arn, name="x")
    assert seen == ["RUNNING"]
    backend.wait_for_execution(execution.arn, 10)


def test_state_folder_lock_fresh_and_a_changed_template(tmp_path: Path) -> None:
    root = tmp_path / "app"
    root.mkdir()
    (root / "template.yaml").write_text("Resources: {}\n")
    state = LocalState(tmp_path / "state")
    with pytest.raises(StateError, match="another `tributary up`"):
        LocalState(tmp_path / "state")
    (state.moto_dir).mkdir()
    (state.moto_dir / MANIFEST).write_text("{}")
    assert state.provisioned(root, "default", lambda: {"made": 1}, restored=False) == {"made": 1}
    assert state.provisioned(root, "default", lambda: {"made": 2}, restored=True) == {"made": 1}
    (root / "template.yaml").write_text("Resources: {X: {}}\n")
    with pytest.raises(StateError, match="changed since the state"):
        state.provisioned(root, "default", lambda: {"made": 3}, restored=True)
    state.close()
    fresh = LocalState(tmp_path / "state", fresh=True)
    assert not fresh.saved and not (fresh.moto_dir / MANIFEST).exists()
    fresh.close()


def test_an_upload_is_answered_once_its_event_is_in_the_ingest_queue(tmp_path: Path) -> None:
    events: dict[str, str] = {}  # key → event id

    def record(event: dict[str, Any]) -> None:
        events.setdefault(event["detail"]["object"]["key"], event["id"])

    unsubscribe = listen_to_s3(record)
    options = StackOptions(FIXTURE_APP, work_dir=tmp_path / "work", state_dir=tmp_path / "state")
    try:
        with LocalStack(options) as stack:
            s3 = stack.aws.client("s3")
            raw = stack.physical_id("RawBucket")
            for index in range(10):
                key = f"incoming/demo/{index}.csv"
                s3.put_object(Bucket=raw, Key=key, Body=b"1")
                # Already delivered when PutObject answers (and the queue saved it before answering).
                delivered = {
                    d.event_id for d in stack.bus.deliveries if d.ok and d.target.endswith("IngestQueue")
                }
                assert events[key] in delivered
    finally:
        unsubscribe()


def test_an_end_is_shown_only_once_it_is_recorded(tmp_path: Path) -> None:
    release = threading.Event()

    class SlowDisk(ExecutionJournal):
        def finished(self, execution: Execution) -> None:
            release.wait(10)
            super().finished(execution)

    backend = StepFunctionsBackend()
    backend.recorder = SlowDisk(tmp_path)
    machine = backend.create_state_machine("m", PASS_MACHINE)
    execution = backend.start_execution(machine.arn, name="x")
    assert execution.run.wait(10)  # the engine is done...
    described = backend.describe_execution(execution.arn).describe()
    assert (described["status"], described["output"], described["stopDate"]) == ("RUNNING", None, None)
    assert [e.name for e in backend.list_executions(machine.arn, status_filter="SUCCEEDED")[0]] == []
    release.set()  # ...and once its end is on disk, it is seen
    assert backend.wait_for_execution(execution.arn, 10).describe()["status"] == "SUCCEEDED"
    assert ExecutionJournal(tmp_path).records()[0]["status"] == "SUCCEEDED"
