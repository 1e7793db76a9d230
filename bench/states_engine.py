"""State transitions per second: Tributary's Step Functions engine against moto 5.2.5's interpreter.

Two machines, each run by both engines in this process:
  (a) an inline Map over N items, each item through two Pass states;
  (b) a Choice loop of N iterations (Choice → Pass incrementing a counter → back).
A transition is one state entered (one `*StateEntered` event of our history); moto runs the same
definition, so it makes the same transitions. Run with `python -m bench.states_engine`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

GOAL_RATIO = 20.0


def map_machine() -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "First",
                    "States": {
                        "First": {"Type": "Pass", "Parameters": {"value.$": "$"}, "Next": "Second"},
                        "Second": {
                            "Type": "Pass",
                            "Parameters": {"doubled.$": "States.MathAdd($.value, $.value)"},
                            "End": True,
                        },
                    },
                },
                "End": True,
            }
        },
    }


def choice_loop_machine() -> dict[str, Any]:
    return {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Increment"}],
                "Default": "Done",
            },
            "Increment": {
                "Type": "Pass",
                "Parameters": {"i.$": "States.MathAdd($.i, 1)", "n.$": "$.n"},
                "Next": "Check",
            },
            "Done": {"Type": "Succeed"},
        },
    }


@dataclass
class Measure:
    seconds: float
    transitions: int

    @property
    def rate(self) -> float:
        return self.transitions / self.seconds if self.seconds else float("inf")


def run_ours(definition: dict[str, Any], execution_input: Any) -> tuple[float, int, str]:
    """Seconds, transitions and status of one run on our engine."""
    from tributary.states.execution import Execution

    execution = Execution(definition, execution_input)
    began = time.perf_counter()
    result = execution.run()
    seconds = time.perf_counter() - began
    transitions = sum(1 for e in execution.history.events if e["type"].endswith("StateEntered"))
    return seconds, transitions, result.status


def run_moto(definition: dict[str, Any], execution_input: Any, timeout: float) -> tuple[float, str]:
    """Seconds and status of one run on moto's interpreter (creation excluded, polling included)."""
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(
            name="bench", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/bench"
        )["stateMachineArn"]
        began = time.perf_counter()
        execution_arn = client.start_execution(stateMachineArn=arn, input=json.dumps(execution_input))[
            "executionArn"
        ]
        status = "RUNNING"
        while status == "RUNNING" and time.perf_counter() - began < timeout:
            status = client.describe_execution(executionArn=execution_arn)["status"]
            if status == "RUNNING":
                time.sleep(0.005)
        return time.perf_counter() - began, status


def compare(
    label: str, definition: dict[str, Any], execution_input: Any, timeout: float, repeat: int
) -> float:
    """Best of `repeat` runs on each engine (the machine is shared: the best run is the least disturbed)."""
    ours_runs = [run_ours(definition, execution_input) for _ in range(repeat)]
    moto_runs = [run_moto(definition, execution_input, timeout) for _ in range(repeat)]
    our_seconds, transitions, our_status = min(ours_runs)
    moto_seconds, moto_status = min(moto_runs)
    ours, moto = Measure(our_seconds, transitions), Measure(moto_seconds, transitions)
    ratio = ours.rate / moto.rate
    print(f"{label}: {transitions} transitions")
    print(f"  tributary {our_status:9s} {ours.seconds:8.3f} s  {ours.rate:12,.0f} transitions/s")
    print(f"  moto      {moto_status:9s} {moto.seconds:8.3f} s  {moto.rate:12,.0f} transitions/s")
    print(f"  ratio     {ratio:.1f}x (goal {GOAL_RATIO:g}x)", flush=True)
    if our_status != "SUCCEEDED" or moto_status != "SUCCEEDED":
        print("  warning: a run did not succeed, the rates do not compare like for like")
    return ratio


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.states_engine", description=__doc__)
    parser.add_argument("--items", type=int, default=1000, help="Map items (default 1000)")
    parser.add_argument("--iterations", type=int, default=1000, help="Choice loop iterations (default 1000)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for moto (default 600)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per engine, the best one counts (default 3)"
    )
    args = parser.parse_args(argv)
    cases: list[tuple[str, Callable[[], dict[str, Any]], Any]] = [
        (f"(a) inline Map, {args.items} items x 2 Pass", map_machine, {"items": list(range(args.items))}),
        (
            f"(b) Choice loop, {args.iterations} iterations",
            choice_loop_machine,
            {"i": 0, "n": args.iterations},
        ),
    ]
    ratios = [
        compare(label, make(), execution_input, args.timeout, max(1, args.repeat))
        for label, make, execution_input in cases
    ]
    worst = min(ratios)
    print(f"worst ratio {worst:.1f}x: goal of {GOAL_RATIO:g}x {'met' if worst >= GOAL_RATIO else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
