from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import provision
from tributary.local.runtimes.glue_runtime import GlueError, GlueRuntime, JobConfig, job_configs

from .conftest import FIXTURE_APP

REPO = Path(__file__).resolve().parents[2]


RUNTIMES: list[GlueRuntime] = []


@pytest.fixture(autouse=True)
def _close_runtimes() -> Iterator[None]:
    yield
    while RUNTIMES:  # their warm workers (and JVMs) end with the test
        RUNTIMES.pop().close()


def _runtime(aws: MotoServer, tmp_path: Path, seconds_per_minute: float = 60.0, **job: object) -> GlueRuntime:
    config = JobConfig(
        name="job",
        script="job/script.py",
        default_arguments={"--bucket": "+x", "--job-language": "python"},
        **job,  # type: ignore[arg-type]
    )
    runtime = GlueRuntime(
        [config], aws.client, aws.env(), FIXTURE_APP, tmp_path, seconds_per_minute=seconds_per_minute
    )
    RUNTIMES.append(runtime)
    return runtime


@pytest.fixture
def data(moto_server: MotoServer) -> Iterator[MotoServer]:
    s3 = moto_server.client("s3")
    for bucket in ("raw-local", "out-local"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket="raw-local", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="raw-local", Key="incoming/a b/é.csv", Body=b"first")["VersionId"]
    s3.put_object(Bucket="raw-local", Key="incoming/a b/é.csv", Body=b"second")
    manifest = {"objects": [{"bucket": "raw-local", "key": "incoming/a b/é.csv", "version_id": first}]}
    s3.put_object(Bucket="out-local", Key="runs/r1/manifest.json", Body=json.dumps(manifest).encode())
    s3.put_object(Bucket="out-local", Key="curated/stale.out", Body=b"old")
    yield moto_server


def test_job_run_reads_the_listed_version_and_publishes_writes_and_deletes(
    data: MotoServer, tmp_path: Path
) -> None:
    glue = _runtime(data, tmp_path)
    (tmp_path / "s3" / "out-local" / "curated").mkdir(parents=True)
    (tmp_path / "s3" / "out-local" / "curated" / "stale.out").write_text("old")  # mirrored earlier
    run_id = glue.start_job_run(
        JobName="job",
        Arguments={
            "--manifest_uri": "s3://out-local/runs/r1/manifest.json",
            "--output_uri": "s3://out-local/curated/",
        },
    )["JobRunId"]
    run = glue.wait(run_id, 60)
    described = glue.get_job_run(JobName="job", RunId=run_id)["JobRun"]
    assert described["JobRunState"] == "SUCCEEDED", glue.logs(run_id)
    assert described["Arguments"]["--bucket"] == "+x"
    assert described["Arguments"]["--output_uri"] == "s3://out-local/curated/"
    assert described["CompletedOn"] >= described["StartedOn"]
    assert run.state == "SUCCEEDED"
    s3 = data.client("s3")
    body = s3.get_object(Bucket="out-local", Key="curated/é.csv.out")["Body"].read()
    assert body == b"FIRST+x"  # the manifest's version, not the latest
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="out-local", Prefix="curated/")["Contents"]]
    assert keys == ["curated/é.csv.out"]


def test_failed_run_reports_the_jobs_error(data: MotoServer, tmp_path: Path) -> None:
    glue = _runtime(data, tmp_path)
    run_id = glue.start_job_run(JobName="job", Arguments={"--fail": "bad contract"})["JobRunId"]
    glue.wait(run_id, 60)
    run = glue.get_job_run(JobName="job", RunId=run_id)["JobRun"]
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: bad contract"


def test_max_concurrent_runs_and_stop(data: MotoServer, tmp_path: Path) -> None:
    glue = _runtime(data, tmp_path, max_concurrent_runs=1)
    run_id = glue.start_job_run(JobName="job", Arguments={"--sleep": "30"})["JobRunId"]
    with pytest.raises(GlueError) as refused:
        glue.start_job_run(JobName="job")
    assert refused.value.code == "ConcurrentRunsExceededException"
    stopped = glue.batch_stop_job_run(JobName="job", JobRunIds=[run_id])
    assert stopped["SuccessfulSubmissions"] == [{"JobName": "job", "JobRunId": run_id}]
    assert glue.wait(run_id, 30).state == "STOPPED"
    assert glue.start_job_run(JobName="job", Arguments={"--fail": "x"})["JobRunId"]


