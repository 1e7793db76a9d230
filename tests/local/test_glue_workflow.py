"""Glue Workflows on the local stack (tributary.local.runtimes.glue_workflows) and the variant's job
scripts (glue/workflow/), without Spark: batching of the EVENT trigger by size and by window, the run
properties a run starts with, the conditional trigger, run status and statistics; the publish step's
partitions in moto's catalog; the transform step taking only its own batch's events from the queue."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning.resources import Resource
from tributary.local.runtimes.glue_runtime import GlueError
from tributary.local.runtimes.glue_workflows import GlueWorkflows

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = "wf"
ARN = f"arn:aws:glue:us-east-1:123456789012:workflow/{WORKFLOW}"


@dataclass
class _Ended:
    state: str


@dataclass
class FakeGlue:
    """The Glue runtime's start_job_run/wait: each job ends at once in the state `outcomes` gives it."""

    outcomes: dict[str, str] = field(default_factory=dict)
    started: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def start_job_run(self, JobName: str, Arguments: dict[str, str]) -> dict[str, str]:
        self.started.append((JobName, Arguments))
        return {"JobRunId": f"jr_{len(self.started)}_{JobName}"}

    def wait(self, run_id: str) -> _Ended:
        return _Ended(self.outcomes.get(run_id.split("_", 2)[2], "SUCCEEDED"))


def _workflows(
    moto: MotoServer, glue: FakeGlue, batch_size: int, window: int, cap: float | None = None
) -> GlueWorkflows:
    moto.client("glue").create_workflow(Name=WORKFLOW, MaxConcurrentRuns=1)
    triggers = [
        Resource(
            "Start",
            "AWS::Glue::Trigger",
            "start",
            properties={
                "WorkflowName": WORKFLOW,
                "Type": "EVENT",
                "EventBatchingCondition": {"BatchSize": batch_size, "BatchWindow": window},
                "Actions": [{"JobName": "transform"}],
            },
        ),
        Resource(
            "Then",
            "AWS::Glue::Trigger",
            "then",
            properties={
                "WorkflowName": WORKFLOW,
                "Type": "CONDITIONAL",
                "Predicate": {
                    "Conditions": [
                        {"LogicalOperator": "EQUALS", "JobName": "transform", "State": "SUCCEEDED"}
                    ]
                },
                "Actions": [{"JobName": "publish"}],
            },
        ),
    ]
    workflow = Resource("Workflow", "AWS::Glue::Workflow", WORKFLOW, properties={"MaxConcurrentRuns": 1})
    return GlueWorkflows([workflow], triggers, glue, moto.client("glue"), window_cap=cap)


def _event(event_id: str) -> str:
    return json.dumps({"id": event_id, "source": "aws.s3", "detail-type": "Object Created"})


