"""bench.local_stack's cost per run: the parts come from etl_common.cost, by path."""

from __future__ import annotations

import pytest
from etl_common.cost import glue_job_cost, lambda_cost, step_functions_cost

from bench.local_stack import Invocation, PathRun, _steady, run_costs


def _others() -> list[Invocation]:
    return [
        Invocation("TriggerFunction", 120.0, 512, 512, "arm64"),
        Invocation("ValidateFunction", 900.4, 1024, 512, "arm64"),
    ]


def test_a_glue_run_costs_its_dpu_seconds_with_the_minimum_plus_the_rest() -> None:
    run = PathRun(5.0, "SUCCEEDED", "RunTransformJob", 16, _others(), 12.5, ("G.1X", 2))
    parts = run_costs(run)
    assert parts["Glue STANDARD"] == glue_job_cost(12.5) == pytest.approx(2 / 60 * 0.44)
    assert parts["Glue FLEX"] == glue_job_cost(12.5, execution_class="FLEX")
    assert parts["other Lambdas"] == pytest.approx(lambda_cost(120.0, 512) + lambda_cost(900.4, 1024))
    assert parts["state transitions"] == step_functions_cost(16)
    assert "transform Lambda" not in parts


def test_a_small_run_costs_its_function_and_no_glue() -> None:
    lite = Invocation("TransformLiteFunction", 490.0, 1769, 2048, "arm64")
    run = PathRun(2.0, "SUCCEEDED", "RunSmallTransform", 16, [*_others(), lite])
    parts = run_costs(run)
    assert parts["transform Lambda"] == lambda_cost(490.0, 1769, ephemeral_storage_mb=2048)
    assert "Glue STANDARD" not in parts
    assert parts["other Lambdas"] == pytest.approx(lambda_cost(120.0, 512) + lambda_cost(900.4, 1024))


def test_the_steady_time_is_the_median_after_the_first_run() -> None:
    runs = [PathRun(s, "SUCCEEDED", None, 0) for s in (30.0, 5.0, 9.0, 6.0)]
    assert _steady(runs) == 6.0
