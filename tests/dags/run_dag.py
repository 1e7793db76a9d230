"""Runs the DAG once with ``dag.test()``, in the Airflow environment (.venv-airflow), and prints its outcome
as one JSON line: the DAG run's state, each task instance's state and the run records the DAG read.

    .venv-airflow/bin/python tests/dags/run_dag.py --dags-folder dags --logical-date 2026-12-08T00:00:00Z \\
        --conf '{"datasets": ["orders"]}'

The DAG folder, Airflow home, connection and Variables come from the environment (tests/dags/test_dag_run.py).
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from datetime import datetime

from airflow.models import DagBag

RESULT_MARK = "DAG-RESULT "


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dags-folder", required=True)
    parser.add_argument("--dag-id", default="tributary_batch")
    parser.add_argument("--logical-date", required=True, help="ISO-8601 with a zone")
    parser.add_argument("--conf", default="{}", help="the DAG run's conf (params), JSON")
    args = parser.parse_args()

    bag = DagBag(args.dags_folder, include_examples=False)
    if bag.import_errors:
        print(json.dumps(bag.import_errors), file=sys.stderr)
        return 2
    dag = bag.get_dag(args.dag_id)
    logical_date = datetime.fromisoformat(args.logical_date.replace("Z", "+00:00"))
    # Airflow 3 calls it logical_date, Airflow 2 execution_date.
    when = "logical_date" if "logical_date" in inspect.signature(dag.test).parameters else "execution_date"
    dag_run = dag.test(**{when: logical_date}, run_conf=json.loads(args.conf))
    tasks: dict[str, list[str]] = {}
    records = None
    for ti in dag_run.get_task_instances():
        tasks.setdefault(ti.task_id, []).append(str(ti.state))
        if ti.task_id == "read_run_records" and ti.state == "success":
            records = ti.xcom_pull(task_ids="read_run_records", key="return_value")
    result = {
        "state": str(dag_run.state),
        "data_interval": [str(dag_run.data_interval_start), str(dag_run.data_interval_end)],
        "tasks": tasks,
        "records": records,
    }
    print(RESULT_MARK + json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
