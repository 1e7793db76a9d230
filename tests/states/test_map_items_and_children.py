"""The Map state's items typed when the definition is loaded (`ItemsPath` in JSONPath, `Items` in
JSONata, one `Field` like MaxConcurrency or ToleratedFailureCount), and the context object a Map
iteration sees: a distributed Map's child workflow execution is an execution of its own (its
`$$.Execution` holds its own ARN, name, start time and input, and the role it runs with, the
parent's), while an inline Map's iterations run inside the parent's execution and see its
`$$.Execution`."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from tributary.states import Execution, IntegrationRegistry, VirtualClock
from tributary.states.definition import ABSENT, DefinitionError
from tributary.states.state import load_machine
from tributary.states.state.map import MapState
from tributary.states.state.map_io import PayloadTemplate
from tributary.states.value_source import ExpressionValue, LiteralValue, PathValue

MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders"
ROLE_ARN = "arn:aws:iam::123456789012:role/orders-workflow"


def map_machine(language: str = "JSONPath", **fields: Any) -> dict[str, Any]:
    state = {
        "Type": "Map",
        "ItemProcessor": {"StartAt": "Each", "States": {"Each": {"Type": "Pass", "End": True}}},
        "End": True,
        **fields,
    }
    return {"QueryLanguage": language, "StartAt": "M", "States": {"M": state}}


def loaded_map(definition: dict[str, Any]) -> MapState:
    state = load_machine(definition).states["M"]
    assert isinstance(state, MapState)
    return state


# --- Items / ItemsPath, typed at load ------------------------------------------------------------


def test_itemspath_is_loaded_as_the_path_of_the_items_field() -> None:
    items = loaded_map(map_machine(ItemsPath="$.orders")).items
    assert (items.name, items.path, items.value) == ("Items", "$.orders", ABSENT)
    assert items.given


def test_jsonata_items_are_loaded_as_the_value_of_the_items_field() -> None:
    expression = loaded_map(map_machine("JSONata", Items="{% $states.input.orders %}")).items
    assert (expression.value, expression.path) == ("{% $states.input.orders %}", None)
    array = loaded_map(map_machine("JSONata", Items=[1, "{% 1 + 1 %}"])).items
    assert array.value == [1, "{% 1 + 1 %}"]


def test_a_map_without_items_field_takes_its_input() -> None:
    for language in ("JSONPath", "JSONata"):
        items = loaded_map(map_machine(language)).items
        assert not items.given
        result = Execution(map_machine(language), [1, 2]).run()
        assert (result.status, json.loads(result.output or "null")) == ("SUCCEEDED", [1, 2])


@pytest.mark.parametrize(
    ("language", "fields", "problem"),
    [
        ("JSONPath", {"ItemsPath": 3}, "ItemsPath must be a string, not 3"),
        ("JSONPath", {"ItemsPath": ["$.a"]}, 'ItemsPath must be a string, not ["$.a"]'),
        ("JSONata", {"Items": "$states.input"}, "Items must be a JSON array or a JSONata expression"),
        ("JSONata", {"Items": {"a": 1}}, "Items must be a JSON array or a JSONata expression"),
        ("JSONata", {"Items": 5}, "not 5"),
        # Each language's own field: the other one is refused, not ignored.
        ("JSONPath", {"Items": [1, 2]}, "The field 'Items' is not supported for the JSONPath query language"),
        (
            "JSONata",
            {"ItemsPath": "$.a"},
            "The field 'ItemsPath' is not supported for the JSONata query language",
        ),
    ],
)
def test_items_of_the_wrong_type_are_refused_when_loading(language: str, fields: Any, problem: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        load_machine(map_machine(language, **fields))
    assert problem in str(refused.value)
    assert "States.M" in str(refused.value)


def test_items_are_refused_before_the_execution_starts() -> None:
    with pytest.raises(DefinitionError):
        Execution(map_machine("JSONata", Items="not an expression"), {})


def test_items_in_a_nested_map_are_checked_at_their_place() -> None:
    inner = map_machine("JSONata", Items=True)["States"]["M"]
    outer = map_machine("JSONata", Items=[[1]])
    outer["States"]["M"]["ItemProcessor"] = {"StartAt": "Inner", "States": {"Inner": inner}}
    with pytest.raises(DefinitionError) as refused:
        load_machine(outer)
    assert "States.M.ItemProcessor.States.Inner" in str(refused.value)


def test_the_loaded_items_field_is_what_runs() -> None:
    by_path = Execution(map_machine(ItemsPath="$.orders"), {"orders": ["a", "b"]}).run()
    assert json.loads(by_path.output or "null") == ["a", "b"]
    array = Execution(map_machine("JSONata", Items=[1, "{% $states.input.n %}"]), {"n": 2}).run()
    assert json.loads(array.output or "null") == [1, 2]
    expression = Execution(map_machine("JSONata", Items="{% $states.input.orders %}"), {"orders": [3]}).run()
    assert json.loads(expression.output or "null") == [3]
    not_array = Execution(map_machine("JSONata", Items="{% $states.input.n %}"), {"n": 2}).run()
    assert (not_array.status, not_array.error) == ("FAILED", "States.QueryEvaluationError")


def test_the_map_numeric_fields_are_typed_at_load_too() -> None:
    by_path = loaded_map(
        map_machine(
            MaxConcurrencyPath="$.n", ToleratedFailureCount=2, ItemBatcher={"MaxItemsPerBatchPath": "$.b"}
        )
    )
    assert by_path.max_concurrency.source == PathValue("MaxConcurrencyPath", "$.n")
    assert by_path.tolerated_failure_count.source == LiteralValue("ToleratedFailureCount", 2)
    assert not by_path.tolerated_failure_percentage.given
    assert by_path.item_batcher is not None
    assert by_path.item_batcher.max_items.source == PathValue("MaxItemsPerBatchPath", "$.b")

    by_expression = loaded_map(
        map_machine(
            "JSONata",
            MaxConcurrency="{% $states.input.n %}",
            ToleratedFailurePercentage=10,
            ItemBatcher={"MaxItemsPerBatch": "{% $states.input.b %}"},
        )
    )
    assert isinstance(by_expression.max_concurrency.source, ExpressionValue)
    assert by_expression.tolerated_failure_percentage.source == LiteralValue("ToleratedFailurePercentage", 10)
    assert by_expression.item_batcher is not None
    batch_size = by_expression.item_batcher.max_items.source
    assert isinstance(batch_size, ExpressionValue) and batch_size.label == "ItemBatcher/MaxItemsPerBatch"


def test_the_typed_numeric_fields_are_what_runs() -> None:
    jsonata = map_machine(
        "JSONata",
        Items="{% $states.input.items %}",
        ItemBatcher={"MaxItemsPerBatch": "{% $states.input.b %}"},
    )
    batched = Execution(jsonata, {"items": [1, 2, 3], "b": 2}).run()
    assert json.loads(batched.output or "null") == [{"Items": [1, 2]}, {"Items": [3]}]
    jsonpath = map_machine(ItemsPath="$.items", MaxConcurrencyPath="$.n")
    refused = Execution(jsonpath, {"items": [1], "n": "many"}).run()
    assert (refused.status, refused.error) == ("FAILED", "States.Runtime")
    assert (refused.cause or "").endswith(
        'The MaxConcurrencyPath field refers to value "many" which is not a valid integer: $.n'
    )


def test_item_selector_and_batch_input_are_loaded_as_templates_of_their_language() -> None:
    selector = {"order.$": "$$.Map.Item.Value"}
    jsonpath = loaded_map(map_machine(ItemSelector=selector, ItemBatcher={"BatchInput": {"run.$": "$.run"}}))
    assert jsonpath.item_selector == PayloadTemplate("ItemSelector", selector)
    assert jsonpath.item_batcher is not None
    assert jsonpath.item_batcher.batch_input == PayloadTemplate("BatchInput", {"run.$": "$.run"})
    legacy = loaded_map(map_machine(Parameters=selector))
    assert legacy.item_selector == PayloadTemplate("Parameters", selector)

    jsonata = loaded_map(
        map_machine(
            "JSONata",
            ItemSelector={"order": "{% $states.context.Map.Item.Value %}", "fixed": 1},
            ItemBatcher={"BatchInput": {"run": 7}},
        )
    )
    assert isinstance(jsonata.item_selector, ExpressionValue)
    assert jsonata.item_batcher is not None
    assert jsonata.item_batcher.batch_input == LiteralValue("BatchInput", {"run": 7})
    assert not loaded_map(map_machine()).item_selector.given


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
def test_item_selector_and_batch_input_run_in_their_language(language: str) -> None:
    if language == "JSONata":
        fields = {
            "Items": "{% $states.input.orders %}",
            "ItemSelector": {
                "order": "{% $states.context.Map.Item.Value %}",
                "at": "{% $states.context.Map.Item.Index %}",
            },
            "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"run": "{% $states.input.run %}"}},
        }
    else:
        fields = {
            "ItemsPath": "$.orders",
            "ItemSelector": {"order.$": "$$.Map.Item.Value", "at.$": "$$.Map.Item.Index"},
            "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"run.$": "$.run"}},
        }
    result = Execution(map_machine(language, **fields), {"orders": ["a", "b", "c"], "run": 7}).run()
    assert json.loads(result.output or "null") == [
        {"run": 7, "Items": [{"order": "a", "at": 0}, {"order": "b", "at": 1}]},
        {"run": 7, "Items": [{"order": "c", "at": 2}]},
    ]


def reader_and_writer_map(language: str) -> dict[str, Any]:
    """A distributed Map reading its items from S3 and writing its results there, its requests and
    MaxItems taken from the execution input in the state's language."""
    if language == "JSONata":
        reader = {
            "Resource": "arn:aws:states:::s3:getObject",
            "Arguments": {"Bucket": "{% $states.input.bucket %}", "Key": "items.json"},
            "ReaderConfig": {"InputType": "JSON", "MaxItems": "{% $states.input.max %}"},
        }
        writer = {
            "Resource": "arn:aws:states:::s3:putObject",
            "Arguments": {"Bucket": "{% $states.input.bucket %}"},
        }
    else:
        reader = {
            "Resource": "arn:aws:states:::s3:getObject",
            "Parameters": {"Bucket.$": "$.bucket", "Key": "items.json"},
            "ReaderConfig": {"InputType": "JSON", "MaxItemsPath": "$.max"},
        }
        writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket.$": "$.bucket"}}
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "Each",
        "States": {"Each": {"Type": "Pass", "End": True}},
    }
    state = {
        "Type": "Map",
        "ItemReader": reader,
        "ResultWriter": writer,
        "ItemProcessor": processor,
        "End": True,
    }
    return {"QueryLanguage": language, "StartAt": "M", "States": {"M": state}}


