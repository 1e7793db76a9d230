"""Parallel and Map: failures of a branch or an iteration, tolerated failures of a distributed Map,
ItemReader / ItemBatcher / ResultWriter through an S3 integration, and variable scopes."""

from __future__ import annotations

import json

import pytest

from tributary.states import Execution, IntegrationRegistry, execute
from tributary.states.errors import StatesError


def fail_on(values):
    """A task failing for the items named in `values`, echoing the others."""

    def run(call):
        if call.arguments in values:
            raise StatesError("ItemFailed", f"item {call.arguments}")
        return call.arguments

    return run


def map_state(mode="INLINE", **fields):
    return {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {
                "Mode": mode,
                **({"ExecutionType": "STANDARD"} if mode == "DISTRIBUTED" else {}),
            },
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}},
        },
        **fields,
    }


def test_inline_map_fails_with_the_iteration_error_and_can_be_caught(kit):
    catcher = {"ErrorEquals": ["ItemFailed"], "ResultPath": "$.error", "Next": "After"}
    definition = kit.machine(
        ("M", map_state(ItemsPath="$.items", Catch=[catcher])), ("After", {"Type": "Pass"})
    )
    definition["States"]["M"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["M"]["End"] = True
    result = execute(definition, {"items": [1, 2, 3]}, integrations=kit.Scripted(fail_on([2])))
    assert json.loads(result.output)["error"] == {"Error": "ItemFailed", "Cause": "item 2"}


def test_map_retry_reruns_the_whole_map(kit):
    integration = kit.Scripted(1, StatesError("Flaky", ""), 1, 2)
    state = map_state(Retry=[{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1}])
    result = execute(kit.machine(("M", state)), [1, 2], integrations=integration)
    assert json.loads(result.output) == [1, 2]
    assert len(integration.calls) == 4


@pytest.mark.parametrize(
    ("tolerance", "status"),
    [
        ({}, "FAILED"),
        ({"ToleratedFailureCount": 1}, "FAILED"),
        ({"ToleratedFailureCount": 2}, "SUCCEEDED"),
        ({"ToleratedFailurePercentage": 40}, "SUCCEEDED"),
        ({"ToleratedFailurePercentage": 39.9}, "FAILED"),
        ({"ToleratedFailureCount": 5, "ToleratedFailurePercentage": 10}, "FAILED"),
        ({"ToleratedFailureCount": 1, "ToleratedFailurePercentage": 100}, "FAILED"),
        ({"ToleratedFailureCount": 2, "ToleratedFailurePercentage": 40}, "SUCCEEDED"),
    ],
)
def test_distributed_map_tolerated_failures(kit, tolerance, status):
    state = map_state("DISTRIBUTED", **tolerance)
    result = execute(kit.machine(("M", state)), [1, 2, 3, 4, 5], integrations=kit.Scripted(fail_on([2, 4])))
    assert result.status == status
    if status == "FAILED":
        assert result.error == "States.ExceedToleratedFailureThreshold"
    else:
        output = json.loads(result.output)
        assert [output[0], output[2], output[4]] == [1, 3, 5]
        assert output[1] == {"Error": "ItemFailed", "Cause": "item 2"}


def test_item_selector_sees_index_and_value(kit):
    state = map_state(
        ItemSelector={"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "k.$": "$.k"}, ItemsPath="$.xs"
    )
    integration = kit.Scripted(lambda call: call.arguments)
    result = execute(kit.machine(("M", state)), {"xs": ["a", "b"], "k": 0}, integrations=integration)
    assert json.loads(result.output) == [{"i": 0, "v": "a", "k": 0}, {"i": 1, "v": "b", "k": 0}]


def distributed_with_reader(reader_config, key="in/items"):
    return map_state(
        "DISTRIBUTED",
        ItemReader={
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": reader_config,
            "Parameters": {"Bucket": "b", "Key": key},
        },
    )


@pytest.mark.parametrize(
    ("config", "body", "items"),
    [
        ({"InputType": "JSON"}, '[{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}]),
        ({"InputType": "JSONL"}, '{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
        (
            {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
            "id,name\n1,x\n2,y\n",
            [{"id": "1", "name": "x"}, {"id": "2", "name": "y"}],
        ),
        (
            {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["id"], "MaxItems": 1},
            "7\n8\n",
            [{"id": "7"}],
        ),
    ],
)
def test_item_reader_reads_objects_through_the_s3_integration(kit, config, body, items):
    integrations = IntegrationRegistry(
        {"s3": kit.S3({"b/in/items": body}), "lambda": kit.Scripted(lambda c: c.arguments)}
    )
    result = execute(kit.machine(("M", distributed_with_reader(config))), {}, integrations=integrations)
    assert json.loads(result.output) == items


def test_item_reader_failure_is_item_reader_failed(kit):
    integrations = IntegrationRegistry({"s3": kit.S3({}), "lambda": kit.Scripted({})})
    result = execute(
        kit.machine(("M", distributed_with_reader({"InputType": "JSON"}))), {}, integrations=integrations
    )
    assert (result.status, result.error) == ("FAILED", "States.ItemReaderFailed")


def test_item_batcher_groups_items_with_batch_input(kit):
    state = map_state("DISTRIBUTED", ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"run": "r1"}})
    result = execute(kit.machine(("M", state)), [1, 2, 3], integrations=kit.Scripted(lambda c: c.arguments))
    assert json.loads(result.output) == [{"run": "r1", "Items": [1, 2]}, {"run": "r1", "Items": [3]}]


def test_result_writer_puts_results_and_a_manifest(kit):
    s3 = kit.S3({})
    state = map_state(
        "DISTRIBUTED",
        ToleratedFailureCount=1,
        ResultWriter={
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "out", "Prefix": "runs"},
        },
    )
    integrations = IntegrationRegistry({"s3": s3, "lambda": kit.Scripted(fail_on([2]))})
    result = execute(kit.machine(("M", state)), [1, 2, 3], integrations=integrations)
    output = json.loads(result.output)
    manifest_key = output["ResultWriterDetails"]["Key"]
    assert output["ResultWriterDetails"]["Bucket"] == "out"
    manifest = json.loads(s3.objects[f"out/{manifest_key}"])
    succeeded_key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    succeeded = json.loads(s3.objects[f"out/{succeeded_key}"])
    assert [json.loads(entry["Output"]) for entry in succeeded] == [1, 3]
    failed = json.loads(s3.objects[f"out/{manifest['ResultFiles']['FAILED'][0]['Key']}"])
    assert [entry["Error"] for entry in failed] == ["ItemFailed"]


def parallel(*branch_states):
    return {
        "Type": "Parallel",
        "Branches": [{"StartAt": "B", "States": {"B": {**state, "End": True}}} for state in branch_states],
    }


def test_parallel_outputs_in_branch_order(kit):
    state = parallel({"Type": "Pass", "Result": 1}, {"Type": "Pass", "Result": 2})
    assert json.loads(execute(kit.machine(("P", state)), {}).output) == [1, 2]


def test_parallel_branch_failure_is_caught_with_its_error(kit):
    failing = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}
    state = {
        **parallel({"Type": "Pass"}, failing),
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "After"}],
    }
    definition = kit.machine(("P", state), ("After", {"Type": "Pass"}))
    definition["States"]["P"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["P"]["End"] = True
    result = execute(definition, {}, integrations=kit.Scripted(StatesError("Branch.Broke", "b2")))
    assert json.loads(result.output) == {"Error": "Branch.Broke", "Cause": "b2"}


def test_fail_state_in_a_branch_fails_the_execution(kit):
    state = parallel({"Type": "Pass"}, {"Type": "Fail", "Error": "Nope", "Cause": "in branch"})
    state["Branches"][1]["States"]["B"].pop("End")
    result = execute(kit.machine(("P", state)), {})
    assert (result.status, result.error, result.cause) == ("FAILED", "Nope", "in branch")


def test_inner_assignments_stay_inside_the_iteration(kit):
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Assign": {"x": 1}, "Next": "M"},
            "M": {
                "Type": "Map",
                "Items": [10, 20],
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Inner",
                    "States": {
                        "Inner": {
                            "Type": "Pass",
                            "Assign": {"y": "{% $states.input + $x %}"},
                            "Next": "Read",
                        },
                        "Read": {"Type": "Pass", "Output": "{% $y %}", "End": True},
                    },
                },
                "Next": "Out",
            },
            "Out": {"Type": "Pass", "Output": "{% {'results': $states.input, 'x': $x} %}", "End": True},
        },
    }
    result = execute(definition, {})
    assert json.loads(result.output) == {"results": [11, 21], "x": 1}


