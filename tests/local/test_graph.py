"""The state machine drawing: well-formed SVG, every state drawn, the executed path of a real history
(run on the local engine) coloured, and a layout whose edges go down from StartAt."""

from __future__ import annotations

import itertools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tributary.local.graph import render_html, render_svg
from tributary.states import Execution
from tributary.states.errors import StatesError
from tributary.states.integrations import FunctionIntegration, TaskCall

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[2]
GREEN, RED, GREY = "#e6f4ea", "#fce8e6", "#f8f9fa"

DEFINITION: dict[str, Any] = {
    "Comment": "Choice, Parallel with a Map inside, Catch, a loop",
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.mode", "StringEquals": "fail", "Next": "Fan"}],
            "Default": "Skip",
        },
        "Skip": {"Type": "Pass", "Next": "Done"},
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "ItemProcessor": {
                                "StartAt": "Item",
                                "States": {"Item": {"Type": "Pass", "End": True}},
                            },
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Work",
                    "States": {
                        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
                    },
                },
            ],
            "Catch": [{"ErrorEquals": ["Work.Failed"], "ResultPath": "$.error", "Next": "Recover"}],
            "Next": "Done",
        },
        "Recover": {"Type": "Pass", "Result": {"again": False}, "ResultPath": "$.retry", "Next": "Again"},
        "Again": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.retry.again", "BooleanEquals": True, "Next": "Check"}],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def run(definition: Mapping[str, Any], input: Any, answer: Any) -> list[dict[str, Any]]:
    execution = Execution(dict(definition), input, integrations=FunctionIntegration(answer))
    execution.start()
    execution.wait()
    return list(execution.history.events)


def work_fails(call: TaskCall) -> Any:
    raise StatesError("Work.Failed", "no good")


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    return run(DEFINITION, {"mode": "fail", "items": [1, 2]}, work_fails)


def state_names(machine: Mapping[str, Any]) -> Iterator[str]:
    for name, state in machine["States"].items():
        yield name
        for branch in state.get("Branches", []):
            yield from state_names(branch)
        if "ItemProcessor" in state:
            yield from state_names(state["ItemProcessor"])


def states(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.attrib["data-state"]: g for g in root.iter(f"{SVG}g") if "data-state" in g.attrib}


def edges(svg: str) -> dict[tuple[str, str, str], ET.Element]:
    root = ET.fromstring(svg)
    found = {}
    for g in root.iter(f"{SVG}g"):
        if "edge" in g.attrib.get("class", "").split():
            kind = g.attrib["class"].split()[1]
            found[(g.attrib["data-from"], g.attrib["data-to"], kind)] = g
    return found


def rect(g: ET.Element) -> tuple[float, float, float, float]:
    r = g.find(f"{SVG}rect")
    assert r is not None
    return float(r.attrib["x"]), float(r.attrib["y"]), float(r.attrib["width"]), float(r.attrib["height"])


def test_the_svg_is_well_formed_and_draws_every_state(history: list[dict[str, Any]]) -> None:
    svg = render_svg(DEFINITION, history, title="run <1> & more")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    drawn = states(svg)
    assert set(drawn) == set(state_names(DEFINITION)) == {
        "Check", "Skip", "Fan", "Each", "Item", "Work", "Recover", "Again", "Done",
    }  # fmt: skip
    for name, g in drawn.items():
        assert name in "".join(g.itertext())
    assert root.find(f"{SVG}title") is not None and "run <1> & more" in "".join(root.itertext())


def test_the_executed_path_is_coloured(history: list[dict[str, Any]]) -> None:
    drawn = states(render_svg(DEFINITION, history))
    status = {name: g.attrib["data-status"] for name, g in drawn.items()}
    assert status == {
        "Check": "succeeded",
        "Fan": "failed",  # caught
        "Each": "succeeded",
        "Item": "succeeded",
        "Work": "failed",
        "Recover": "succeeded",
        "Again": "succeeded",
        "Done": "succeeded",
        "Skip": "not-visited",
    }
    fills = {name: g.find(f"{SVG}rect").attrib["fill"] for name, g in drawn.items()}  # type: ignore[union-attr]
    assert fills["Check"] == fills["Item"] == fills["Done"] == GREEN
    assert fills["Work"] == RED
    assert fills["Skip"] == GREY
    assert "2 iterations" in "".join(drawn["Each"].itertext())
    assert "Work.Failed: no good" in "".join(drawn["Work"].itertext())  # in the tooltip


def test_edges_taken_choice_labels_and_dashed_catch(history: list[dict[str, Any]]) -> None:
    svg = render_svg(DEFINITION, history)
    drawn = edges(svg)
    looks = {key: g.attrib["class"].split()[2] for key, g in drawn.items()}
    assert looks[("Check", "Fan", "choice")] == "taken"
    assert looks[("Check", "Skip", "default")] == "idle"
    assert looks[("Fan", "Recover", "catch")] == "taken-failure"
    assert looks[("Fan", "Done", "next")] == "idle"
    assert looks[("Again", "Done", "default")] == "taken"
    assert looks[("Again", "Check", "choice")] == "idle"
    assert "back" in drawn[("Again", "Check", "choice")].attrib["class"].split()
    catch_path = drawn[("Fan", "Recover", "catch")].find(f"{SVG}path")
    assert catch_path is not None and "stroke-dasharray" in catch_path.attrib
    next_path = drawn[("Fan", "Done", "next")].find(f"{SVG}path")
    assert next_path is not None and "stroke-dasharray" not in next_path.attrib
    assert "".join(drawn[("Check", "Fan", "choice")].itertext()).endswith('$.mode == "fail"')
    assert "Default" in "".join(drawn[("Check", "Skip", "default")].itertext())
    assert "Work.Failed" in "".join(drawn[("Fan", "Recover", "catch")].itertext())


