"""Dataset contracts: the shipped ones are valid, and a bad one fails with an error naming file and field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "functions" / "common"))

from etl_common.contracts import (  # noqa: E402
    Contract,
    ContractError,
    ContractNotFoundError,
    load_contract,
    load_contract_file,
    main,
)

CONTRACTS = sorted((REPO / "contracts").glob("*.yaml"))


def orders() -> dict[str, Any]:
    return yaml.safe_load((REPO / "contracts" / "orders.yaml").read_text())


def write(directory: Path, document: Any, name: str = "orders") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def test_the_repository_ships_a_csv_and_a_json_lines_contract():
    formats = {load_contract_file(path).format for path in CONTRACTS}
    assert {"csv", "jsonl"} <= formats


def test_the_check_command_accepts_every_shipped_contract():
    completed = subprocess.run(
        [sys.executable, "-m", "etl_common.contracts", "check", *map(str, CONTRACTS)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "functions" / "common"), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.count("OK ") == len(CONTRACTS)


def test_contract_json_has_every_default_filled_in(tmp_path):
    document = orders()
    del document["csv"], document["compression"], document["limits"]
    document["quality"] = {"rules": []}
    dumped = load_contract_file(write(tmp_path, document)).model_dump(mode="json")

    assert dumped["csv"] == {
        "delimiter": ",",
        "quote": '"',
        "escape": '"',
        "header": True,
        "encoding": "utf-8",
    }
    assert dumped["compression"] == "auto"
    assert dumped["limits"] == {"max_object_bytes": 5 * 1024**3}
    assert dumped["quality"] == {"max_reject_ratio": 0.0, "rules": []}
    assert dumped["columns"][0] == {
        "name": "order_id",
        "type": "string",
        "nullable": False,
        "format": None,
        "description": "Shop order number",
    }
    # What the Glue job reads back is the same contract.
    assert Contract.model_validate(json.loads(json.dumps(dumped))).model_dump(mode="json") == dumped


def test_json_lines_contracts_carry_no_csv_options():
    clicks = load_contract("clicks", REPO / "contracts")
    assert clicks.csv is None and clicks.encoding == "utf-8"


def test_decimal_types_are_normalised():
    document = orders()
    document["columns"][2]["type"] = "DECIMAL( 12 , 3 )"
    contract = Contract.model_validate(document)
    assert contract.columns[2].type == "decimal(12,3)"


def _mutate(change):
    document = orders()
    change(document)
    return document


def add_rule(**rule: Any):
    return lambda d: d["quality"]["rules"].append(rule)


def add_column(**column: Any):
    return lambda d: d["columns"].append(column)


BAD = [
    ("unknown type", lambda d: d["columns"][2].update(type="money"), "columns.2.type: unknown type 'money'"),
    ("decimal too wide", lambda d: d["columns"][2].update(type="decimal(40,2)"), "columns.2.type"),
    ("typo in a key", lambda d: d.update(colums=d.pop("columns")), "colums: Extra inputs are not permitted"),
    ("missing format", lambda d: d.pop("format"), "format: Field required"),
    ("bad format", lambda d: d.update(format="xlsx"), "format: Input should be 'csv', 'jsonl' or 'json'"),
    ("bad column name", lambda d: d["columns"][0].update(name="Order ID"), "columns.0.name"),
    (
        "duplicate column",
        add_column(name="status", type="string"),
        "duplicate names",
    ),
    ("reserved column", add_column(name="run_id", type="string"), "reserved"),
    ("partition clash", lambda d: d["partitioning"].update(column="status"), "partitioning.column: 'status'"),
    (
        "partition source",
        lambda d: d["partitioning"].update(source="status"),
        "not date/timestamp",
    ),
    ("partition nowhere", lambda d: d["partitioning"].update(source="nope"), "partitioning.source: 'nope'"),
    (
        "rule column",
        add_rule(column="x", rule="unique"),
        "unknown column 'x'",
    ),
    (
        "min on text",
        add_rule(column="status", rule="min", value=1),
        "min",
    ),
    (
        "unknown rule",
        add_rule(column="status", rule="odd"),
        "quality.rules.7",
    ),
    (
        "bad regex",
        add_rule(column="status", rule="regex", pattern="("),
        "regular expression",
    ),
    ("ratio", lambda d: d["quality"].update(max_reject_ratio=1.5), "quality.max_reject_ratio"),
    ("delimiter", lambda d: d["csv"].update(delimiter=";;"), "csv.delimiter: must be exactly one character"),
    ("encoding", lambda d: d["csv"].update(encoding="klingon"), "csv.encoding: unknown encoding 'klingon'"),
    ("csv for jsonl", lambda d: d.update(format="jsonl"), "csv: options apply only to format csv"),
    ("format on text", lambda d: d["columns"][0].update(format="yyyy"), "'format' applies only to date"),
    ("limit", lambda d: d["limits"].update(max_object_bytes=0), "limits.max_object_bytes"),
    ("no columns", lambda d: d.update(columns=[]), "columns: List should have at least 1 item"),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [(change, expected) for _, change, expected in BAD],
    ids=[name for name, _, _ in BAD],
)
def test_a_bad_contract_is_refused_naming_the_file_and_the_field(tmp_path, change, expected):
    path = write(tmp_path, _mutate(change))
    with pytest.raises(ContractError) as error:
        load_contract_file(path)
    assert str(error.value).startswith(f"{path}: ")
    assert expected in str(error.value)


def test_dataset_must_match_the_file_name(tmp_path):
    path = write(tmp_path, orders(), name="sales")
    with pytest.raises(ContractError, match="dataset: 'orders' must equal the file name 'sales'"):
        load_contract_file(path)


@pytest.mark.parametrize(("text", "expected"), [("a: [1", "not valid YAML"), ("- a\n- b\n", "YAML mapping")])
def test_unparseable_files_are_refused(tmp_path, text, expected):
    with pytest.raises(ContractError, match=expected):
        load_contract_file(write(tmp_path, text))


def test_unknown_datasets_and_unsafe_names_are_not_found(tmp_path):
    with pytest.raises(ContractNotFoundError, match="no such contract file"):
        load_contract("sales", tmp_path)
    with pytest.raises(ContractNotFoundError, match="not a valid dataset name"):
        load_contract("../etc/passwd", tmp_path)


def test_the_check_command_reports_each_bad_file(tmp_path, capsys):
    good = REPO / "contracts" / "orders.yaml"
    bad = write(tmp_path, _mutate(lambda d: d["columns"][2].update(type="money")))
    assert main(["check", str(good), str(bad)]) == 1
    output = capsys.readouterr()
    assert f"OK {good}" in output.out
    assert f"INVALID {bad}: columns.2.type: unknown type 'money'" in output.err


def test_the_schema_command_prints_the_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Contract"
    assert {"dataset", "format", "columns", "partitioning"} <= set(schema["required"])
