"""The scenarios of issue 8 (must-have 7). Each uploads generated objects, sets the faults it needs and
says why dead-letter messages are expected (usually: they are not). Sizes: full (`make chaos`) and
reduced (the CI test); the Task scenarios follow the state machine definition, so a new Task is
covered without an edit here."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tributary.chaos.data import ObjectSpec
from tributary.chaos.harness import REPO, Context, Named, Scenario
from tributary.chaos.invariants import LEFT_PUBLISHED_METRIC, RollbackFails

DEFINITION = REPO / "statemachine" / "pipeline.asl.json"
ROLLBACK = "UnpublishRun"  # the failure path's Map that drops a failed run's partitions


@dataclass(frozen=True)
class TaskState:
    name: str
    retried_error: str  # an error its Retry retries (what a transient failure looks like), else TaskFailed


# The transform Task of each path of ChooseTransformPath: a run takes one of them, never both.
TRANSFORM_TASKS = {"glue": "RunTransformJob", "lite": "RunSmallTransform"}
# The Tasks of a run whose quality rules fail (human approval, issue 12): the harness's data passes the
# gate and nobody decides, so no run reaches them; tests/statemachine covers their Retry and Catch rules
# and tests/local/test_approval_e2e.py their path.
APPROVAL_TASKS = {"AwaitApproval", "RecordDecision"}


def task_states(definition: Path = DEFINITION, path: str | None = None) -> list[TaskState]:
    """Every Task state of the definition (inside Parallel branches and Maps too), in document order;
    with a transform `path` ("glue" or "lite"), without the other path's transform Task, which no run
    of the harness reaches then."""
    skipped = {task for name, task in TRANSFORM_TASKS.items() if path is not None and name != path}
    skipped |= APPROVAL_TASKS
    return [t for t in _tasks_of(json.loads(definition.read_text())["States"]) if t.name not in skipped]


def rollback_tasks(definition: Path = DEFINITION) -> list[str]:
    """The Tasks of the rollback (UnpublishRun): when one fails for good the partitions may stay."""
    states = json.loads(definition.read_text())["States"]
    return [t.name for t in _tasks_of({ROLLBACK: states[ROLLBACK]})]


def alarm_tasks(definition: Path = DEFINITION) -> list[str]:
    """The Tasks that put the RunsLeftPublished metric (the alarm of a run left visible)."""
    namespace, metric = LEFT_PUBLISHED_METRIC
    found: list[str] = []

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            text = json.dumps(state.get("Arguments", {}))
            puts = state.get("Type") == "Task" and "putMetricData" in str(state.get("Resource"))
            if puts and f'"{metric}"' in text and f'"{namespace}"' in text:
                found.append(name)
            for branch in state.get("Branches", []):
                walk(branch["States"])
            for key in ("ItemProcessor", "Iterator"):
                if key in state:
                    walk(state[key]["States"])

    walk(json.loads(definition.read_text())["States"])
    return found


def _good(context: Context, label: str, files: int, rows: int = 5, clicks: int = 0) -> list[ObjectSpec]:
    data = context.data
    if context.dataset == "clicks":  # a scenario paired with one on orders
        files, clicks = 0, files + clicks
    specs = [
        data.orders(f"incoming/orders/{label}-{i:05d}.csv", rows, must_publish=True) for i in range(files)
    ]
    specs += [
        data.clicks(f"incoming/clicks/{label}-{i:05d}.jsonl", rows, must_publish=True) for i in range(clicks)
    ]
    return specs


def _either(specs: list[ObjectSpec]) -> list[ObjectSpec]:
    """Objects whose run may fail for good: published once or refused with a reason, both are right."""
    for spec in specs:
        spec.must_publish = False
    return specs


# -- the scenarios ----------------------------------------------------------------------------------------
def delivered_three_times(context: Context) -> str:
    files = context.settings.size(30, 4)
    for uploaded in context.upload(_good(context, "thrice", files)):
        context.redeliver(uploaded)
        context.redeliver(uploaded)
    return ""


def overwrites_in_window(context: Context) -> str:
    """Each key uploaded, then overwritten with other rows while the first version waits in the window."""
    keys = context.settings.size(20, 3)
    first = _good(context, "overwritten", keys)
    context.upload(first)
    time.sleep(0.5)
    make = context.data.orders if context.dataset == "orders" else context.data.clicks
    second = [make(spec.key, 5, must_publish=True) for spec in first]
    context.upload(second)
    return ""


def tasks_failing_once(context: Context) -> str:
    """Every Task of the definition fails once with an error its Retry retries. The normal path's
    Tasks in a batch of orders; the failure paths' Tasks in batches whose run is made to fail for good
    where a Catch leads there (`forcing_states`), on clicks at the same time, then two by two."""
    tasks = task_states(path=context.settings.transform_path)
    forcing = forcing_states()
    groups: dict[tuple[str, ...], list[str]] = {(): [t.name for t in tasks if t.name not in forcing]}
    for task in tasks:
        # (a Task reached only when a failure-path Task fails for good is left to its own scenario)
        if task.name in forcing and len(forcing[task.name]) == 1:
            groups.setdefault(tuple(forcing[task.name]), []).append(task.name)
    errors = {t.name: t.retried_error for t in tasks}
    waves = list(groups.items())
    for start in range(0, len(waves), 2):
        if start:
            context.wait_quiet()
        rules: list[dict[str, Any]] = []
        specs: list[ObjectSpec] = []
        for (forced, names), dataset in zip(waves[start : start + 2], ("orders", "clicks"), strict=False):
            scope = {"execution": f"{dataset}-"}
            rules += [
                {"id": f"{n} ({dataset})", "target": {"state": n}, "error": errors[n], "count": 1, **scope}
                for n in names
            ]
            rules += [{**rule, **scope, "id": f"{rule['id']} ({dataset})"} for rule in _forcing_rules(forced)]
            for i in range(context.settings.size(4, 2)):
                key = f"incoming/{dataset}/once-{start}-{i:05d}"
                spec = (
                    context.data.orders(f"{key}.csv", 5)
                    if dataset == "orders"
                    else context.data.clicks(f"{key}.jsonl", 5)
                )
                spec.must_publish = not forced  # a transient fault on the normal path: published
                specs.append(spec)
            if not forced:  # the job leaves this one out: QuarantineFailedObjects is reached
                specs.append(context.data.breaking_late(f"incoming/{dataset}/once-{start}-late", dataset))
        context.plan({"faults": rules})
        context.upload(specs)
    return ""


def _forcing_rules(tasks: Iterable[str]) -> list[dict[str, Any]]:
    return [{"id": f"force {t}", "target": {"state": t}, "error": "States.TaskFailed"} for t in tasks]


def task_failing_for_good(task: TaskState, forced_by: list[str]) -> Named:
    failing = {task.name, *forced_by}
    rollback_fails = None
    if failing & set(rollback_tasks()):  # a double fault: nothing can drop what its DROP cannot
        rollback_fails = RollbackFails(alarmed=not failing & set(alarm_tasks()))

    def scenario(context: Context) -> str:
        rule = {"id": task.name, "target": {"state": task.name}, "error": task.retried_error}
        # a failure-path Task: failures earlier in the run take the run there
        context.plan({"faults": [rule, *_forcing_rules(forced_by)]})
        specs = _either(_good(context, f"permanent-{task.name}", context.settings.size(4, 2)))
        if task.name == "QuarantineFailedObjects":  # reached when the job leaves an object out
            specs.append(
                context.data.breaking_late(f"incoming/{context.dataset}/permanent-late", context.dataset)
            )
        context.upload(specs)
        return ""

    return Named(f"Task {task.name} fails for good", scenario, pairable=True, rollback_fails=rollback_fails)


def single_fault(label: str, fault: dict[str, Any], full: int, *, publish: bool, clicks: int = 0) -> Scenario:
    """Good files under one fault: they must be published (`publish`: the fault is transient or after
    the commit point), or be published once or refused with a reason (the run may fail for good)."""

    def scenario(context: Context) -> str:
        context.plan({"seed": context.settings.seed, "faults": [fault]})
        specs = _good(context, label, context.settings.size(full, 2), clicks=clicks)
        context.upload(specs if publish else _either(specs))
        return ""

    return scenario


def bad_files_and_rows(context: Context) -> str:
    """A bad file or row of every kind, mixed into a batch of good files (which must all be published)."""
    data = context.data
    specs = _good(
        context, "mixed-good", context.settings.size(8, 3), rows=20, clicks=context.settings.size(4, 2)
    )
    specs += data.bad_objects("incoming/orders/mixed-bad-")
    specs.append(data.breaking_late("incoming/orders/mixed-bad-cut-past-sample", "orders"))
    context.upload(specs)
    # a re-uploaded key: the same key again with other good rows, in the same window
    again = data.orders(specs[0].key, 20, kind="re-uploaded key", must_publish=True)
    context.upload([again])
    return ""


def burst(context: Context) -> str:
    files = context.settings.size(5000, 150)
    data = context.data
    context.upload(
        [data.orders(f"incoming/orders/burst-{i:05d}.csv", 3, must_publish=True) for i in range(files)],
        threads=16,
    )
    return ""


def virtual_clock_scenarios(path: str = "glue") -> Iterator[Named]:
    """The scenarios on the virtual clock, for runs on the transform `path` (Settings.transform_path)."""
    yield Named("every object delivered three times", delivered_three_times)
    # no faults: it can run at the same time as a scenario on the other dataset
    yield Named("overwrites during the batch window", overwrites_in_window, pairable=True)
    yield Named("each Task fails once (transient)", tasks_failing_once)
    forcing = forcing_states()
    for task in task_states(path=path):
        yield task_failing_for_good(task, forcing.get(task.name, []))
    glue = {"glue_job": "TransformJob"}
    if path == "glue":  # the Glue job's faults fire only where runs reach it
        yield Named(
            "Glue run times out",
            single_fault(
                "glue-timeout", {"target": glue, "action": "timeout", "delay_seconds": 4}, 5, publish=False
            ),
            pairable=True,
        )
    throttle = {"target": {"api": "athena:StartQueryExecution"}, "error": "TooManyRequestsException"}
    yield Named(
        "Athena throttling (50%)",
        single_fault("athena-throttled", {**throttle, "percentage": 50}, 8, publish=True, clicks=1),
        pairable=True,
    )
    sns = {"target": {"api": "sns:Publish"}, "error": "InternalError"}  # after the commit point
    yield Named("SNS down", single_fault("sns-down", sns, 5, publish=True), pairable=True)
    for function, publish in (("TriggerFunction", True), ("ValidateFunction", False)):
        # The trigger's batch comes back from SQS; validate's Task sees Runtime.ExitError.
        kill = {"target": {"function": function}, "action": "kill", "delay_seconds": 0.5, "count": 1}
        label = function.removesuffix("Function").lower()
        yield Named(
            f"{label} worker killed mid-way", single_fault(f"{label}-killed", kill, 5, publish=publish)
        )
    if path == "glue":
        kill = {"target": glue, "action": "kill", "delay_seconds": 8, "count": 1}
        yield Named(
            "Glue process killed mid-way", single_fault("glue-killed", kill, 5, publish=False), pairable=True
        )
    yield Named("a bad file or row of every kind", bad_files_and_rows)


def real_clock_scenarios(path: str = "glue") -> Iterator[Named]:
    limit = {"target": {"api": "glue:StartJobRun"}, "error": "ConcurrentRunsExceededException", "count": 1}
    if path == "glue":
        yield Named(  # at the reduced size on the virtual clock, paired (an api fault: scoped)
            "Glue concurrent-run limit",
            single_fault("glue-concurrency", limit, 5, publish=True),
            clock="real",
            pairable=True,
        )
    yield Named("burst of small files", burst, clock="real")


def forcing_states(definition_path: Path = DEFINITION) -> dict[str, list[str]]:
    """For each Task a Catch leads to (the failure paths): the Tasks to fail for good so that the run
    goes there: the normal path's latest such Task (a failure after partitions were registered, the
    hardest case for the failure path), then the failure path's own."""
    definition = json.loads(definition_path.read_text())
    states = definition["States"]

    def reach(starts: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(starts)
        while todo:
            name = todo.pop()
            if name in seen or name not in states:
                continue
            seen.add(name)
            state = states[name]
            todo += [n for n in (state.get("Next"), state.get("Default")) if n]
            todo += [c["Next"] for c in state.get("Choices", []) if "Next" in c]
        return seen

    def tasks_in(top: set[str]) -> list[str]:
        found = []
        for name in [n for n in states if n in top]:  # document order
            found += [t.name for t in _tasks_of({name: states[name]})]
        return found

    normal = reach([definition["StartAt"]])
    forcing: dict[str, list[str]] = {}
    for _ in range(3):  # failure paths of failure paths (a Catch on the rollback) too
        for name in states:
            if name not in normal and not any(t in forcing for t in tasks_in({name})):
                continue
            catches = [c["Next"] for c in states[name].get("Catch", [])]
            first = tasks_in({name})
            if not catches or not first or first[0] in APPROVAL_TASKS:  # never reached (APPROVAL_TASKS)
                continue
            chain = [*forcing.get(first[0], []), first[0]]
            latest = name in normal and first[0] not in forcing  # a normal-path Task, not a failure path's
            for task in tasks_in(reach(catches)):
                if task not in chain and (task not in forcing or latest):
                    forcing[task] = chain  # the latest catching state: a failure after the most work
    return forcing


def _tasks_of(states: dict[str, Any]) -> list[TaskState]:
    found: list[TaskState] = []
    for name, state in states.items():
        if state.get("Type") == "Task":
            errors = [e for r in state.get("Retry", []) for e in r.get("ErrorEquals", [])]
            named = [e for e in errors if e not in ("States.ALL", "States.TaskFailed", "States.Timeout")]
            found.append(TaskState(name, named[0] if named else "States.TaskFailed"))
        for branch in state.get("Branches", []):
            found += _tasks_of(branch["States"])
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found += _tasks_of(state[key]["States"])
    return found