def test_timeout_and_unknown_job(data: MotoServer, tmp_path: Path) -> None:
    glue = _runtime(data, tmp_path, seconds_per_minute=1.0)
    run_id = glue.start_job_run(JobName="job", Arguments={"--sleep": "120"}, Timeout=2)["JobRunId"]
    run = glue.wait(run_id, 30)
    assert run.state == "TIMEOUT"
    assert "timed out after 2 minutes" in run.error_message
    with pytest.raises(GlueError, match="EntityNotFoundException"):
        glue.start_job_run(JobName="nope")
    with pytest.raises(GlueError, match="EntityNotFoundException"):
        glue.get_job_run(JobName="job", RunId="jr_nope")


def test_jobs_come_from_the_provisioned_stack(moto_server: MotoServer) -> None:
    stack = provision(FIXTURE_APP / "template.yaml", moto_server)
    (job,) = job_configs(stack)
    assert job == JobConfig(
        name="tiny-Job",
        script="job/script.py",
        default_arguments={"--bucket": "tiny-curatedbucket"},
        max_concurrent_runs=1,
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark")
def test_the_real_glue_script_on_local_spark(moto_server: MotoServer, tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    contract_file = REPO / "contracts" / "orders.yaml"
    if not (REPO / "glue" / "transform.py").exists() or not contract_file.exists():
        pytest.skip("glue/transform.py or contracts/orders.yaml not there yet")
    import yaml

    s3 = moto_server.client("s3")
    for bucket in ("raw-local", "art-local", "cur-local"):
        s3.create_bucket(Bucket=bucket)
    contract = yaml.safe_load(contract_file.read_text())
    header = ",".join(c["name"] for c in contract["columns"])
    sample = REPO / "events" / "data" / "orders-sample.csv"
    body = sample.read_bytes() if sample.exists() else (header + "\n").encode()
    s3.put_object(Bucket="raw-local", Key="incoming/orders/a b é.csv", Body=body)
    manifest = {
        "run_id": "r1",
        "dataset": "orders",
        "objects": [
            {
                "bucket": "raw-local",
                "key": "incoming/orders/a b é.csv",
                "compression": "none",
                "encoding": "utf-8",
                "size": len(body),
            }
        ],
    }
    s3.put_object(Bucket="art-local", Key="runs/r1/validated.json", Body=json.dumps(manifest).encode())
    from etl_common.contracts import load_contract_file
    from etl_common.plan import compile_plan

    plan = compile_plan(load_contract_file(contract_file)).model_dump(mode="json")
    s3.put_object(Bucket="art-local", Key="runs/r1/plan.json", Body=json.dumps(plan).encode())
    glue = GlueRuntime(
        [JobConfig(name="transform", script="glue/transform.py")],
        moto_server.client,
        moto_server.env(),
        REPO,
        tmp_path,
    )
    RUNTIMES.append(glue)
    run_id = glue.start_job_run(
        JobName="transform",
        Arguments={
            "--run_id": "r1",
            "--manifest_uri": "s3://art-local/runs/r1/validated.json",
            "--plan_uri": "s3://art-local/runs/r1/plan.json",
            "--output_uri": "s3://cur-local/orders/",
            "--rejects_uri": "s3://art-local/rejects/orders/run_id=r1/",
            "--result_uri": "s3://art-local/runs/r1/result.json",
        },
    )["JobRunId"]
    run = glue.wait(run_id, 600)
    assert run.state == "SUCCEEDED", glue.logs(run_id)[-3000:]
    result = json.loads(s3.get_object(Bucket="art-local", Key="runs/r1/result.json")["Body"].read())
    assert result["status"] in ("SUCCEEDED", "FAILED")
    for output in result["outputs"]:
        key = output.split("/", 3)[3]
        assert s3.head_object(Bucket="cur-local", Key=key)["ContentLength"] > 0
