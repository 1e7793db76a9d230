"""The job script run the way Glue and the local toolkit run it: as its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import GlueRun, contract_document

SCRIPT = Path(__file__).resolve().parents[2] / "glue" / "transform.py"
SECRET_VALUE = "row-data-must-not-be-logged"


def run_script(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_script_converts_a_run_end_to_end_and_logs_json_without_row_data(glue_run: GlueRun) -> None:
    columns = [{"name": "order_id", "type": "string"}, {"name": "qty", "type": "int"}]
    glue_run.put("incoming/orders/o.csv", f"order_id,qty\no1,1\n{SECRET_VALUE},x\n")
    args = glue_run.args(contract_document(columns))

    finished = run_script(
        "--JOB_ID",
        "j_1",
        "--run_id",
        args.run_id,
        "--manifest_uri",
        args.manifest_uri,
        "--plan_uri",
        args.plan_uri,
        "--output_uri",
        args.output_uri,
        "--rejects_uri",
        args.rejects_uri,
        "--result_uri",
        args.result_uri,
        "--ingest_ts",
        "2026-11-24T10:15:00Z",
        "--spark_path_prefix",
        glue_run.spark_path_prefix,
    )

    assert finished.returncode == 0, finished.stderr[-2000:]
    result = json.loads(Path(args.result_uri).read_text())
    assert (result["rows_written"], result["rows_rejected"]) == (1, 1)
    assert [row["order_id"] for row in glue_run.curated()] == ["o1"]
    assert glue_run.rejects()[0]["raw"] == f"{SECRET_VALUE},x"
    logs = [json.loads(line) for line in finished.stdout.splitlines() if line.strip()]
    assert {entry["message"] for entry in logs} >= {"run started", "run finished"}
    assert all(entry["run_id"] == args.run_id for entry in logs)
    assert SECRET_VALUE not in finished.stdout + finished.stderr


def test_the_script_exits_2_on_missing_arguments() -> None:
    finished = run_script("--run_id", "orders-r1", "--JOB_ID", "j_1")

    assert finished.returncode == 2
    assert "missing required argument(s): --manifest_uri, --plan_uri" in finished.stderr


@pytest.mark.slow
def test_the_script_exits_1_and_logs_the_error_when_the_run_fails(tmp_path: Path) -> None:
    argv = [
        f"--{name}={tmp_path / name}" for name in ("manifest_uri", "plan_uri", "output_uri", "rejects_uri")
    ]
    finished = run_script("--run_id", "orders-r1", *argv, f"--result_uri={tmp_path / 'result.json'}")

    assert finished.returncode == 1
    errors = [json.loads(line) for line in finished.stdout.splitlines() if '"level": "ERROR"' in line]
    assert errors and errors[0]["error"] == "FileNotFoundError" and errors[0]["run_id"] == "orders-r1"
    line = errors[0]["error_message"]
    assert line.startswith("FileNotFoundError: ") and "\n" not in line
    # the process ends with an exception whose message is that one line (Glue's ErrorMessage)
    assert finished.stderr.strip().splitlines()[-1] == f"TransformFailed: {line}"
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "FAILED" and result["error"] == {"type": "FileNotFoundError", "message": line}
