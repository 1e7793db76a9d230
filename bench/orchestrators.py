"""Cost per run of the three orchestrators of this pipeline, from the cost model (etl_common.cost) and
the usage measured on the local stack (bench/cost-reference.json, `python -m bench.cost`):

- Step Functions (template.yaml, the main pipeline): the measured run, priced by bench.cost.
- Airflow / MWAA (dags/): the DAG starts the same state machine, so the same run, plus the MWAA
  environment's hours (billed while it exists) shared by the runs of a day.
- Glue Workflows (templates/glue-workflow.yaml): no Step Functions, Lambda or DynamoDB; one Glue Spark
  job run (validation and glue/transform.py; the one-minute minimum of GlueNumberOfWorkers x G.1X), one
  Python shell run (publish: 0.0625 DPU, one-minute minimum), the SQS requests of the events' queue, and
  the S3 requests the main pipeline's Glue run made (an upper bound: no run record or lineage here).
  Workflows, triggers, EventBridge's delivery of AWS service events and the first million Glue catalog
  requests a month cost nothing.

    python -m bench.orchestrators [--runs-per-day 24] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions" / "common"))

from etl_common.cost import (  # noqa: E402
    US_EAST_1,
    glue_job_cost,
    glue_python_shell_cost,
    mwaa_environment_cost,
    s3_requests_cost,
    sqs_requests_cost,
)

from bench.cost import REFERENCE, Measured, total_cost  # noqa: E402

MAIN_RUN = "one run of 1 file ({path})"
# The workflow template's defaults (templates/glue-workflow.yaml): G.1X x 2, STANDARD.
WORKFLOW_WORKERS = ("G.1X", 2)
PUBLISH_DPUS = 0.0625
# SQS requests per event of a batch: EventBridge's SendMessage, the step's DeleteMessage, and its share
# of the ReceiveMessage calls (10 messages each; one more call that comes back empty at most).
SQS_PER_EVENT = 2


@dataclass(frozen=True)
class RunCosts:
    step_functions_lite: float
    step_functions_glue: float
    glue_workflow: float
    mwaa_per_run: float  # the environment's share per run, on top of a Step Functions run
    runs_per_day: float


def reference_runs(reference: Path = REFERENCE) -> dict[str, Measured]:
    document = json.loads(reference.read_text())
    return {item["label"]: Measured.from_json(item) for item in document["measured"]}


def glue_workflow_cost(glue_run: Measured, events: int = 1) -> float:
    """One workflow run of a batch of `events` uploads (one dataset), from the Glue run's usage."""
    worker_type, workers = WORKFLOW_WORKERS
    transform = sum(
        glue_job_cost(seconds, worker_type=worker_type, number_of_workers=workers)
        for seconds in glue_run.glue_seconds
    )
    publish = glue_python_shell_cost(60, PUBLISH_DPUS)  # a few seconds, billed as the minute
    requests = sqs_requests_cost(SQS_PER_EVENT * events + -(-events // 10) + 1)
    storage = s3_requests_cost(glue_run.s3_put_requests, glue_run.s3_get_requests)
    return transform + publish + requests + storage


def run_costs(runs_per_day: float = 24, reference: Path = REFERENCE) -> RunCosts:
    if runs_per_day <= 0:
        raise ValueError(f"runs per day must be positive, not {runs_per_day}")
    runs = reference_runs(reference)
    lite, glue = runs[MAIN_RUN.format(path="lite")], runs[MAIN_RUN.format(path="glue")]
    return RunCosts(
        step_functions_lite=total_cost(lite),
        step_functions_glue=total_cost(glue),
        glue_workflow=glue_workflow_cost(glue),
        mwaa_per_run=mwaa_environment_cost(24) / runs_per_day,
        runs_per_day=runs_per_day,
    )


def markdown(costs: RunCosts) -> str:
    day = mwaa_environment_cost(24)
    mwaa = costs.step_functions_glue + costs.mwaa_per_run
    share = f"${costs.mwaa_per_run:.4f} of it: mw1.small, ${day:.2f}/day over {costs.runs_per_day:g} runs"
    return "\n".join(
        [
            "| One small run (1 file) | Cost per run |",
            "|---|---|",
            f"| Step Functions, small-run path (Lambda) | ${costs.step_functions_lite:.4f} |",
            f"| Step Functions, Glue path | ${costs.step_functions_glue:.4f} |",
            f"| MWAA DAG → the state machine (Glue path) | ${mwaa:.4f} ({share}) |",
            f"| Glue Workflow (Spark step + Python shell publish) | ${costs.glue_workflow:.4f} |",
            "",
            f"Prices: etl_common.cost, {US_EAST_1.region}, checked {US_EAST_1.checked}; MWAA: "
            f"{US_EAST_1.sources['mwaa']}.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.orchestrators", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--runs-per-day", type=float, default=24, help="runs sharing an MWAA day (default 24)"
    )
    args = parser.parse_args(argv)
    if args.runs_per_day <= 0:
        parser.error("--runs-per-day must be positive")
    print(markdown(run_costs(args.runs_per_day)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