def _only_run(workflows: GlueWorkflows, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not workflows.runs and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(workflows.runs) == 1, workflows.runs
    run = workflows.wait(next(iter(workflows.runs)), timeout)
    return workflows.get_workflow_run(Name=WORKFLOW, RunId=run.run_id)["Run"]


def test_a_full_batch_starts_one_run_with_its_event_ids(moto_server: MotoServer) -> None:
    glue = FakeGlue()
    workflows = _workflows(moto_server, glue, batch_size=2, window=900)
    workflows.notify_event(ARN, _event("e1"))
    time.sleep(0.2)
    assert workflows.runs == {}  # one event of two: the batch waits
    workflows.notify_event(ARN, _event("e2"))
    run = _only_run(workflows)
    assert run["Status"] == "COMPLETED" and "CompletedOn" in run
    assert json.loads(run["WorkflowRunProperties"]["aws:eventIds"]) == ["e1", "e2"]
    assert run["StartingEventBatchCondition"] == {"BatchSize": 2, "BatchWindow": 900}
    assert run["Statistics"]["SucceededActions"] == 2 and run["Statistics"]["TotalActions"] == 2
    # the jobs ran in order, each told its workflow run (Glue's --WORKFLOW_NAME / --WORKFLOW_RUN_ID)
    assert [name for name, _ in glue.started] == ["transform", "publish"]
    assert all(
        args == {"--WORKFLOW_NAME": WORKFLOW, "--WORKFLOW_RUN_ID": run["WorkflowRunId"]}
        for _, args in glue.started
    )
    # what `tributary up` prints of it
    progress = "\n".join(workflows.progress)
    assert "wf: 2 event(s), batch size reached" in progress
    assert f"run {run['WorkflowRunId']}: job publish SUCCEEDED" in progress
    assert f"run {run['WorkflowRunId']} COMPLETED in" in progress and "succeeded 2" in progress
    # the run properties are moto's: what a job puts there is read back
    moto_server.client("glue").put_workflow_run_properties(
        Name=WORKFLOW, RunId=run["WorkflowRunId"], RunProperties={"k": "v"}
    )
    again = workflows.get_workflow_runs(Name=WORKFLOW)["Runs"][0]
    assert again["WorkflowRunProperties"]["k"] == "v"
    workflows.close()


def test_the_window_starts_a_partial_batch(moto_server: MotoServer) -> None:
    workflows = _workflows(moto_server, FakeGlue(), batch_size=100, window=600, cap=0.3)
    started = time.monotonic()
    workflows.notify_event(ARN, _event("only"))
    run = _only_run(workflows)
    assert time.monotonic() - started >= 0.3
    assert json.loads(run["WorkflowRunProperties"]["aws:eventIds"]) == ["only"]
    assert run["StartingEventBatchCondition"]["BatchSize"] == 1
    workflows.close()


def test_a_failed_job_stops_the_chain_and_is_counted(moto_server: MotoServer) -> None:
    glue = FakeGlue(outcomes={"transform": "FAILED"})
    workflows = _workflows(moto_server, glue, batch_size=1, window=900)
    workflows.notify_event(ARN, _event("e1"))
    run = _only_run(workflows)
    assert [name for name, _ in glue.started] == ["transform"]  # publish's predicate never held
    assert run["Status"] == "COMPLETED"  # as on AWS: the run completes, its statistics tell
    assert run["Statistics"]["FailedActions"] == 1 and run["Statistics"]["SucceededActions"] == 0
    workflows.close()


def test_unknown_workflow_and_on_demand_start(moto_server: MotoServer) -> None:
    workflows = _workflows(moto_server, FakeGlue(), batch_size=5, window=900)
    with pytest.raises(GlueError, match="not found"):
        workflows.notify_event(ARN.replace(WORKFLOW, "other"), _event("x"))
    run_id = workflows.start_workflow_run(Name=WORKFLOW, RunProperties={"p": "1"})["RunId"]
    workflows.wait(run_id, 10)
    run = workflows.get_workflow_run(Name=WORKFLOW, RunId=run_id)["Run"]
    assert run["Status"] == "COMPLETED" and "StartingEventBatchCondition" not in run
    with pytest.raises(GlueError):
        workflows.get_workflow_run(Name=WORKFLOW, RunId="wr_nope")
    workflows.close()


# -- the job scripts ------------------------------------------------------------------------------------
@pytest.fixture
def scripts() -> Any:
    sys.path.insert(0, str(REPO / "glue" / "workflow"))
    try:
        yield importlib.import_module("publish"), importlib.import_module("transform_step")
    finally:
        sys.path.remove(str(REPO / "glue" / "workflow"))


def test_publish_registers_exactly_the_runs_partitions_once(moto_server: MotoServer, scripts: Any) -> None:
    publish, _ = scripts
    glue, s3 = moto_server.client("glue"), moto_server.client("s3")
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_workflow(Name=WORKFLOW)
    s3.create_bucket(Bucket="art")
    table = {
        "Name": "orders",
        "PartitionKeys": [{"Name": "order_date", "Type": "string"}, {"Name": "run_id", "Type": "string"}],
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}], "Location": "s3://cur/orders/"},
    }
    partitions = [
        {
            "values": {"order_date": day, "run_id": "r1"},
            "location": f"s3://cur/orders/order_date={day}/run_id=r1/",
        }
        for day in ("2026-01-01", "2026-01-02")
    ]
    s3.put_object(Bucket="art", Key="runs/r1/table-input.json", Body=json.dumps(table))
    s3.put_object(Bucket="art", Key="runs/r1/result.json", Body=json.dumps({"partitions": partitions}))
    runs = [
        {
            "run_id": "r1",
            "accepted": "1",
            "table_input_uri": "s3://art/runs/r1/table-input.json",
            "result_uri": "s3://art/runs/r1/result.json",
        }
    ]
    run_id = glue.start_workflow_run(Name=WORKFLOW, RunProperties={"tributary:runs": json.dumps(runs)})[
        "RunId"
    ]
    argv = [
        "--WORKFLOW_NAME",
        WORKFLOW,
        "--WORKFLOW_RUN_ID",
        run_id,
        "--database",
        "db",
        "--job-bookmark-option",
        "x",
    ]
    for _ in range(2):  # a batch published again adds nothing and fails nothing
        assert publish.main(argv, clients=moto_server.client) == 0
    got = glue.get_partitions(DatabaseName="db", TableName="orders")["Partitions"]
    assert sorted((tuple(p["Values"]), p["StorageDescriptor"]["Location"]) for p in got) == [
        (("2026-01-01", "r1"), "s3://cur/orders/order_date=2026-01-01/run_id=r1/"),
        (("2026-01-02", "r1"), "s3://cur/orders/order_date=2026-01-02/run_id=r1/"),
    ]


