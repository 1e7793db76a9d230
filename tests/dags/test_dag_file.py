"""The DAG file as MWAA's scheduler parses it: the provider's Step Functions operator and sensor do the
starting and waiting (no boto3 of our own, no polling loop), nothing reads Airflow's database or AWS at
parse time, and the helper package needs nothing beyond the standard library (MWAA installs only what
requirements.txt names). Read with ast, in the project's environment; test_dag_run.py runs it for real."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILE = DAGS / "tributary_batch.py"
PROVIDER = "airflow.providers.amazon.aws"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(tree: ast.Module) -> dict[str, str]:
    """Imported name → module it comes from (top-level modules for `import x`)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name] = alias.name
    return names


def _calls(tree: ast.AST) -> list[str]:
    """Dotted names of every call: `StepFunctionExecutionSensor.partial`, `Variable.get`, ..."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts = []
            target = node.func
            while isinstance(target, ast.Attribute):
                parts.append(target.attr)
                target = target.value
            if isinstance(target, ast.Name):
                parts.append(target.id)
            found.append(".".join(reversed(parts)))
    return found


def test_the_provider_operator_starts_and_its_sensor_waits() -> None:
    tree = _tree(DAG_FILE)
    imported = _imported(tree)
    assert imported["StepFunctionStartExecutionOperator"] == f"{PROVIDER}.operators.step_function"
    assert imported["StepFunctionExecutionSensor"] == f"{PROVIDER}.sensors.step_function"
    calls = _calls(tree)
    assert "StepFunctionStartExecutionOperator.partial" in calls
    assert "StepFunctionExecutionSensor.partial" in calls
    # The run records are read through the provider's hooks, which take the Airflow connection.
    assert imported["DynamoDBHook"] == f"{PROVIDER}.hooks.dynamodb"
    assert imported["S3Hook"] == f"{PROVIDER}.hooks.s3"


def test_no_client_of_our_own_and_no_polling_loop() -> None:
    tree = _tree(DAG_FILE)
    modules = set(_imported(tree).values())
    assert not {m for m in modules if m.split(".")[0] in {"boto3", "botocore", "time"}}, modules
    calls = _calls(tree)
    assert not [c for c in calls if c.endswith(("get_execution_history", "sleep"))]
    assert not [c for c in calls if c.endswith(("boto3.client", "boto3.resource", "Session"))]
    # No while loop polls anything: the only loop is DynamoDB's pagination of a query.
    loops = [node for node in ast.walk(tree) if isinstance(node, ast.While)]
    assert len(loops) == 1
    assert any(c.endswith("runs.query") for c in _calls(loops[0]))
    # The one DescribeExecution asks whether a QUEUED run's execution exists at all, once per run.
    describing = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and any(c.endswith("describe_execution") for c in _calls(node))
    ]
    assert describing == ["_never_started"]


def test_nothing_runs_against_the_database_or_aws_at_parse_time() -> None:
    """Only module-level code runs when the scheduler parses the file: it may read the environment and
    declare the DAG, but not fetch Variables, connections or AWS."""
    tree = _tree(DAG_FILE)
    top_level = [node for node in tree.body if not isinstance(node, ast.FunctionDef | ast.ClassDef)]
    decorators = [d for node in tree.body if isinstance(node, ast.FunctionDef) for d in node.decorator_list]
    calls = [c for node in top_level + decorators for c in _calls(node)]
    assert not [c for c in calls if "Variable" in c or "Hook" in c or "get_connection" in c], calls
    assert "tributary_batch" in calls  # the DAG is declared, under the name of its function
    dag_decorator = next(d for d in decorators if isinstance(d, ast.Call) and _calls(d)[0] == "dag")
    keywords = {k.arg: k.value for k in dag_decorator.keywords}
    assert ast.unparse(keywords["max_active_runs"]) == "1"  # two DAG runs must not plan the same objects
    params = keywords["params"]
    assert isinstance(params, ast.Dict)
    assert {ast.literal_eval(key) for key in params.keys if key is not None} == {
        "datasets",
        "start",
        "end",
        "state_machine_arn",
        "aws_conn_id",
        "max_objects_per_run",
        "resume_queued_after_minutes",
    }


def test_the_helper_package_needs_only_the_standard_library() -> None:
    for path in sorted((DAGS / "tributary_mwaa").glob("*.py")):
        modules = {m.split(".")[0] for m in _imported(_tree(path)).values()}
        assert modules <= set(sys.stdlib_module_names) | {"__future__"}, (path.name, modules)
    dag_modules = {m.split(".")[0] for m in _imported(_tree(DAG_FILE)).values()}
    assert dag_modules <= set(sys.stdlib_module_names) | {"__future__", "airflow", "tributary_mwaa"}