def test_item_reader_and_result_writer_are_typed_at_load() -> None:
    jsonpath = loaded_map(reader_and_writer_map("JSONPath"))
    assert jsonpath.item_reader is not None and jsonpath.result_writer is not None
    assert jsonpath.item_reader.request == PayloadTemplate(
        "Parameters", {"Bucket.$": "$.bucket", "Key": "items.json"}, "ItemReader.Parameters"
    )
    assert jsonpath.item_reader.max_items.source == PathValue("MaxItemsPath", "$.max")
    assert isinstance(jsonpath.result_writer.request, PayloadTemplate)
    jsonata = loaded_map(reader_and_writer_map("JSONata"))
    assert jsonata.item_reader is not None and jsonata.result_writer is not None
    request = jsonata.item_reader.request
    assert isinstance(request, ExpressionValue) and request.label == "ItemReader/Arguments"
    max_items = jsonata.item_reader.max_items.source
    assert isinstance(max_items, ExpressionValue) and max_items.label == "ReaderConfig/MaxItems"
    assert isinstance(jsonata.result_writer.request, ExpressionValue)


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
def test_item_reader_and_result_writer_requests_run_in_their_language(kit: Any, language: str) -> None:
    s3 = kit.S3({"in/items.json": json.dumps(["a", "b", "c"])})
    execution = Execution(
        reader_and_writer_map(language),
        {"bucket": "in", "max": 2},
        integrations=IntegrationRegistry({"s3": s3}),
        state_machine_arn=MACHINE_ARN,
    )
    result = execution.run()
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    details = json.loads(result.output or "null")["ResultWriterDetails"]
    assert details["Bucket"] == "in"
    manifest = json.loads(s3.objects[f"in/{details['Key']}"])
    (succeeded,) = manifest["ResultFiles"]["SUCCEEDED"]
    outputs = [json.loads(entry["Output"]) for entry in json.loads(s3.objects[f"in/{succeeded['Key']}"])]
    assert outputs == ["a", "b"]  # MaxItems 2 of the 3 items read