def test_publish_fails_on_a_refused_partition(moto_server: MotoServer, scripts: Any) -> None:
    publish, _ = scripts

    class Refusing:
        def batch_create_partition(self, **_: Any) -> dict[str, Any]:
            return {
                "Errors": [
                    {
                        "PartitionValues": ["x"],
                        "ErrorDetail": {"ErrorCode": "InvalidInputException", "ErrorMessage": "no"},
                    }
                ]
            }

    with pytest.raises(RuntimeError, match="refused 1 partitions"):
        publish.register(Refusing(), "db", "t", [{"Values": ["x"]}])


def test_the_transform_step_takes_only_its_batch(moto_server: MotoServer, scripts: Any) -> None:
    _, step = scripts
    sqs = moto_server.client("sqs")
    url = sqs.create_queue(QueueName="events")["QueueUrl"]
    for event_id in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": event_id}))
    events, handles, missing = step.take_batch(sqs, url, ["a", "c", "gone"])
    assert sorted(e["id"] for e in events) == ["a", "c"] and len(handles) == 2
    assert missing == {"gone"}
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["id"] for m in left] == ["b"]  # another batch's event is visible again
    assert step.batch_event_ids({"aws:eventIds": '["a","b"]'}) == ["a", "b"]
    assert step.batch_event_ids({"aws:eventIds": "[a, b]"}) == ["a", "b"]
    assert step.batch_event_ids({}) == []


def test_threads_do_not_leak(moto_server: MotoServer) -> None:
    before = threading.active_count()
    workflows = _workflows(moto_server, FakeGlue(), batch_size=10, window=600, cap=30)
    workflows.notify_event(ARN, _event("e"))
    workflows.close()  # a pending window is cancelled: no run starts after the stack stopped
    time.sleep(0.1)
    assert workflows.runs == {} and threading.active_count() <= before


