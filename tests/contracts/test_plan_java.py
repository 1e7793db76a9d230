"""The plan's regular expressions read the same in Java (the Glue job) and Python (the small-run path).

Every regex the plan generates is run through java.util.regex (Matcher.matches, groups) and Python's
re.fullmatch on the same texts, generated from the characters the patterns care about."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "functions" / "common"))

from etl_common.contracts import load_contract_file, parse_contract  # noqa: E402
from etl_common.plan import compile_plan  # noqa: E402
from etl_common.references import read_local_references  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]

FORMATS = [
    "yyyy-MM-dd",
    "yy/M/d",
    "y.M",
    "yyyyMMddHHmmss",
    "dd.MM.yyyy H:mm",
    "yyyy-MM-dd'T'HH:mm:ss.SSSSSS",
    "HH:mm[:ss[.SSS]]",
    "yyyy-MM-dd HH:mmX",
    "yyyy-MM-dd HH:mmXX",
    "yyyy-MM-dd HH:mmXXX",
    "yyyy-MM-dd HH:mmx",
    "yyyy-MM-dd HH:mm Z",
    "yyyy-MM-dd'T'HH:mm:ss[.SSS]XXX",
    "'at' HH 'o''clock'",
    "yyyy (MM) [dd]",
    "yyyy.MM.dd|HH*mm",
]
TYPES = ["int", "bigint", "double", "decimal(10,2)", "decimal(3,0)", "decimal(2,2)", "boolean", "timestamp"]


def plan_regexes() -> list[str]:
    columns: list[dict[str, Any]] = [
        {"name": f"f{i}", "type": "timestamp", "format": f} for i, f in enumerate(FORMATS)
    ]
    columns += [{"name": f"t{i}", "type": kind} for i, kind in enumerate(TYPES)]
    document = {
        "dataset": "orders",
        "format": "csv",
        "columns": columns,
        "partitioning": {"column": "order_date", "source": "ingest_date"},
    }
    plans = [compile_plan(parse_contract(yaml.safe_dump(document), "orders.yaml"))]
    for path in sorted((REPO / "contracts").glob("*.yaml")):
        shipped = load_contract_file(path)
        # The demo's reference files (events/reference/) stand for the ones validate reads from S3.
        plans.append(compile_plan(shipped, read_local_references(shipped, REPO / "events")))
    found = []
    for plan in plans:
        for column in plan.columns:
            parse = column.parse.model_dump()
            found += [parse[key] for key in ("regex", "true_regex", "false_regex") if key in parse]
    return sorted(set(found))


REGEXES = plan_regexes()
ALPHABET = "0123456789-+:.T Z/|*()'atoclkrueyfsnYESN\n\r\u0085\u2028\u0663\u017f"


@pytest.fixture(scope="module")
def java_pattern() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    jvm = session.sparkContext._jvm

    def compile_java(regex: str) -> Any:
        return jvm.java.util.regex.Pattern.compile(regex)

    yield compile_java  # a plain function: hypothesis inspects fixture values, which a Py4J class answers


def java_groups(pattern: Any, text: str) -> tuple[str | None, ...] | None:
    matcher = pattern.matcher(text)
    if not matcher.matches():
        return None
    return tuple(matcher.group(i) for i in range(1, matcher.groupCount() + 1))


def python_groups(regex: str, text: str) -> tuple[str | None, ...] | None:
    match = re.fullmatch(regex, text)
    return None if match is None else match.groups()


def samples(regex: str) -> list[str]:
    """Texts near the regex: a valid-looking one per plan column type and its edits."""
    return [
        "2026-11-24",
        "26/1/5",
        "7.3",
        "20261124101500",
        "24.11.2026 9:05",
        "2026-11-24T10:15:00.123456",
        "10:15:30.1",
        "2026-11-24 10:15+01",
        "2026-11-24 10:15+0130",
        "2026-11-24 10:15-01:30",
        "2026-11-24 10:15Z",
        "2026-11-24 10:15 +0100",
        "2026-11-24T10:15:00.25+01:00",
        "at 10 o'clock",
        "2026 (11) 24",
        "2026.11.24|10*15",
        "+10000-01-01",
        "-0001-01-01",
        "12.34",
        ".5",
        "5.",
        "1e10",
        "TRUE",
        "yes",
        "0",
        "2026-11-24T10:15:30.5+01:30",
        "2026-11-24 10:15:30",
        "2026-11-24\n",
    ]


@pytest.mark.parametrize("regex", REGEXES)
def test_java_and_python_agree_on_the_sample_texts(java_pattern: Any, regex: str) -> None:
    pattern = java_pattern(regex)
    for text in samples(regex):
        assert java_groups(pattern, text) == python_groups(regex, text), (regex, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_java_and_python_agree_on_generated_texts(java_pattern: Any, data: Any) -> None:
    regex = data.draw(st.sampled_from(REGEXES))
    base = data.draw(st.sampled_from(samples(regex)))
    edits = data.draw(st.lists(st.tuples(st.integers(0, 40), st.sampled_from(ALPHABET + "\x00")), max_size=3))
    text = base
    for position, char in edits:
        position = min(position, len(text))
        text = text[:position] + ("" if char == "\x00" else char) + text[position + (char == "\x00") :]
    pattern = java_pattern(regex)
    assert java_groups(pattern, text) == python_groups(regex, text), (regex, text)
