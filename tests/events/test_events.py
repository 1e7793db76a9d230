"""Every file under events/ parses with the models its handler uses (``sam local invoke -e`` inputs)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
for folder in (
    "common",
    "trigger",
    "validate",
    "sweep",
    "lineage",
    "quarantine",
    "transform_lite",
    "approval",
):
    sys.path.insert(0, str(REPO / "functions" / folder))

from approval.logic import caller_of, parse_decision  # noqa: E402
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsModel  # noqa: E402
from etl_common.contracts import load_contract  # noqa: E402
from etl_common.models import CatalogRequest, ExecutionInput, LineageRequest, QuarantineRequest  # noqa: E402
from lineage.logic import RetractRequest  # noqa: E402
from quarantine.logic import FailedObjectsRequest  # noqa: E402
from sweep.models import parse_sweep_request  # noqa: E402
from transform_lite.logic import arguments_from  # noqa: E402
from trigger.events import IngestQueueRecord, ObjectCreatedEvent  # noqa: E402
from trigger.logic import Accepted, classify  # noqa: E402
from validate import sniffing  # noqa: E402

EVENTS = REPO / "events"
CONTRACTS = REPO / "contracts"

PARSERS: dict[str, Callable[[Any], Any]] = {
    "trigger/object-created-*.json": ObjectCreatedEvent.model_validate,
    "trigger/sqs-batch.json": lambda event: [IngestQueueRecord.model_validate(r) for r in event["Records"]],
    "validate/input.json": ExecutionInput.model_validate,
    "catalog/input.json": CatalogRequest.model_validate,
    "lineage/input.json": LineageRequest.model_validate,
    "lineage/retract.json": RetractRequest.model_validate,
    "quarantine/input.json": QuarantineRequest.model_validate,
    "quarantine/failed-objects.json": FailedObjectsRequest.model_validate,
    "sweep/*.json": parse_sweep_request,
    # The state machine's RunSmallTransform payload: the Glue job's arguments as one object.
    "transform_lite/*.json": lambda event: arguments_from(event, datetime.now(UTC)),
    # A decision through the approval function URL (AuthType AWS_IAM names the caller).
    "approval/decision.json": lambda event: parse_decision(event, caller_of(event), datetime.now(UTC)),
    # EventBridge's "Step Functions Execution Status Change" of an ended run (RunCostRule).
    "run_cost/*.json": lambda event: ExecutionInput.model_validate_json(
        EventBridgeModel.model_validate(event).detail["input"]
    ),
}


EVENT_FILES = sorted(EVENTS.rglob("*.json"))
SINGLE_EVENTS = ("object-created-csv.json", "object-created-space-plus.json", "object-created-non-ascii.json")


def parser_for(path: Path) -> Callable[[Any], Any] | None:
    relative = path.relative_to(EVENTS)
    return next((parse for pattern, parse in PARSERS.items() if relative.match(pattern)), None)


def load(relative: str) -> Any:
    return json.loads((EVENTS / relative).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: str(path.relative_to(EVENTS)))
def test_every_event_file_parses_with_its_handlers_model(path):
    parse = parser_for(path)
    assert parse is not None, f"{path} has no parser: add it to PARSERS"
    parse(json.loads(path.read_text(encoding="utf-8")))


def test_every_function_has_a_sample_event():
    covered = {path.relative_to(EVENTS).parts[0] for path in EVENT_FILES}
    functions = {
        path.name for path in (REPO / "functions").iterdir() if path.is_dir() and path.name != "common"
    }
    assert functions <= covered


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("object-created-csv.json", "incoming/orders/2026/11/24/orders-sample.csv"),
        ("object-created-space-plus.json", "incoming/orders/exports/Q4 report+final (v2).csv"),
        ("object-created-non-ascii.json", "incoming/clicks/région/clics d'été 東京.jsonl"),
    ],
)
def test_object_created_events_are_accepted_with_their_key_verbatim(name, key):
    event = ObjectCreatedEvent.model_validate(load(f"trigger/{name}"))
    outcome = classify(event, "m-1", contracts_dir=CONTRACTS)
    assert isinstance(outcome, Accepted)
    assert outcome.obj.key == key
    assert outcome.obj.version_id and outcome.obj.etag


def test_the_sqs_batch_carries_the_three_object_created_events():
    batch = load("trigger/sqs-batch.json")
    SqsModel.model_validate(batch)
    bodies = [IngestQueueRecord.model_validate(record).body for record in batch["Records"]]
    singles = [ObjectCreatedEvent.model_validate(load(f"trigger/{name}")) for name in SINGLE_EVENTS]
    assert bodies == singles


def test_task_inputs_name_the_same_run():
    inputs = [load(f"{function}/input.json") for function in ("validate", "catalog", "lineage", "quarantine")]
    assert len({(document["run_id"], document["dataset"]) for document in inputs}) == 1
    assert load("transform_lite/input.json")["run_id"] == inputs[0]["run_id"]


def test_the_orders_sample_fits_its_contract_with_a_few_bad_rows():
    contract = load_contract("orders", CONTRACTS)
    text = (EVENTS / "data" / "orders-sample.csv").read_text(encoding="utf-8")
    assert contract.csv is not None
    sniffing.check_csv(
        text,
        True,
        delimiter=contract.csv.delimiter,
        quote=contract.csv.quote,
        escape=contract.csv.escape,
        header=True,
        columns=contract.column_names,
    )
    rows = text.splitlines()[1:]
    assert 45 <= len(rows) <= 60
    days = {row.rsplit(",", 1)[1][:10] for row in rows}
    assert {"2026-11-22", "2026-11-23", "2026-11-24"} <= days
    assert any(",-" in row for row in rows) and any(",LOST," in row for row in rows)


def test_the_clicks_sample_fits_its_contract_with_a_couple_of_malformed_lines():
    contract = load_contract("clicks", CONTRACTS)
    text = (EVENTS / "data" / "clicks-sample.jsonl").read_text(encoding="utf-8")
    required = [column.name for column in contract.columns if not column.nullable]
    sniffing.check_json_lines(text, True, required=required, columns=contract.column_names)
    lines = text.splitlines()
    assert 45 <= len(lines) <= 60

    def is_object(line: str) -> bool:
        try:
            return isinstance(json.loads(line), dict)
        except json.JSONDecodeError:
            return False

    assert 2 <= sum(not is_object(line) for line in lines) <= 5