def _step_setup(moto: MotoServer) -> tuple[str, str, list[str]]:
    glue, sqs = moto.client("glue"), moto.client("sqs")
    glue.create_workflow(Name=WORKFLOW)
    url = sqs.create_queue(QueueName="wf-events", Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
    for event_id in ("e1", "e2"):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": event_id}))
    run_id = glue.start_workflow_run(Name=WORKFLOW, RunProperties={"aws:eventIds": '["e1","e2"]'})["RunId"]
    argv = ["--WORKFLOW_NAME", WORKFLOW, "--WORKFLOW_RUN_ID", run_id, "--events_queue_url", url]
    return url, run_id, argv


def _queue_counts(moto: MotoServer, url: str) -> tuple[int, int]:
    attributes = moto.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_failed_transform_step_leaves_its_batch_in_the_queue(
    moto_server: MotoServer, scripts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, step = scripts
    url, run_id, argv = _step_setup(moto_server)
    seen: list[list[str]] = []

    def prepared(events: list[dict[str, Any]], args: dict[str, str], s3: Any) -> list[dict[str, str]]:
        seen.append(sorted(e["id"] for e in events))
        return []

    def fails(runs: Any, prefix: str, s3: Any) -> None:
        raise RuntimeError("injected: the Spark job died")

    monkeypatch.setattr(step, "prepare_runs", prepared)
    monkeypatch.setattr(step, "run_transforms", fails)
    with pytest.raises(RuntimeError, match="injected"):
        step.main(argv, clients=moto_server.client)
    assert seen == [["e1", "e2"]]
    assert _queue_counts(moto_server, url) == (0, 2)  # hidden for the visibility timeout, not deleted
    properties = moto_server.client("glue").get_workflow_run_properties(Name=WORKFLOW, RunId=run_id)
    assert "tributary:runs" not in properties["RunProperties"]  # so the publish step would register nothing


def test_a_succeeded_transform_step_deletes_its_batch_and_records_its_runs(
    moto_server: MotoServer, scripts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, step = scripts
    url, run_id, argv = _step_setup(moto_server)
    run = {
        "run_id": "orders-1",
        "dataset": "orders",
        "accepted": "1",
        "rejected": "0",
        "result_uri": "s3://a/runs/orders-1/result.json",
        "table_input_uri": "s3://a/runs/orders-1/table-input.json",
    }
    monkeypatch.setattr(step, "prepare_runs", lambda events, args, s3: [run])
    monkeypatch.setattr(step, "run_transforms", lambda runs, prefix, s3: None)
    assert step.main(argv, clients=moto_server.client) == 0
    assert _queue_counts(moto_server, url) == (0, 0)
    properties = moto_server.client("glue").get_workflow_run_properties(Name=WORKFLOW, RunId=run_id)
    assert json.loads(properties["RunProperties"]["tributary:runs"]) == [run]
    assert json.loads(properties["RunProperties"]["tributary:missingEventIds"]) == []


def test_the_libraries_package_imports_from_its_zip(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "glue" / "workflow"))
    try:
        package = importlib.import_module("package")
    finally:
        sys.path.remove(str(REPO / "glue" / "workflow"))
    out = tmp_path / "libs"
    assert package.main(["--out", str(out)]) == 0
    names = set(zipfile.ZipFile(out / "functions.zip").namelist())
    assert {"etl_common/s3_uri.py", "validate/logic.py", "trigger/logic.py", "catalog/table.py"} <= names
    assert (out / "transform.py").is_file() and (out / "workflow_common.py").is_file()
    assert sorted(p.name for p in (out / "contracts").iterdir()) == sorted(
        p.name for p in (REPO / "contracts").glob("*.yaml")
    )
    # importable from the zip alone, as Glue's --extra-py-files puts it on sys.path
    zipped = str(out / "functions.zip")
    probe = f"import sys; sys.path[:0] = [{zipped!r}]; import etl_common.s3_uri as m; print(m.__file__)"
    printed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert "functions.zip" in printed.stdout
    with pytest.raises(SystemExit):
        package.main(["--out", str(out), "--upload", "s3://no-trailing-slash"])


def test_provisioning_creates_workflows_and_triggers_without_the_runtime(tmp_path: Path) -> None:
    """The Workflow and Trigger creators are provisioning's, as every resource creator is: provisioning
    alone knows the two types (the runtime, which emulates their runs, is not even imported)."""
    probe = (
        "import sys\n"
        "from tributary.local.provisioning import resources\n"
        "types = ('AWS::Glue::Workflow', 'AWS::Glue::Trigger')\n"
        "print([resources.CREATORS[t].__module__ for t in types])\n"
        "print('tributary.local.runtimes.glue_workflows' in sys.modules)\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout.split("\n")
    creator = "tributary.local.provisioning.glue_workflow_resources"
    assert printed[:2] == [str([creator, creator]), "False"]