def test_map_history_has_iteration_events(kit):
    execution = Execution(
        kit.machine(("M", map_state())), [1, 2], integrations=kit.Scripted(lambda c: c.arguments)
    )
    execution.run()
    types = [e["type"] for e in execution.history.events]
    assert types.count("MapIterationStarted") == 2
    assert types.count("MapIterationSucceeded") == 2
    started = next(e for e in execution.history.events if e["type"] == "MapStateStarted")
    assert started["mapStateStartedEventDetails"] == {"length": 2}
    iteration = next(e for e in execution.history.events if e["type"] == "MapIterationStarted")
    assert iteration["mapIterationStartedEventDetails"] == {"name": "M", "index": 0}


def test_on_the_real_clock_a_failed_branch_ends_its_waiting_siblings(kit):
    from tributary.states import RealClock

    state = parallel(
        {"Type": "Wait", "Seconds": 3600},
        {"Type": "Fail", "Error": "Early", "Cause": "branch two"},
    )
    state["Branches"][1]["States"]["B"].pop("End")
    execution = Execution(kit.machine(("P", state)), {}, clock=RealClock()).start()
    assert execution.wait(10)
    assert (execution.status, execution.error) == ("FAILED", "Early")


def test_on_the_real_clock_stop_reaches_threaded_iterations(kit):
    from tributary.states import RealClock

    state = map_state(MaxConcurrency=2)
    state["ItemProcessor"]["States"]["Work"] = {"Type": "Wait", "Seconds": 3600, "End": True}
    execution = Execution(kit.machine(("M", state)), [1, 2, 3], clock=RealClock()).start()
    assert not execution.wait(0.1)
    execution.stop()
    assert execution.wait(10)
    assert execution.status == "ABORTED"


class PagedListing:
    """An `s3` integration whose listObjectsV2 answers two keys a page."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.requests: list[dict] = []

    def invoke(self, call):
        self.requests.append(call.arguments)
        start = int(call.arguments.get("ContinuationToken", 0))
        page = self.keys[start : start + 2]
        more = start + 2 < len(self.keys)
        answer = {"Contents": [{"Key": k} for k in page], "IsTruncated": more}
        if more:
            answer["NextContinuationToken"] = str(start + 2)
        return answer


def test_item_reader_follows_list_pages(kit):
    listing = PagedListing(["a", "b", "c", "d", "e"])
    state = map_state(
        "DISTRIBUTED",
        ItemReader={
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": "b", "Prefix": "in/"},
        },
        ItemSelector={"key.$": "$$.Map.Item.Value.Key"},
    )
    integrations = IntegrationRegistry({"s3": listing, "lambda": kit.Scripted(lambda c: c.arguments["key"])})
    result = execute(kit.machine(("M", state)), {}, integrations=integrations)
    assert json.loads(result.output) == ["a", "b", "c", "d", "e"]
    assert [r.get("ContinuationToken") for r in listing.requests] == [None, "2", "4"]
