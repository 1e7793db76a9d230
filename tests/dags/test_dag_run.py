"""The MWAA DAG run for real: `dag.test()` in the Airflow environment (.venv-airflow, `make airflow`)
against `tributary up`, through the Airflow AWS connection pointed at the stack's one endpoint.

The raw bucket's EventBridge notifications are turned off before the samples are uploaded, as for
objects that arrived while the upload path was off: no run exists until the DAG starts one. Then:
a scheduled batch of one dataset (its data interval holds the uploads), a backfill of both datasets
(only the other one is left to run), and a backfill of a file the contract refuses (the run fails,
and so does the DAG run, after reading the failed run's record).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from etl_common.aws import reset_clients
from trigger.claims import ObjectClaims

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = REPO / ".venv-airflow" / "bin" / "python"
RUNNER = Path(__file__).with_name("run_dag.py")
ORDERS = REPO / "events" / "data" / "orders-sample.csv"
CLICKS = REPO / "events" / "data" / "clicks-sample.jsonl"
RESULT_MARK = "DAG-RESULT "

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow_dag")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    """The Airflow environment, installed by `make airflow` if it is not (idempotent)."""
    subprocess.run(["make", "--no-print-directory", "airflow"], cwd=REPO, check=True, timeout=900)
    assert AIRFLOW_PYTHON.exists()
    return AIRFLOW_PYTHON


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`tributary up` on this project, in a process group of its own, on free ports; its state and its
    stack.json in a temporary folder."""
    root = tmp_path_factory.mktemp("up")
    moto, states, athena, glue, endpoint = (_free_port() for _ in range(5))
    command = [
        sys.executable,
        "-m",
        "tributary",
        "up",
        "--root",
        str(root),
        "-t",
        str(REPO / "template.yaml"),
    ]
    command += ["--config-file", str(REPO / "samconfig.toml"), "--ephemeral", "--batch-window", "0.2"]
    command += ["--port", str(endpoint), "--moto-port", str(moto), "--states-port", str(states)]
    command += ["--athena-port", str(athena), "--glue-port", str(glue)]
    log = root / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True)
    try:
        info_file = root / ".tributary" / "stack.json"
        deadline = time.monotonic() + 180
        while not info_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"tributary up did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        info = dict(json.loads(info_file.read_text()))
        assert info["endpoint_url"] == f"http://127.0.0.1:{endpoint}"
        yield info
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _client(stack: dict[str, Any], service: str) -> Any:
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=stack["endpoint_url"],
        region_name=stack["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2}),
    )


def _table_keyed_by(stack: dict[str, Any], *keys: str) -> str:
    """The table with this key schema (stack.json names the runs table only)."""
    dynamodb = _client(stack, "dynamodb")
    for name in dynamodb.list_tables()["TableNames"]:
        schema = {
            key["AttributeName"] for key in dynamodb.describe_table(TableName=name)["Table"]["KeySchema"]
        }
        if schema == set(keys):
            return str(name)
    raise AssertionError(f"the stack has no table keyed by {keys}")