# --- $$.Execution in distributed children and inline iterations --------------------------------

SEEN_JSONPATH = {
    "id.$": "$$.Execution.Id",
    "name.$": "$$.Execution.Name",
    "start.$": "$$.Execution.StartTime",
    "role.$": "$$.Execution.RoleArn",
    "input.$": "$$.Execution.Input",
    "machine.$": "$$.StateMachine.Id",
}
SEEN_JSONATA = {
    "id": "{% $states.context.Execution.Id %}",
    "name": "{% $states.context.Execution.Name %}",
    "start": "{% $states.context.Execution.StartTime %}",
    "role": "{% $states.context.Execution.RoleArn %}",
    "input": "{% $states.context.Execution.Input %}",
    "machine": "{% $states.context.StateMachine.Id %}",
}


def context_machine(mode: str, language: str = "JSONPath", **fields: Any) -> dict[str, Any]:
    """A Map whose iterations return what they see of the context object."""
    seen: dict[str, Any] = (
        {"Type": "Pass", "Output": SEEN_JSONATA, "End": True}
        if language == "JSONata"
        else {"Type": "Pass", "Parameters": SEEN_JSONPATH, "End": True}
    )
    config = {"Mode": mode, **({"ExecutionType": "STANDARD"} if mode == "DISTRIBUTED" else {})}
    processor = {"ProcessorConfig": config, "StartAt": "Seen", "States": {"Seen": seen}}
    items = {"Items": "{% $states.input.orders %}"} if language == "JSONata" else {"ItemsPath": "$.orders"}
    state = {"Type": "Map", **items, "ItemProcessor": processor, "End": True, **fields}
    return {"QueryLanguage": language, "StartAt": "M", "States": {"M": state}}


