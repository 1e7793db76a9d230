"""A state's payload templates (Parameters, ResultSelector, Assign in JSONPath; Arguments, Output,
Assign in JSONata) are loaded once with the state: each key's source (a path, a context path, a
variable, an intrinsic call, a literal, a JSONata expression) is decided then, a `.$` key that is
not a string is refused at its place, and running the state walks no template as written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tributary.states import execute, payload, validate
from tributary.states.definition import DefinitionError
from tributary.states.payload import ArrayNode, Constant, IntrinsicNode, ObjectNode, PathNode
from tributary.states.state import load_machine
from tributary.states.value_source import (
    HANDED_OVER,
    NO_VALUE,
    ExpressionValue,
    JsonataArray,
    JsonataConstant,
    JsonataExpression,
    JsonataObject,
    PayloadTemplate,
)


def _jsonpath_machine() -> dict[str, Any]:
    return {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "from.$": "$.a",
                    "run.$": "$$.Execution.Name",
                    "sum.$": "States.MathAdd($.a, 1)",
                    "fixed": {"list": [1, "$.not_a_path"]},
                },
                "Assign": {"seen.$": "$.from"},
                "Next": "T",
            },
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "ResultSelector": {"payload.$": "$.Payload"},
                "End": True,
            },
        },
    }


def test_jsonpath_templates_are_typed_trees_at_load() -> None:
    states = load_machine(_jsonpath_machine()).states
    request = states["P"].request_source
    assert isinstance(request, PayloadTemplate) and request.label == "Parameters"
    assert request.node == ObjectNode(
        (
            ("from", PathNode("from.$", "$.a")),
            ("run", PathNode("run.$", "$$.Execution.Name")),
            ("sum", IntrinsicNode("States.MathAdd($.a, 1)")),
            ("fixed", ObjectNode((("list", ArrayNode((Constant(1), Constant("$.not_a_path")))),))),
        )
    )
    assert states["P"].assign_source == PayloadTemplate("Assign", {"seen.$": "$.from"})
    assert states["P"].output_source is HANDED_OVER
    assert states["T"].selector_source == PayloadTemplate("ResultSelector", {"payload.$": "$.Payload"})
    assert states["T"].request_source is HANDED_OVER and states["T"].assign_source is NO_VALUE


def test_jsonata_templates_are_typed_trees_at_load() -> None:
    machine = load_machine(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "f", "Payload": ["{% $states.input.a %}", 2]},
                    "Output": "{% $states.result.Payload %}",
                    "Assign": {"x": "{% $states.result %}"},
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "Output": {"e": "{% $states.errorOutput %}"},
                            "Next": "F",
                        }
                    ],
                    "End": True,
                },
                "F": {"Type": "Fail"},
            },
        }
    )
    task = machine.states["T"]
    assert isinstance(task.request_source, ExpressionValue)
    assert task.request_source.node == JsonataObject(
        (
            ("FunctionName", JsonataConstant("f")),
            (
                "Payload",
                JsonataArray(
                    (JsonataExpression("$states.input.a", "Arguments/Payload/0"), JsonataConstant(2))
                ),
            ),
        )
    )
    assert task.output_source.node == JsonataExpression("$states.result.Payload", "Output")  # type: ignore[attr-defined]
    assert task.assign_source.node == JsonataObject(  # type: ignore[attr-defined]
        (("x", JsonataExpression("$states.result", "Assign/x")),)
    )
    (catcher,) = task.catchers
    assert catcher.output_source.node == JsonataObject(  # type: ignore[attr-defined]
        (("e", JsonataExpression("$states.errorOutput", "Output/e")),)
    )


@pytest.mark.parametrize(
    ("state", "place"),
    [
        ({"Type": "Pass", "Parameters": {"a": {"x.$": 5}}, "End": True}, "States.S.Parameters"),
        ({"Type": "Pass", "Assign": {"x.$": ["$.a"]}, "End": True}, "States.S.Assign"),
        (
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "ResultSelector": {"x.$": None},
                "End": True,
            },
            "States.S.ResultSelector",
        ),
        (
            {
                "Type": "Map",
                "ItemSelector": {"x.$": 1},
                "ItemProcessor": {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}},
                "End": True,
            },
            "States.S.ItemSelector",
        ),
    ],
    ids=["Parameters", "Assign", "ResultSelector", "ItemSelector"],
)
def test_a_dynamic_key_that_is_not_a_string_is_refused_at_load_as_validation_says(
    state: dict[str, Any], place: str
) -> None:
    definition = {"StartAt": "S", "States": {"S": state}}
    (diagnostic,) = validate(json.dumps(definition))
    with pytest.raises(DefinitionError) as refused:
        load_machine(definition)
    where, _, message = diagnostic.partition(": ")
    assert refused.value.place == place and where == "/" + place.replace(".", "/")
    assert str(refused.value) == f"{place}: {message}"


def test_running_walks_no_template_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """Templates are compiled when the definition is loaded: running more items through the same
    states compiles nothing more."""
    compiled: list[Any] = []
    real = payload.compile_template

    def counting(template: Any, field: str, place: str | None = None) -> Any:
        compiled.append(template)
        return real(template, field, place)

    monkeypatch.setattr(payload, "compile_template", counting)
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemSelector": {"v.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {
                        "P": {
                            "Type": "Pass",
                            "Parameters": {"double.$": "States.MathAdd($.v, $.v)", "k": [1, {"z": 2}]},
                            "Assign": {"last.$": "$.double"},
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }
    counts = []
    for items in ([1], list(range(20))):
        compiled.clear()
        result = execute(definition, items)
        assert result.status == "SUCCEEDED"
        counts.append(len(compiled))
    assert json.loads(result.output)[3] == {"double": 6, "k": [1, {"z": 2}]}
    assert counts[0] == counts[1] > 0


def test_a_loaded_template_builds_new_containers_every_run() -> None:
    template = PayloadTemplate("Parameters", {"k": {"deep": [1, 2]}, "v.$": "$"})
    first = template.node.resolve({"a": 1}, {}, {})
    second = template.node.resolve({"a": 1}, {}, {})
    assert first == second == {"k": {"deep": [1, 2]}, "v": {"a": 1}}
    assert (
        first is not second
        and first["k"] is not second["k"]
        and first["k"]["deep"] is not second["k"]["deep"]
    )