def test_the_other_path_of_the_same_definition() -> None:
    history = run(DEFINITION, {"mode": "skip"}, work_fails)
    status = {name: g.attrib["data-status"] for name, g in states(render_svg(DEFINITION, history)).items()}
    assert (status["Check"], status["Skip"], status["Done"]) == ("succeeded", "succeeded", "succeeded")
    assert {status[n] for n in ("Fan", "Each", "Item", "Work", "Recover", "Again")} == {"not-visited"}


def test_without_a_history_the_definition_is_drawn_plain() -> None:
    svg = render_svg(json.dumps(DEFINITION))
    assert {g.attrib["data-status"] for g in states(svg).values()} == {"plain"}
    assert {g.attrib["class"].split()[2] for g in edges(svg).values()} == {"plain"}


def _pipeline() -> dict[str, Any]:
    text = (ROOT / "statemachine" / "pipeline.asl.json").read_text()
    return dict(json.loads(re.sub(r"\$\{([A-Za-z0-9_.]+)\}", "1", text)))


@pytest.mark.parametrize("definition", [DEFINITION, _pipeline()], ids=["small", "pipeline"])
def test_layout_boxes_never_overlap_and_forward_edges_go_down(definition: dict[str, Any]) -> None:
    svg = render_svg(definition)
    drawn = states(svg)
    assert set(drawn) == set(state_names(definition))
    leaves = {n: rect(g) for n, g in drawn.items() if g.attrib["data-type"] not in ("Parallel", "Map")}
    for (a, ra), (b, rb) in itertools.combinations(leaves.items(), 2):
        apart = (
            ra[0] + ra[2] <= rb[0]
            or rb[0] + rb[2] <= ra[0]
            or ra[1] + ra[3] <= rb[1]
            or rb[1] + rb[3] <= ra[1]
        )
        assert apart, (a, b)
    width, height = float(ET.fromstring(svg).attrib["width"]), float(ET.fromstring(svg).attrib["height"])
    for name, (x, y, w, h) in leaves.items():
        assert x >= 0 and x + w <= width and y >= 0 and y + h <= height, name
    for (source, target, _), g in edges(svg).items():
        if "back" in g.attrib["class"].split() or source not in drawn or target not in drawn:
            continue
        assert rect(drawn[source])[1] + rect(drawn[source])[3] < rect(drawn[target])[1], (source, target)


def test_branches_are_drawn_inside_their_state() -> None:
    drawn = states(render_svg(DEFINITION))
    fx, fy, fw, fh = rect(drawn["Fan"])
    for inner in ("Each", "Item", "Work"):
        x, y, w, h = rect(drawn[inner])
        assert fx < x and x + w < fx + fw and fy < y and y + h < fy + fh, inner
    ex, ey, ew, eh = rect(drawn["Each"])
    x, y, w, h = rect(drawn["Item"])
    assert ex < x and x + w < ex + ew and ey < y and y + h < ey + eh


def test_the_html_page_embeds_the_svg_and_loads_nothing(history: list[dict[str, Any]]) -> None:
    html = render_html(DEFINITION, history, title="orders run")
    assert html.startswith("<!DOCTYPE html>") and "<title>orders run</title>" in html
    svg = html[html.index("<svg") : html.index("</svg>") + len("</svg>")]
    assert set(states(svg)) == set(state_names(DEFINITION))
    without_namespace = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http" not in without_namespace and "<script" not in html and "<link" not in html
    assert "not visited" in html  # the legend


def test_names_and_conditions_are_escaped() -> None:
    odd = 'Load "raw" & <check> / Prüfen'
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": odd,
        "States": {
            odd: {
                "Type": "Choice",
                "Choices": [
                    {"Condition": '{% $states.input.n < 3 and $states.input.s = "a&b" %}', "Next": "Ok"}
                ],
                "Default": "Ok",
            },
            "Ok": {"Type": "Succeed"},
        },
    }
    history = run(definition, {"n": 1, "s": "a&b"}, work_fails)
    svg = render_svg(definition, history, title=odd)
    assert states(svg)[odd].attrib["data-status"] == "succeeded"
    label = "".join(edges(svg)[(odd, "Ok", "choice")].itertext())
    assert label.endswith("$states.input.n < 3 and $stat…")  # cut to fit, whole in the tooltip
    assert '$states.input.s = "a&b"' in label


def test_choice_rules_that_start_alike_are_labelled_by_their_ends() -> None:
    labels = {
        (g.attrib["data-to"]): "".join(g.itertext())
        for (source, _, kind), g in edges(render_svg(_pipeline())).items()
        if source == "QualityGate" and kind == "choice"
    }
    assert labels["RegisterPartitions"].endswith("… $result.partition_count > 0")
    assert labels["RecordLineage"].endswith("… and $result.rows_read = 0")