def run_seen(definition: dict[str, Any], execution_input: Any, **options: Any) -> tuple[Execution, list[Any]]:
    clock = VirtualClock(datetime(2026, 3, 1, 12, 0, 0))
    execution = Execution(
        definition,
        execution_input,
        name="order-run-1",
        state_machine_arn=MACHINE_ARN,
        role_arn=ROLE_ARN,
        clock=clock,
        **options,
    )
    result = execution.run()
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return execution, json.loads(result.output or "null")


CHILD_ARN = re.compile(
    r"arn:aws:states:us-east-1:123456789012:(?P<kind>execution|express):Orders/(?P<label>[^:]+):(?P<name>[^:]+)"
)


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
def test_a_distributed_child_sees_its_own_execution(language: str) -> None:
    orders = [{"id": "o-1"}, {"id": "o-2"}, {"id": "o-3"}]
    execution, seen = run_seen(context_machine("DISTRIBUTED", language, Label="PerOrder"), {"orders": orders})
    assert [child["input"] for child in seen] == orders  # the item it was started with
    for child in seen:
        match = CHILD_ARN.fullmatch(child["id"])
        assert match, child["id"]
        assert (match["kind"], match["label"], match["name"]) == ("execution", "PerOrder", child["name"])
        assert child["role"] == ROLE_ARN  # child workflows run with the parent's role
        started = datetime.strptime(child["start"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert started >= execution.start_date.replace(tzinfo=None)
        assert child["machine"] == MACHINE_ARN  # StateMachine is left as the parent's
    assert len({child["id"] for child in seen}) == len(orders)
    assert execution.arn not in {child["id"] for child in seen}
    # The parent's own context is untouched by its children.
    parent = execution.runtime.context["Execution"]
    assert (parent["Id"], parent["Name"], parent["Input"]) == (
        execution.arn,
        "order-run-1",
        {"orders": orders},
    )


def test_a_child_input_is_its_item_after_item_selector_or_its_batch() -> None:
    selected = context_machine(
        "DISTRIBUTED", ItemSelector={"order.$": "$$.Map.Item.Value", "n.$": "$$.Map.Item.Index"}
    )
    _, seen = run_seen(selected, {"orders": ["a", "b"]})
    assert [child["input"] for child in seen] == [{"order": "a", "n": 0}, {"order": "b", "n": 1}]

    batched = context_machine("DISTRIBUTED", ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"run": 7}})
    _, seen = run_seen(batched, {"orders": [1, 2, 3]})
    assert [child["input"] for child in seen] == [{"run": 7, "Items": [1, 2]}, {"run": 7, "Items": [3]}]


