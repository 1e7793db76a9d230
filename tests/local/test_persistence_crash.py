"""`tributary up` killed with SIGKILL while clients write to it, then restarted on the same folder:
every acknowledged object version, message (in flight or not), item, catalog partition and execution
is still there, and the executions that had not ended are run again to the end. (The tests' tiny
application: no Spark.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tributary.local.endpoints.moto_server import free_port

from .conftest import FIXTURE_APP

pytestmark = pytest.mark.slow


class Stack:
    """`tributary up` in a process group of its own (Lambda workers included), on fixed ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = [free_port() for _ in range(5)]
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / "up.log"

    def start(self) -> dict[str, Any]:
        (self.root / ".tributary" / "stack.json").unlink(missing_ok=True)  # left by a killed stack
        moto, states, athena, glue, endpoint = self.ports
        command = [sys.executable, "-m", "tributary", "up", "--root", str(self.root), "--batch-window", "0.2"]
        command += ["--moto-port", str(moto), "--states-port", str(states), "--port", str(endpoint)]
        command += ["--athena-port", str(athena), "--glue-port", str(glue)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        info = self.root / ".tributary" / "stack.json"
        while not info.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"tributary up did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        return dict(json.loads(info.read_text()))

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)  # the stack and its workers die at once
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _client(service: str, url: str) -> Any:
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=30),
    )


class Workload:
    """Clients writing to the stack; only what was acknowledged is recorded as such."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.stop = threading.Event()
        self.objects: list[tuple[str, str, bytes]] = []  # key, version id, body
        self.sent: dict[str, str] = {}  # message id → body (acknowledged)
        self.attempted_bodies: set[str] = set()
        self.deleted: set[str] = set()  # bodies whose deletion was acknowledged
        self.deleting: set[str] = set()  # bodies whose deletion was attempted
        self.items: list[str] = []
        self.partitions: list[str] = []
        self.executions: list[str] = []
        self.errors: list[str] = []

    def run(self) -> list[threading.Thread]:
        workers = [self._objects, self._messages, self._items, self._partitions, self._executions]
        threads = [threading.Thread(target=self._guard, args=(w,), daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        return threads

    def _guard(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:  # the stack died under the request: nothing more is acknowledged
            self.errors.append(f"{work.__name__}: {type(exc).__name__}")

    def _objects(self) -> None:
        s3 = _client("s3", self.info["moto_url"])
        index = 0
        while not self.stop.is_set():
            key = f"incoming/demo/file-{index % 40}.csv"  # keys come back: several versions each
            body = f"body {index}".encode()
            response = s3.put_object(Bucket=self.info["raw_bucket"], Key=key, Body=body)
            self.objects.append((key, response["VersionId"], body))
            index += 1

    def _messages(self) -> None:
        sqs = _client("sqs", self.info["moto_url"])
        url = sqs.create_queue(QueueName="crash-test", Attributes={"VisibilityTimeout": "3"})["QueueUrl"]
        index = 0
        while not self.stop.is_set():
            body = f"message {index}"
            self.attempted_bodies.add(body)
            self.sent[sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"]] = body
            if index % 3 == 2:  # some received and left in flight, some deleted
                for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2).get("Messages", []):
                    if int(message["Body"].split()[1]) % 2 == 0:
                        self.deleting.add(message["Body"])
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                        self.deleted.add(message["Body"])
            index += 1

    def _items(self) -> None:
        dynamodb = _client("dynamodb", self.info["moto_url"])
        index = 0
        while not self.stop.is_set():
            run_id = f"crash-{index}"
            dynamodb.put_item(
                TableName=self.info["runs_table"], Item={"run_id": {"S": run_id}, "status": {"S": "TEST"}}
            )
            self.items.append(run_id)
            index += 1

    def _partitions(self) -> None:
        glue = _client("glue", self.info["moto_url"])
        database = self.info["glue_database"] or "crash_db"
        if not self.info["glue_database"]:
            glue.create_database(DatabaseInput={"Name": database})
        glue.create_table(
            DatabaseName=database,
            TableInput={"Name": "crash", "PartitionKeys": [{"Name": "n", "Type": "string"}]},
        )
        self.info["glue_database"] = database
        index = 0
        while not self.stop.is_set():
            glue.create_partition(
                DatabaseName=database, TableName="crash", PartitionInput={"Values": [str(index)]}
            )
            self.partitions.append(str(index))
            index += 1
            time.sleep(0.01)

    def _executions(self) -> None:
        sfn = _client("stepfunctions", self.info["states_url"])
        index = 0
        while not self.stop.is_set():
            name = f"crash-{index}"
            payload = {"action": "sleep", "seconds": 1.5, "name": name}
            response = sfn.start_execution(
                stateMachineArn=self.machine_arn, name=name, input=json.dumps(payload)
            )
            self.executions.append(response["executionArn"])
            index += 1
            time.sleep(0.2)

    @property
    def machine_arn(self) -> str:
        return str(self.info["state_machine_arn"])


def test_a_stack_killed_mid_writes_keeps_everything_it_acknowledged(tmp_path: Path) -> None:
    root = tmp_path / "app"
    shutil.copytree(FIXTURE_APP, root, ignore=shutil.ignore_patterns(".tributary", ".aws-sam"))
    stack = Stack(root)
    try:
        info = stack.start()
        work = Workload(info)
        threads = work.run()
        deadline = time.monotonic() + 60
        # The bad moment: every client has requests in flight, some executions have not ended.
        while (
            min(len(work.objects), len(work.sent), len(work.items), len(work.partitions)) < 40
            or len(work.executions) < 8
        ):
            assert time.monotonic() < deadline, (work.errors, stack.log.read_text()[-2000:])
            time.sleep(0.05)
        stack.kill()
        work.stop.set()
        for thread in threads:
            thread.join(30)
        cut_off = {error.split(":")[0] for error in work.errors}
        assert {"_objects", "_messages", "_items"} <= cut_off, work.errors  # killed under their requests

        info = stack.start()
        s3 = _client("s3", info["moto_url"])
        for key, version, body in work.objects:
            assert s3.get_object(Bucket=info["raw_bucket"], Key=key, VersionId=version)["Body"].read() == body

        sqs = _client("sqs", info["moto_url"])
        url = sqs.get_queue_url(QueueName="crash-test")["QueueUrl"]
        received: set[str] = set()
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 5:  # in-flight messages come back after 3 s
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in messages.get("Messages", []):
                received.add(message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                quiet_since = time.monotonic()
        expected = set(work.sent.values()) - work.deleting
        assert expected <= received, sorted(expected - received)[:10]
        assert received <= work.attempted_bodies - work.deleted

        dynamodb = _client("dynamodb", info["moto_url"])
        for run_id in work.items:
            assert "Item" in dynamodb.get_item(TableName=info["runs_table"], Key={"run_id": {"S": run_id}})

        glue = _client("glue", info["moto_url"])
        values = {
            p["Values"][0]
            for page in glue.get_paginator("get_partitions").paginate(
                DatabaseName=work.info["glue_database"], TableName="crash"
            )
            for p in page["Partitions"]
        }
        assert set(work.partitions) <= values

        sfn = _client("stepfunctions", info["states_url"])
        deadline = time.monotonic() + 60
        statuses = {}
        for arn in work.executions:
            while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
                assert time.monotonic() < deadline, arn
                time.sleep(0.2)
            statuses[arn] = status
        assert set(statuses.values()) == {"SUCCEEDED"}, statuses
        log = stack.log.read_text()
        assert "had not ended when the stack stopped; started again" in log  # some were resumed
    finally:
        stack.stop()
