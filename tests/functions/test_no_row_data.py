"""No field value of a file reaches a log line or a reason document (issue 13, item 5).

Every field of the sample files below is a unique marker that looks like a column name (so a rule such
as "names are shown when they look like identifiers" would still leak them). validate and quarantine
run over them in moto; every line they log and every document they write (rejected.json,
validated.json, result documents, each ``.reason.json``) is searched for every marker. The copies
that are the data's quarantine (the refused object copied aside, the staged input) hold the data by
design and are the only objects not searched.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import re
import sys
from typing import Any

import boto3
import pytest

from .conftest import Stack
from .test_transform_lite import RUN_ID as RUN
from .test_transform_lite import stage_run
from .test_validate import ORDERS_HEADER, put_manifest, upload, validate

_counter = itertools.count(1)
MARKER = re.compile(r"mkv[0-9]{4}_secret")


def marker() -> str:
    """A field value no message could hold by chance, shaped like a valid column identifier."""
    return f"mkv{next(_counter):04d}_secret"


def marker_rows(count: int, fields: int = 6) -> list[list[str]]:
    return [[marker() for _ in range(fields)] for _ in range(count)]


def csv_bytes(rows: list[list[str]]) -> bytes:
    return "".join(",".join(row) + "\n" for row in rows).encode()


def markers_of(*bodies: bytes) -> set[str]:
    return {value for body in bodies for value in MARKER.findall(body.decode("latin-1"))}


def written_documents(stack: Stack) -> dict[str, str]:
    """Every document in the artifacts bucket except the data's own copies (staged input, quarantined
    objects); the manifests the test wrote are included (they hold keys, no data)."""
    s3 = boto3.client("s3")
    documents = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.artifacts_bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            copy_of_data = "/input/" in key or (
                key.startswith("quarantine/") and not key.endswith(".reason.json")
            )
            if not copy_of_data:
                body = s3.get_object(Bucket=stack.artifacts_bucket, Key=key)["Body"].read()
                documents[key] = body.decode("utf-8")
    return documents


def assert_no_marker(planted: set[str], logs: str, documents: dict[str, str]) -> None:
    assert planted and all(value.startswith("mkv") for value in planted)
    leaks = [f"log: {line}" for line in logs.splitlines() if any(value in line for value in planted)]
    leaks += [f"{key}: {value}" for key, body in documents.items() for value in planted if value in body]
    assert not leaks, "row data reached a log line or a document:\n" + "\n".join(leaks)


@pytest.fixture
def debug_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The most verbose level the functions can run at: nothing is hidden from the search.
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "false")


def to_this_tests_stdout() -> None:
    """The functions' log handler (Powertools keeps one per service, made by the first test that
    imported a function) writes to the stdout this test captures."""
    for handler in logging.getLogger("tributary-tests").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.stdout  # not setStream: it flushes the old, closed stream


def test_no_field_value_of_a_refused_or_accepted_file_reaches_validates_logs_or_documents(
    stack, load_handler, lambda_context, capfd, debug_logs
):
    headerless = marker_rows(5)  # the contract says header: its first line is data
    short = marker_rows(3, fields=5)  # no header and one field too few
    half_header = [[*ORDERS_HEADER.split(",")[:4], marker(), marker()], *marker_rows(2)]
    reordered = [[*ORDERS_HEADER.split(",")[1::-1], *ORDERS_HEADER.split(",")[2:]], *marker_rows(2)]
    accepted = [ORDERS_HEADER.split(","), *marker_rows(4)]
    json_values = [marker() for _ in range(6)]
    bodies = {
        "incoming/orders/headerless.csv": csv_bytes(headerless),
        "incoming/orders/headerless.csv.gz": gzip.compress(csv_bytes(marker_rows(3))),
        "incoming/orders/short.csv": csv_bytes(short),
        "incoming/orders/half-header.csv": csv_bytes(half_header),
        "incoming/orders/reordered.csv": csv_bytes(reordered),
        "incoming/orders/accepted.csv": csv_bytes(accepted),
        # Not valid UTF-8 inside a field: the reason names the byte and its offset, not the field.
        "incoming/orders/latin1.csv": csv_bytes([ORDERS_HEADER.split(",")])
        + f"{marker()}é{marker()},x\n".encode("latin-1"),
        # A JSON Lines file where the contract wants CSV; and lines that are not rows the job accepts.
        "incoming/orders/lines.jsonl": (
            f'{{"{json_values[0]}": "{json_values[1]}"}}\n'
            f'{{"order_id": "{json_values[2]}", "order_id": "{json_values[3]}"}}\n'
            f'{{"order_id": {json_values[4]}\n["{json_values[5]}"]\n'
        ).encode(),
    }
    objects = [upload(stack, key, body) for key, body in bodies.items()]
    planted = markers_of(*bodies.values()) | markers_of(
        gzip.decompress(bodies["incoming/orders/headerless.csv.gz"])
    )
    handler = load_handler("validate")
    to_this_tests_stdout()
    capfd.readouterr()

    result = validate(handler, lambda_context, stack, "orders-20261124T101458Z-1313131313", objects)
    logs = capfd.readouterr().out

    assert (result["accepted"], result["rejected"]) == (1, 7)
    documents = written_documents(stack)
    assert_no_marker(planted, logs, documents)
    rejected = json.loads(documents["runs/orders-20261124T101458Z-1313131313/rejected.json"])
    reasons = {obj["key"]: obj["reasons"][0]["message"] for obj in rejected["objects"]}
    # Still useful: counts, 1-based positions and the contract's own names.
    assert reasons["incoming/orders/headerless.csv"] == (
        "the header line does not match the contract (6 fields, 6 columns; missing ['order_id', "
        "'customer_id', 'amount', 'quantity', 'status', 'ordered_at'], "
        "6 unexpected at fields 1, 2, 3, 4, 5, 6)"
    )
    assert "5 fields, 6 columns; missing [" in reasons["incoming/orders/short.csv"]
    assert reasons["incoming/orders/half-header.csv"].endswith(
        "missing ['status', 'ordered_at'], 2 unexpected at fields 5, 6)"
    )
    assert reasons["incoming/orders/reordered.csv"].endswith("order differs at fields 1, 2)")
    assert "byte b'\\xe9' at offset" in reasons["incoming/orders/latin1.csv"]
    assert sum(1 for line in logs.splitlines() if '"Object rejected"' in line) == 7
    assert len([key for key in documents if key.endswith(".reason.json")]) == 7


def test_an_error_that_quotes_a_value_reaches_neither_the_log_nor_the_reason(
    stack, load_handler, lambda_context, capfd, debug_logs, monkeypatch
):
    """An unforeseen error whose text quotes the file (``int("<value>")`` does) is named by its type."""
    handler = load_handler("validate")
    from validate import sniffing as loaded_sniffing

    def parse_first_field(text: str, *args: Any, **kwargs: Any) -> None:
        int(text.split(",", 1)[0])

    monkeypatch.setattr(loaded_sniffing, "check_csv", parse_first_field)
    body = csv_bytes(marker_rows(2))
    objects = [upload(stack, "incoming/orders/fault.csv", body)]
    to_this_tests_stdout()
    capfd.readouterr()

    validate(handler, lambda_context, stack, "orders-20261124T101458Z-1313131314", objects)
    logs = capfd.readouterr().out

    documents = written_documents(stack)
    assert_no_marker(markers_of(body), logs, documents)
    [refused] = json.loads(documents["runs/orders-20261124T101458Z-1313131314/rejected.json"])["objects"]
    assert refused["reasons"][0]["message"] == "the object could not be examined: ValueError"
    [logged] = [json.loads(line) for line in logs.splitlines() if "Object could not be examined" in line]
    assert logged["error_type"] == "ValueError" and "parse_first_field" in logged["stack"]


def test_quarantine_writes_no_field_value_into_reasons_or_logs(
    stack, load_handler, lambda_context, capfd, debug_logs
):
    """Both forms: every input of a failed run, and the objects an executor left out with its reasons."""
    run_id = "orders-20261124T101458Z-1313131315"
    bodies = [csv_bytes(marker_rows(3)), csv_bytes([ORDERS_HEADER.split(","), *marker_rows(2)])]
    objects = [upload(stack, f"incoming/orders/part-{n}.csv", body) for n, body in enumerate(bodies)]
    manifest_uri = put_manifest(stack, run_id, "orders", objects)
    failed_key = f"runs/{run_id}/failed-objects.json"
    failed = {
        "run_id": run_id,
        "dataset": "orders",
        # As the executors write them: what failed, where (a line number), never the text.
        "objects": [
            {**objects[0], "reasons": [{"code": "encoding", "message": "line 2 is not valid UTF-8"}]}
        ],
    }
    boto3.client("s3").put_object(Bucket=stack.artifacts_bucket, Key=failed_key, Body=json.dumps(failed))
    handler = load_handler("quarantine")
    to_this_tests_stdout()
    capfd.readouterr()

    handler.lambda_handler(
        {
            "run_id": run_id,
            "dataset": "orders",
            "failed_objects_uri": f"s3://{stack.artifacts_bucket}/{failed_key}",
        },
        lambda_context,
    )
    handler.lambda_handler(
        {
            "run_id": run_id,
            "dataset": "orders",
            "manifest_uri": manifest_uri,
            "error": "States.TaskFailed",
            "cause": "TransformFailed: the run failed",
        },
        lambda_context,
    )
    logs = capfd.readouterr().out

    documents = written_documents(stack)
    reasons = {key: json.loads(body) for key, body in documents.items() if key.endswith(".reason.json")}
    assert len(reasons) == 2 and all(reason["cause"] for reason in reasons.values())
    assert '"Run quarantined"' in logs and '"Failed objects quarantined"' in logs
    # The copies hold the data (they are its quarantine); the reasons and the logs do not.
    copies = [key for key in _all_keys(stack) if key.startswith("quarantine/") and not key.endswith(".json")]
    assert len(copies) == 2
    assert_no_marker(markers_of(*bodies), logs, documents)


def _all_keys(stack: Stack) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.artifacts_bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def lite_run(stack: Stack, rows: list[list[str]]) -> tuple[dict[str, Any], bytes]:
    """An orders run staged for the small-run executor; its event and the staged body."""
    body = csv_bytes([ORDERS_HEADER.split(","), *rows])
    return stage_run(boto3.client("s3"), stack, [("incoming/orders/a.csv", body, "none")]), body


def lite_documents(stack: Stack, event: dict[str, Any]) -> dict[str, str]:
    """The run's documents; the rejects (under rejects_uri) are the data's quarantine, not searched."""
    rejects = event["rejects_uri"].removeprefix(f"s3://{stack.artifacts_bucket}/")
    return {key: body for key, body in written_documents(stack).items() if not key.startswith(rejects)}


def test_the_small_run_executor_logs_and_documents_no_field_value(
    stack, load_handler, lambda_context, capfd, debug_logs
):
    # Good rows whose customer is a marker, and a row rejected for a marker in a typed
    # column (their reasons quote it: in the rejects, which are not searched).
    good = [[f"ORD-{n:06d}", marker(), "10.00", "1", "NEW", "2026-11-24 10:00:00"] for n in range(8)]
    bad = [["ORD-000100", marker(), marker(), "1", "NEW", "2026-11-24 10:00:00"]]
    event, body = lite_run(stack, good + bad)
    handler = load_handler("transform_lite")
    to_this_tests_stdout()
    capfd.readouterr()

    summary = handler.lambda_handler(event, lambda_context)
    logs = capfd.readouterr().out

    assert (summary["rows_read"], summary["rows_rejected"]) == (9, 1)
    assert '"Run transformed"' in logs
    documents = lite_documents(stack, event)
    assert {f"runs/{RUN}/{name}" for name in ("result.json", "summary.json")} <= set(documents)
    assert_no_marker(markers_of(body), logs, documents)
    # The rejected row, its raw text and the value its reason quotes, are in the rejects: the data's
    # quarantine, kept with the data's protection (not a log, not a reason document).
    rejects = set(written_documents(stack)) - set(documents)
    assert any(bad[0][2] in written_documents(stack)[key] for key in rejects)


def test_a_small_run_failure_whose_error_quotes_a_value_leaks_nothing(
    stack, load_handler, lambda_context, capfd, debug_logs, monkeypatch
):
    event, body = lite_run(stack, [[marker() for _ in range(6)]])
    handler = load_handler("transform_lite")
    from transform_lite import logic as loaded_logic

    def parse_a_field(*args: Any, **kwargs: Any) -> None:
        int(MARKER.findall(body.decode())[0])  # ValueError: invalid literal for int(): '<the value>'

    monkeypatch.setattr(loaded_logic, "convert_run", parse_a_field)
    to_this_tests_stdout()
    capfd.readouterr()

    with pytest.raises(handler.TransformFailed) as failed:
        handler.lambda_handler(event, lambda_context)
    logs = capfd.readouterr().out

    assert str(failed.value).startswith("ValueError")
    documents = {**lite_documents(stack, event), "TransformFailed": str(failed.value)}
    assert_no_marker(markers_of(body), logs, documents)


def test_the_glue_jobs_failure_line_names_a_foreign_error_by_its_type_only() -> None:
    """What a failed Glue run reports (result, summary, Glue's ErrorMessage, the run record's cause and
    quarantine's .reason.json) keeps the text only of errors known to hold no row data."""
    import transform as glue_job  # glue/transform.py; no Spark is started

    value = marker()
    try:
        int(value)
    except ValueError as error:
        assert glue_job.error_line(error) == ("ValueError", "ValueError")
    own = glue_job.ManifestError("the manifest belongs to run 'x', not 'y'")
    assert glue_job.error_line(own) == ("ManifestError", f"ManifestError: {own}")
    missing = FileNotFoundError(2, "No such file or directory", "/tmp/runs/r/plan.json")
    assert glue_job.error_line(missing)[1].startswith("FileNotFoundError: ")
