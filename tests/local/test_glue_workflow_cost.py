"""The orchestrators' cost per run (bench/orchestrators.py) follows the cost model and the measured
usage: the Glue Workflow run is one Spark job run at least (the one-minute minimum) plus the Python shell
publish step, MWAA adds its environment's hours shared by the runs of a day."""

from __future__ import annotations

import dataclasses

import pytest
from etl_common.cost import glue_job_cost, glue_python_shell_cost, mwaa_environment_cost

from bench import orchestrators
from bench.cost import total_cost


def test_the_workflow_run_is_a_spark_minute_and_a_python_shell_minute_at_least() -> None:
    runs = orchestrators.reference_runs()
    glue = runs["one run of 1 file (glue)"]
    floor = glue_job_cost(0) + glue_python_shell_cost(0, 0.0625)
    cost = orchestrators.glue_workflow_cost(glue)
    assert floor < cost < floor + 0.001  # the rest: SQS and S3 requests, fractions of a cent
    # a transform that runs ten minutes costs the workflow what it costs the state machine's Glue path
    longer = dataclasses.replace(glue, glue_seconds=[600.0])
    assert orchestrators.glue_workflow_cost(longer) - cost == pytest.approx(
        total_cost(longer) - total_cost(glue)
    )


def test_mwaa_adds_its_environment_shared_by_the_days_runs() -> None:
    hourly = orchestrators.run_costs(runs_per_day=24)
    twice = orchestrators.run_costs(runs_per_day=48)
    assert hourly.mwaa_per_run == pytest.approx(mwaa_environment_cost(1))
    assert twice.mwaa_per_run == pytest.approx(hourly.mwaa_per_run / 2)
    assert hourly.step_functions_glue == twice.step_functions_glue > hourly.step_functions_lite
    table = orchestrators.markdown(hourly)
    assert f"${hourly.glue_workflow:.4f}" in table and "mw1.small" in table


def test_bad_inputs_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="runs per day"):
        orchestrators.run_costs(runs_per_day=0)
    with pytest.raises(ValueError, match=r"no MWAA price for environment class 'mw1\.huge'"):
        mwaa_environment_cost(1, "mw1.huge")
    with pytest.raises(SystemExit):
        orchestrators.main(["--runs-per-day", "-1"])