@pytest.fixture
def trigger_claims(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[ObjectClaims]:
    """The trigger's claims on object versions, in the stack's idempotency table."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack["endpoint_url"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", stack["region"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reset_clients()
    yield ObjectClaims(_table_keyed_by(stack, "id"), ttl_seconds=7 * 24 * 3600)
    reset_clients()


@pytest.fixture(scope="module")
def airflow(airflow_python: Path, stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Runs the DAG once with dag.test(); returns its outcome (state, task states, run records, log)."""
    home = tmp_path_factory.mktemp("airflow-home")
    outputs = {
        "PipelineStateMachineArn": stack["state_machine_arn"],
        "RawBucketName": stack["raw_bucket"],
        "ArtifactsBucketName": stack["artifacts_bucket"],
        "RunsTableName": stack["runs_table"],
        "LineageTableName": _table_keyed_by(stack, "object_id", "run_id"),
        "IdempotencyTableName": _table_keyed_by(stack, "id"),
    }
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": stack["region"], "endpoint_url": stack["endpoint_url"]},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRFLOW", "TRIBUTARY_"))}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AIRFLOW_VAR_TRIBUTARY_STACK": json.dumps(outputs),
        "AWS_EC2_METADATA_DISABLED": "true",
        "TRIBUTARY_POKE_SECONDS": "1",
    }
    migrate = [str(airflow_python), "-m", "airflow", "db", "migrate"]
    done = subprocess.run(migrate, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    def run(logical_date: datetime, conf: dict[str, Any]) -> dict[str, Any]:
        command = [str(airflow_python), str(RUNNER), "--dags-folder", str(REPO / "dags")]
        command += ["--logical-date", logical_date.isoformat(), "--conf", json.dumps(conf)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        output = done.stdout + done.stderr
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
        assert done.returncode == 0 and lines, output[-5000:]
        return {**json.loads(lines[-1].removeprefix(RESULT_MARK)), "log": output}

    return run


def _upload(stack: dict[str, Any], path: Path, key: str, body: bytes | None = None) -> str:
    """Upload; return the version's object id."""
    s3 = _client(stack, "s3")
    put = s3.put_object(
        Bucket=stack["raw_bucket"], Key=key, Body=body if body is not None else path.read_bytes()
    )
    return f"s3://{stack['raw_bucket']}/{key}#{put['VersionId']}"


def _executions(stack: dict[str, Any]) -> dict[str, str]:
    listed = _client(stack, "stepfunctions").list_executions(stateMachineArn=stack["state_machine_arn"])
    return {execution["name"]: execution["status"] for execution in listed["executions"]}


def _manifest(stack: dict[str, Any], run_id: str) -> dict[str, Any]:
    body = _client(stack, "s3").get_object(
        Bucket=stack["artifacts_bucket"], Key=f"runs/{run_id}/manifest.json"
    )
    return dict(json.loads(body["Body"].read()))


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time")
def test_a_batch_and_a_backfill_start_the_state_machine_and_read_their_run_records(
    stack: dict[str, Any], airflow: Any, trigger_claims: ObjectClaims
) -> None:
    s3 = _client(stack, "s3")
    # Objects that arrived while the upload path was off: nothing runs them but the DAG.
    s3.put_bucket_notification_configuration(Bucket=stack["raw_bucket"], NotificationConfiguration={})
    orders_version = _upload(stack, ORDERS, "incoming/orders/2026/orders-sample.csv")
    _upload(stack, CLICKS, "incoming/clicks/clicks-sample.jsonl")
    now = datetime.now(UTC)

    # 1. The scheduled batch: the @daily interval that holds the uploads ([today, tomorrow)), orders only.
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    batch = airflow(tomorrow, {"datasets": ["orders"]})
    assert batch["state"] == "success", batch["log"][-5000:]
    assert batch["data_interval"][0].startswith(str(now.date()))
    assert batch["tasks"] == {
        "plan_runs": ["success"],
        "start_execution": ["success"],
        "wait_for_execution": ["success"],
        "read_run_records": ["success"],
    }
    (orders,) = batch["records"]
    assert orders["dataset"] == "orders" and orders["status"] == "SUCCEEDED"
    assert orders["object_count"] == 1 and orders["transform_path"] == "lite"
    assert orders["rows_read"] == 50 and orders["rows_written"] > 0
    assert orders["rows_read"] == orders["rows_written"] + orders["rows_rejected"]
    assert _executions(stack) == {orders["run_id"]: "SUCCEEDED"}
    assert orders["execution_arn"].endswith(":" + orders["run_id"])
    manifest = _manifest(stack, orders["run_id"])
    assert [obj["key"] for obj in manifest["objects"]] == ["incoming/orders/2026/orders-sample.csv"]
    assert manifest["objects"][0]["trigger"]["kind"] == "sweep"
    assert manifest["objects"][0]["trigger"]["principal"] == "airflow:tributary_batch"

    # 2. A backfill of both datasets over dates: the orders version has a run, only clicks is left.
    backfill = airflow(
        tomorrow + timedelta(days=1),
        {
            "datasets": ["orders", "clicks"],
            "start": str(now.date()),
            "end": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert backfill["state"] == "success", backfill["log"][-5000:]
    (clicks,) = backfill["records"]
    assert clicks["dataset"] == "clicks" and clicks["status"] == "SUCCEEDED" and clicks["rows_written"] > 0
    assert _executions(stack) == {orders["run_id"]: "SUCCEEDED", clicks["run_id"]: "SUCCEEDED"}
    assert _manifest(stack, clicks["run_id"])["objects"][0]["trigger"]["kind"] == "backfill"
    assert "orders: 1 object versions in" in backfill["log"] and "1 already taken by a run" in backfill["log"]

    # The DAG claimed the versions it ran, as the trigger does: a late upload event would start nothing.
    assert trigger_claims.claim(orders_version, "orders-late-event") == orders["run_id"]

    # 3. A file the contract refuses: its run fails, the DAG run fails after reading that run's record.
    #    Beside it, a version whose upload event the trigger has just claimed: the DAG leaves it out.
    _upload(stack, ORDERS, "incoming/orders/2026/broken.csv", b"not,the,header\n1,2,3\n")
    claimed = _upload(stack, ORDERS, "incoming/orders/2026/claimed-by-the-trigger.csv")
    assert trigger_claims.claim(claimed, "orders-trigger-run") == "orders-trigger-run"
    failed = airflow(tomorrow + timedelta(days=2), {"datasets": ["orders"], "start": str(now.date())})
    assert failed["state"] == "failed"
    assert failed["tasks"] == {
        "plan_runs": ["success"],
        "start_execution": ["success"],
        "wait_for_execution": ["failed"],
        "read_run_records": ["failed"],
    }
    executions = _executions(stack)
    (broken,) = set(executions) - {orders["run_id"], clicks["run_id"]}
    assert executions[broken] == "FAILED"
    record = _client(stack, "dynamodb").get_item(
        TableName=stack["runs_table"], Key={"run_id": {"S": broken}}, ConsistentRead=True
    )["Item"]
    assert record["status"]["S"] in {"FAILED", "QUARANTINED"}
    assert record["error"]["S"] == "Tributary.NoObjectAccepted"
    assert [obj["key"] for obj in _manifest(stack, broken)["objects"]] == ["incoming/orders/2026/broken.csv"]
    assert f"{claimed} is claimed by run 'orders-trigger-run': left to it" in failed["log"]
    assert f"runs not SUCCEEDED: {{'{broken}': '{record['status']['S']}'}}" in failed["log"]
    assert "Tributary.NoObjectAccepted" in failed["log"]  # the run record's error, in the DAG's log

    # 4. A start that fails (here: a state machine that does not exist) leaves the run QUEUED with its
    #    manifest; the next DAG run starts that same run rather than planning its versions again.
    _upload(stack, CLICKS, "incoming/clicks/late/clicks-sample.jsonl")
    missing = stack["state_machine_arn"].rsplit(":", 1)[0] + ":missing"
    unstarted = airflow(
        tomorrow + timedelta(days=3),
        {"datasets": ["clicks"], "start": str(now.date()), "state_machine_arn": missing},
    )
    assert unstarted["state"] == "failed"
    assert unstarted["tasks"]["start_execution"] == ["failed"]
    assert unstarted["tasks"]["read_run_records"] == ["failed"]
    (queued,) = set(_queued_runs(stack)) - set(executions)
    assert f"runs not SUCCEEDED: {{'{queued}': 'QUEUED'}}" in unstarted["log"]
    assert set(_executions(stack)) == set(executions)

    resumed = airflow(
        tomorrow + timedelta(days=4),
        {"datasets": ["clicks"], "start": str(now.date()), "resume_queued_after_minutes": 0},
    )
    assert resumed["state"] == "success", resumed["log"][-5000:]
    (late,) = resumed["records"]
    assert late["run_id"] == queued and late["status"] == "SUCCEEDED" and late["object_count"] == 1
    assert f"run {queued} was queued but never started: starting it" in resumed["log"]
    assert "clicks: 2 object versions in" in resumed["log"] and "0 run(s) to start" in resumed["log"]
    assert _executions(stack)[queued] == "SUCCEEDED"
    assert len(_executions(stack)) == 4


def _queued_runs(stack: dict[str, Any]) -> list[str]:
    items = _client(stack, "dynamodb").scan(TableName=stack["runs_table"])["Items"]
    return [item["run_id"]["S"] for item in items if item["status"]["S"] == "QUEUED"]
