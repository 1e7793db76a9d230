"""The run report shows the run's AWS cost from its record (the run-cost function's `cost` map)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tributary.local.views.report import build_report, render_json, render_text

COST = {
    "total_usd": Decimal("0.01508"),
    "measured_usd": Decimal("0.01493"),
    "estimated_usd": Decimal("0.00015"),
    "by_service_usd": {
        "step_functions": Decimal("0.00025"),
        "lambda": Decimal("0.0000115"),
        "glue": Decimal("0.0146667"),
        "s3": Decimal("0.0001"),
        "kms": Decimal("0.00002"),
    },
    "usage": {
        "transitions": Decimal(10),
        "lambda_gb_seconds": Decimal("0.85"),
        "glue_dpu_seconds": Decimal(120),
    },
    "prices": "us-east-1 list prices of 2026-12-07 (etl_common/cost.py)",
}


def record(status: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": "r1", "status": status, "dataset": "orders", "object_count": Decimal(1)} | extra


def test_an_ended_run_shows_its_cost_by_main_service() -> None:
    text = render_text(build_report(record("SUCCEEDED", cost=COST)))
    assert (
        "Cost on AWS: $0.0151 (measured $0.0149, estimated $0.000150; us-east-1 list prices of 2026-12-07"
        in text
    )
    assert (
        "Step Functions $0.000250 (10 transitions), Lambda $0.000012 (0.85 GB-s), Glue $0.0147 (120 DPU-s)"
        in text
    )
    assert "other requests $0.000120" in text


def test_the_json_report_carries_the_cost_map() -> None:
    document = json.loads(render_json(build_report(record("FAILED", cost=COST))))
    assert document["cost"]["usage"]["transitions"] == 10 and document["cost"]["total_usd"] == 0.01508


def test_a_run_without_cost_says_so_and_a_running_one_says_nothing() -> None:
    assert "Cost on AWS: not recorded" in render_text(build_report(record("SUCCEEDED")))
    assert "Cost on AWS" not in render_text(build_report(record("RUNNING")))


def test_the_express_children_are_named_beside_the_transitions() -> None:
    usage = {"transitions": Decimal(10), "express_executions": Decimal(3)}
    cost = {**COST, "usage": usage}
    text = render_text(build_report(record("SUCCEEDED", cost=cost)))
    assert "Step Functions $0.000250 (10 transitions, 3 Express children)" in text
    one = {**COST, "usage": {**usage, "express_executions": Decimal(1)}}
    assert "(10 transitions, 1 Express child)" in render_text(build_report(record("SUCCEEDED", cost=one)))
