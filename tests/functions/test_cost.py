"""etl_common.cost: list prices applied as AWS bills them (rounding, minimums, free allowances)."""

from __future__ import annotations

import pytest
from etl_common.cost import (
    US_EAST_1,
    glue_dpu_seconds,
    glue_job_cost,
    glue_python_shell_cost,
    lambda_cost,
    lambda_gb_seconds,
    s3_requests_cost,
    step_functions_cost,
    worker_dpus,
)
from hypothesis import given
from hypothesis import strategies as st


def test_the_price_table_names_its_region_date_and_sources() -> None:
    assert US_EAST_1.region == "us-east-1"
    assert US_EAST_1.checked.count("-") == 2
    assert "lambda/pricing" in US_EAST_1.sources["lambda"]
    assert "glue/pricing" in US_EAST_1.sources["glue"]


def test_lambda_bills_memory_times_duration_rounded_up_to_the_millisecond() -> None:
    assert lambda_gb_seconds(1000, 1024) == 1.0
    assert lambda_gb_seconds(0.2, 512) == pytest.approx(0.001 * 0.5)  # 1 ms at least
    # 850 ms at 1 GB on arm64: 0.85 GB-s x $0.0000133334 + one request ($0.20 per million)
    assert lambda_cost(850, 1024) == pytest.approx(0.85 * 0.0000133334 + 0.0000002)
    assert lambda_cost(850, 1024, architecture="x86_64") == pytest.approx(0.85 * 0.0000166667 + 0.0000002)
    assert lambda_cost(100, 128, requests=1000) == pytest.approx(1000 * lambda_cost(100, 128))


def test_lambda_ephemeral_storage_costs_only_above_512_mb() -> None:
    base = lambda_cost(2000, 1024)
    assert lambda_cost(2000, 1024, ephemeral_storage_mb=512) == base
    extra = lambda_cost(2000, 1024, ephemeral_storage_mb=10240) - base
    assert extra == pytest.approx(2.0 * (10240 - 512) / 1024 * 0.0000000309)


def test_glue_bills_dpu_seconds_with_a_one_minute_minimum() -> None:
    assert worker_dpus("G.1X") == 1.0 and worker_dpus("G.2X") == 2.0 and worker_dpus("G.025X") == 0.25
    assert glue_dpu_seconds(10, 2) == 120  # ten seconds cost a minute
    assert glue_dpu_seconds(90, 2) == 180
    # 2 x G.1X for 10 s: 2 DPU-minutes at $0.44 per DPU-hour
    assert glue_job_cost(10) == pytest.approx(2 / 60 * 0.44)
    assert glue_job_cost(10) == glue_job_cost(59)
    assert glue_job_cost(120) == pytest.approx(2 * glue_job_cost(60))
    assert glue_job_cost(600, worker_type="G.2X", number_of_workers=10) == pytest.approx(
        20 * 600 / 3600 * 0.44
    )


def test_glue_flex_is_cheaper_per_dpu_hour_with_the_same_minimum() -> None:
    assert glue_job_cost(10, execution_class="FLEX") == pytest.approx(2 / 60 * 0.29)
    assert glue_job_cost(300, execution_class="FLEX") < glue_job_cost(300)


def test_glue_reported_dpu_seconds_replace_time_times_capacity() -> None:
    # auto scaling used fewer DPUs than configured for part of the run
    assert glue_job_cost(300, number_of_workers=10, dpu_seconds=900) == pytest.approx(900 / 3600 * 0.44)
    assert glue_dpu_seconds(5, 10, dpu_seconds=20) == 600  # still a minute of the configured DPUs


def test_glue_python_shell_has_its_own_capacities() -> None:
    assert glue_python_shell_cost(10) == pytest.approx(0.0625 * 60 / 3600 * 0.44)
    assert glue_python_shell_cost(120, dpus=1.0) == pytest.approx(120 / 3600 * 0.44)
    with pytest.raises(ValueError, match=r"0\.0625 or 1 DPU"):
        glue_python_shell_cost(10, dpus=2)


def test_step_functions_and_s3_requests() -> None:
    assert step_functions_cost(40) == pytest.approx(40 * 0.000025)
    assert s3_requests_cost(puts=1000, gets=1000) == pytest.approx(0.005 + 0.0004)
    assert s3_requests_cost() == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lambda_cost(-1, 128), "duration_ms must be a number >= 0"),
        (lambda: lambda_cost(1, 128, architecture="sparc"), "architecture must be one of arm64, x86_64"),
        (lambda: glue_job_cost(1, worker_type="G.3X"), "unknown Glue worker type 'G.3X'"),
        (lambda: glue_job_cost(1, execution_class="SPOT"), "execution_class must be one of STANDARD, FLEX"),
        (lambda: glue_job_cost(float("nan")), "execution_seconds must be a number >= 0"),
        (lambda: step_functions_cost(-3), "transitions must be a number >= 0"),
    ],
)
def test_bad_arguments_say_what_is_wrong(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@given(
    seconds=st.floats(min_value=0, max_value=48 * 3600, allow_nan=False),
    workers=st.integers(min_value=2, max_value=100),
    longer=st.floats(min_value=0, max_value=3600, allow_nan=False),
)
def test_glue_cost_never_falls_as_a_run_gets_longer_and_flex_never_costs_more(seconds, workers, longer):
    cost = glue_job_cost(seconds, number_of_workers=workers)
    assert glue_job_cost(seconds + longer, number_of_workers=workers) >= cost
    assert glue_job_cost(seconds, number_of_workers=workers, execution_class="FLEX") <= cost
    assert cost >= glue_job_cost(0, number_of_workers=workers) > 0
