"""Contract versions and reference (master) data: the model, reading a reference file, and compiling an
``in_reference`` rule into the plan's allowed values (what both executors run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "functions" / "common"))

from etl_common.contracts import ContractError, ReferenceTable, load_contract_file, parse_contract  # noqa: E402
from etl_common.plan import PlanError, compile_plan, contract_sha256  # noqa: E402
from etl_common.references import (  # noqa: E402
    MAX_REFERENCE_VALUES,
    ReferenceDataError,
    parse_reference,
    read_local_references,
)


def document(**extra: Any) -> dict[str, Any]:
    return {
        "dataset": "orders",
        "format": "csv",
        "columns": [
            {"name": "order_id", "type": "string"},
            {"name": "customer_id", "type": "string"},
            {"name": "store", "type": "int"},
        ],
        "partitioning": {"column": "order_date", "source": "ingest_date"},
        "references": {
            "customers": {"key": "reference/customers.csv", "column": "customer_id"},
        },
        "quality": {"rules": [{"column": "customer_id", "rule": "in_reference", "reference": "customers"}]},
        **extra,
    }


def parse(data: dict[str, Any]) -> Any:
    return parse_contract(yaml.safe_dump(data), "orders.yaml")


def local(tmp_path: Path, text: str, key: str = "reference/customers.csv") -> Path:
    path = tmp_path / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return tmp_path


# ------------------------------------------------------------------------------ contract version


def test_a_contract_has_a_version_text_default_1_and_it_changes_the_content_hash() -> None:
    plain = parse({k: v for k, v in document().items() if k not in ("references", "quality")})
    assert plain.version == "1"
    versioned = parse({**document(), "version": "2026.12.1"})
    assert versioned.version == "2026.12.1"
    again = parse({**document(), "version": "2026.12.2"})
    assert contract_sha256(versioned) != contract_sha256(again)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (1.10, "quote the version"),
        (3, "quote the version"),
        ("", "should match pattern"),
        ("two words", "should match pattern"),
        ("x" * 65, "should match pattern"),
    ],
)
def test_a_version_that_is_not_short_text_is_refused_with_a_message(version: Any, message: str) -> None:
    with pytest.raises(ContractError, match=message) as refused:
        parse({**document(), "version": version})
    assert "version" in str(refused.value)


# --------------------------------------------------------------------------- the references model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"quality": {"rules": [{"column": "customer_id", "rule": "in_reference", "reference": "shops"}]}},
            "unknown reference 'shops'",
        ),
        ({"quality": {"rules": []}}, "references.customers: no quality rule uses it"),
        (
            {
                "quality": {
                    "rules": [
                        {"column": "customer_id", "rule": "in_reference", "reference": "customers"},
                        {"column": "customer_id", "rule": "allowed_values", "values": ["C1"]},
                    ]
                }
            },
            "has allowed_values too",
        ),
        (
            {"references": {"customers": {"key": "incoming/c.csv", "column": "id"}}},
            "must be under 'reference/'",
        ),
        ({"references": {"customers": {"key": "reference/", "column": "id"}}}, "at least 11 characters"),
        ({"references": {"customers": {"key": "reference/x/", "column": "id"}}}, "not a folder"),
        ({"references": {"Customers": {"key": "reference/c.csv", "column": "id"}}}, "should match pattern"),
    ],
)
def test_inconsistent_references_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse({**document(), **change})


# ------------------------------------------------------------------------------- reading a file


TABLE = ReferenceTable(key="reference/customers.csv", column="customer_id")


def test_a_reference_file_gives_its_distinct_values_with_their_line_numbers() -> None:
    body = "\ufeffsegment,customer_id\nretail,C1\nretail,C2\n\nwholesale,C1\nretail,\n".encode()
    assert parse_reference("customers", TABLE, body, "f") == ((2, "C1"), (3, "C2"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "is empty"),
        (b"id,segment\nC1,retail\n", "has no column 'customer_id' in its header \\(2 fields\\)"),
        (b"customer_id,segment\nC1\n", "line 2 has 1 fields, the header 2"),
        (b"customer_id\n\xff\xfe\n", "is not UTF-8 text \\(byte offset 12\\)"),
        (b"customer_id\n\n", "holds no value in column 'customer_id'"),
    ],
)
def test_a_reference_file_that_cannot_be_used_is_refused_without_quoting_it(
    body: bytes, message: str
) -> None:
    with pytest.raises(ReferenceDataError, match=message) as refused:
        parse_reference("customers", TABLE, body, "s3://raw/reference/customers.csv")
    assert "C1" not in str(refused.value) and "retail" not in str(refused.value)


def test_a_reference_file_with_too_many_values_is_refused() -> None:
    body = ("customer_id\n" + "".join(f"C{i}\n" for i in range(MAX_REFERENCE_VALUES + 1))).encode()
    with pytest.raises(ReferenceDataError, match=f"more than {MAX_REFERENCE_VALUES} values"):
        parse_reference("customers", TABLE, body, "f")


# ------------------------------------------------------------------------------------ the plan


def test_an_in_reference_rule_compiles_to_allowed_values_of_the_read_version(tmp_path: Path) -> None:
    contract = parse({**document(), "version": "7"})
    references = read_local_references(contract, local(tmp_path, "customer_id\nC1\nC2\nC1\n"))

    plan = compile_plan(contract, references)

    [check] = [check for check in plan.checks if check.column == "customer_id"]
    assert check.model_dump(exclude_none=True) == {
        "rule": "allowed_values",
        "column": "customer_id",
        "message": "value is not in reference customers",
        "quote_value": False,
        "values": ["C1", "C2"],
        "reference": "customers",
    }
    # Reasons carry the check's rule: result.json counts them under it.
    assert [(rule.column, rule.rule) for rule in plan.rules] == [("customer_id", "allowed_values")]
    assert plan.contract_version == "7"
    [version] = plan.references
    assert (version.name, version.key, version.values) == ("customers", "reference/customers.csv", 2)
    # Another version of the reference file is another plan.
    other = read_local_references(contract, local(tmp_path, "customer_id\nC1\nC3\n"))
    assert compile_plan(contract, other).references[0].etag != version.etag


def test_reference_values_take_the_columns_type_and_a_value_it_cannot_hold_names_its_line(
    tmp_path: Path,
) -> None:
    rules = [{"column": "store", "rule": "in_reference", "reference": "customers"}]
    data = document(quality={"rules": rules})
    data["references"]["customers"]["column"] = "store"
    contract = parse(data)
    [check] = [
        c
        for c in compile_plan(
            contract, read_local_references(contract, local(tmp_path, "store\n7\n+7\n12\n"))
        ).checks
        if c.rule == "allowed_values"
    ]
    assert check.values == [7, 12]
    bad = read_local_references(contract, local(tmp_path, "store\n7\nsecret-value\n"))
    with pytest.raises(PlanError, match="the value at line 3 is not a valid int") as refused:
        compile_plan(contract, bad)
    assert "secret-value" not in str(refused.value)


def test_a_contract_with_references_does_not_compile_without_their_values() -> None:
    with pytest.raises(PlanError, match="reference 'customers' was not read"):
        compile_plan(parse(document()))


def test_the_shipped_example_checks_orders_against_the_demo_customer_list() -> None:
    contract = load_contract_file(REPO / "contracts" / "orders_checked.yaml")
    references = read_local_references(contract, REPO / "events")
    plan = compile_plan(contract, references)
    [check] = [check for check in plan.checks if check.reference == "customers"]
    assert check.values and "C9999" not in check.values and "C0002" in check.values
    sample = (REPO / "events" / "data" / "orders_checked-sample.csv").read_text().splitlines()[1:]
    unknown = [line for line in sample if line.split(",")[1] not in check.values]
    assert len(unknown) == 2  # the sample's orders of unknown customers