def test_an_express_child_has_an_express_execution_arn() -> None:
    definition = context_machine("DISTRIBUTED")
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "EXPRESS"
    _, seen = run_seen(definition, {"orders": [1]})
    match = CHILD_ARN.fullmatch(seen[0]["id"])
    assert match and match["kind"] == "express" and match["label"] == "M"  # no Label: the state's name


def test_each_child_starts_when_it_starts() -> None:
    """With MaxConcurrency 1 and a Wait in each child, the second child starts after the first ended."""
    definition = context_machine("DISTRIBUTED", MaxConcurrency=1)
    processor = definition["States"]["M"]["ItemProcessor"]
    processor["States"] = {"Pause": {"Type": "Wait", "Seconds": 30, "Next": "Seen"}, **processor["States"]}
    processor["StartAt"] = "Pause"
    _, seen = run_seen(definition, {"orders": [1, 2]})
    first, second = (datetime.strptime(child["start"], "%Y-%m-%dT%H:%M:%S.%fZ") for child in seen)
    assert second - first >= timedelta(seconds=30)


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
def test_inline_iterations_see_the_parent_execution(language: str) -> None:
    execution_input = {"orders": ["a", "b"]}
    execution, seen = run_seen(context_machine("INLINE", language), execution_input)
    parent = {
        "id": execution.arn,
        "name": "order-run-1",
        "start": execution.runtime.context["Execution"]["StartTime"],
        "role": ROLE_ARN,
        "input": execution_input,
        "machine": MACHINE_ARN,
    }
    assert seen == [parent, parent]


def test_an_inline_map_inside_a_child_sees_that_child_execution() -> None:
    """Inline iterations see the execution they run in: inside a distributed child, the child's."""
    inner = context_machine("INLINE")["States"]["M"]
    inner["ItemsPath"] = "$.orders"
    outer = context_machine("DISTRIBUTED", ItemSelector={"orders.$": "$$.Map.Item.Value"})
    outer["States"]["M"]["ItemProcessor"]["States"] = {"Inner": inner}
    outer["States"]["M"]["ItemProcessor"]["StartAt"] = "Inner"
    execution, seen = run_seen(outer, {"orders": [["x", "y"], ["z"]]})
    for child_items, inner_seen in zip([["x", "y"], ["z"]], seen, strict=True):
        ids = {iteration["id"] for iteration in inner_seen}
        assert len(ids) == 1 and execution.arn not in ids
        assert all(iteration["input"] == {"orders": child_items} for iteration in inner_seen)
