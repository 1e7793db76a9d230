"""The dashboard charts every metric the functions publish (Powertools EMF, namespace Tributary)."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from tests.template import cfn
from tests.template.code_calls import FUNCTIONS_DIR

FUNCTIONS = {
    "TriggerFunction": "trigger",
    "ValidateFunction": "validate",
    "CatalogFunction": "catalog",
    "LineageFunction": "lineage",
    "QuarantineFunction": "quarantine",
    "SweepFunction": "sweep",
    "TransformLiteFunction": "transform_lite",
    "ApprovalFunction": "approval",
}


def published_metrics(folder: str) -> set[str]:
    """Names passed as ``add_metric(name="...")`` in the function's own package."""
    names = set()
    for path in sorted((FUNCTIONS_DIR / folder / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_metric"
            ):
                for keyword in node.keywords:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        names.add(keyword.value.value)
    return names


def expand(rows: list[list[Any]]) -> list[tuple[str, ...]]:
    """CloudWatch's shorthand: "." repeats the item above, "..." the leading items of the row above."""
    expanded: list[tuple[str, ...]] = []
    previous: list[str] = []
    for row in rows:
        items = [item for item in row if not isinstance(item, dict)]
        if items and items[0] == "...":
            items = previous[: len(previous) - len(items) + 1] + items[1:]
        else:
            items = [previous[i] if item == "." else item for i, item in enumerate(items)]
        expanded.append(tuple(items))
        previous = items
    return expanded


def dashboard_metrics(template: dict[str, Any]) -> set[tuple[str, ...]]:
    body = template["Resources"]["PipelineDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    document = json.loads(cfn.PLACEHOLDER.sub("placeholder", body))
    charted: set[tuple[str, ...]] = set()
    for widget in document["widgets"]:
        charted |= set(expand(widget.get("properties", {}).get("metrics", [])))
    return charted


def test_the_shorthand_is_expanded_like_cloudwatch_does() -> None:
    rows = [
        ["NS", "A", "service", "x"],
        [".", "B", ".", "."],
        ["...", "y"],
        [".", "C", ".", "z", {"stat": "p9"}],
    ]
    assert expand(rows) == [
        ("NS", "A", "service", "x"),
        ("NS", "B", "service", "x"),
        ("NS", "B", "service", "y"),
        ("NS", "C", "service", "z"),
    ]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_published_metric_is_charted(template: dict[str, Any], function: str) -> None:
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    resource = template["Resources"][function]["Properties"]
    service = resource["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    namespace = environment["POWERTOOLS_METRICS_NAMESPACE"]
    charted = dashboard_metrics(template)
    missing = {
        name
        for name in published_metrics(FUNCTIONS[function])
        if (namespace, name, "service", service) not in charted
    }
    assert not missing, f"{function} publishes {sorted(missing)}, which the PipelineDashboard does not chart"


def test_the_analysis_finds_the_metrics() -> None:
    assert published_metrics("validate") >= {"ObjectsAccepted", "ObjectsRejected", "RunsFailedValidation"}
