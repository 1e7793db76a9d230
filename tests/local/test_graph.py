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

from tributary.local.views.graph import render_html, render_svg
from tributary.states import Execution
from tributary.states.errors import StatesError
from tributary.states.service_integrations import FunctionIntegration, TaskCall

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


def test_catches_into_a_shared_handler_are_named_stubs_not_lines_down_the_page() -> None:
    svg = render_svg(_pipeline())
    found = edges(svg)
    catches = {(s, t): g for (s, t, kind), g in found.items() if kind == "catch" and t == "RecordFailure"}
    stubs = {key: g for key, g in catches.items() if "stub" in g.attrib["class"].split()}
    assert len(catches) >= 5 and len(catches) - len(stubs) == 1  # one whole edge keeps it connected
    for g in stubs.values():
        assert "".join(g.itertext()).endswith("RecordFailure")  # the stub names the handler
        path = g.find(f"{SVG}path")
        assert path is not None and re.fullmatch(r"M[\d.]+,[\d.]+ H[\d.]+", path.attrib["d"])
    # a Catch into a state that only one or two states fall back on stays a whole edge
    plain = render_svg(DEFINITION)
    assert "stub" not in edges(plain)[("Fan", "Recover", "catch")].attrib["class"].split()


def test_the_title_is_drawn_once_on_the_page_and_the_drawing_shrinks_to_the_window() -> None:
    html = render_html(_pipeline(), title="orders-20261124T101500Z")
    body = html[html.index("<body>") :]
    assert body.count("orders-20261124T101500Z") == 2  # the heading, and the SVG's <title> (a tooltip)
    assert re.search(r"<h1>orders-20261124T101500Z</h1>", body)
    assert "max-width:100%" in html and "height:auto" in html
    assert 'class="heading"' in render_svg(_pipeline(), title="t")  # standalone SVG keeps its heading


# Run in the page by a real browser: measures what it drew (with its fonts) and writes the problems.
MEASURE_JS = r"""
(function () {
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  };
  const overlap = (a, b) =>
    a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5;
  const inside = (a, b) =>
    a[0] >= b[0] - 0.5 && a[1] >= b[1] - 0.5 && a[2] <= b[2] + 0.5 && a[3] <= b[3] + 0.5;
  const svg = document.querySelector("svg");
  const svgBox = box(svg);
  const out = { problems: [], states: 0, labels: 0 };
  const say = (text) => out.problems.push(text);
  const stateBoxes = [];
  for (const g of document.querySelectorAll("g.state")) {
    out.states += 1;
    const rect = box(g.querySelector("rect"));
    const texts = [...g.querySelectorAll("text")];
    stateBoxes.push([g.dataset.state, texts.map(box)]);
    if (!inside(rect, svgBox)) say("state outside the drawing: " + g.dataset.state);
    for (const t of texts) {
      if (!inside(box(t), rect)) say("text outside its box: " + g.dataset.state + ": " + t.textContent);
    }
  }
  const labels = [...document.querySelectorAll("g.edge text")].map((t) => {
    const edge = t.closest("g.edge");
    return [edge.dataset.from + "->" + edge.dataset.to + " " + t.textContent, box(t)];
  });
  out.labels = labels.length;
  for (let i = 0; i < labels.length; i++) {
    const [name, where] = labels[i];
    if (!inside(where, svgBox)) say("label outside the drawing: " + name);
    for (let j = i + 1; j < labels.length; j++) {
      if (overlap(where, labels[j][1])) say("labels overlap: " + name + " / " + labels[j][0]);
    }
    for (const [state, texts] of stateBoxes) {
      if (texts.some((t) => overlap(where, t))) say("label over a state's text: " + name + " / " + state);
    }
  }
  const title = document.title;
  out.titles = [...document.querySelectorAll("body *")].filter(
    (e) => e.children.length === 0 && e.tagName.toLowerCase() !== "title" && e.textContent.trim() === title
  ).length;
  const svgHeight = svgBox[3] - svgBox[1];
  for (const g of document.querySelectorAll("g.edge.catch")) {
    const path = box(g.querySelector("path"));
    const label = g.querySelector("text");
    const name = g.dataset.from + "->" + g.dataset.to;
    const share = (path[3] - path[1]) / svgHeight;
    if (g.classList.contains("stub")) {
      if (!label || !label.textContent.startsWith(g.dataset.to)) say("a stub naming no handler: " + name);
    } else if (share > 0.3) {
      say("a Catch edge across " + Math.round(100 * share) + "% of the page: " + name);
    }
  }
  out.svgRight = svgBox[2];
  out.scrollWidth = document.documentElement.scrollWidth;
  out.innerWidth = window.innerWidth;
  const pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def browser() -> str:
    """A headless Chromium: TRIBUTARY_BROWSER, else Debian's chromium-headless-shell or chromium
    (`make install` installs chromium-headless-shell)."""
    import os
    import shutil

    for candidate in (os.environ.get("TRIBUTARY_BROWSER"), "chromium-headless-shell", "chromium"):
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    pytest.fail("no headless browser: apt-get install chromium-headless-shell (make install does)")


def measured_in_browser(html: str, tmp_path: Path, width: int = 800, height: int = 600) -> dict[str, Any]:
    import html as htmllib
    import subprocess

    page = tmp_path / "graph.html"
    page.write_text(html.replace("</body>", f"<script>{MEASURE_JS}</script></body>"))
    done = subprocess.run(
        [
            browser(),
            "--headless",
            "--no-sandbox",  # as root in CI
            "--disable-gpu",
            f"--window-size={width},{height}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the browser drew nothing measurable: {done.returncode} {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(htmllib.unescape(found.group(1)))
    return result


MANY_CHOICES: dict[str, Any] = {
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.kind", "StringEquals": f"kind-number-{i}", "Next": f"Handle{i}"}
                for i in range(6)
            ],
            "Default": "Other",
        },
        **{f"Handle{i}": {"Type": "Pass", "End": True} for i in range(6)},
        "Other": {"Type": "Pass", "End": True},
    },
}


@pytest.mark.parametrize("case", ["pipeline", "pipeline-run", "loops", "choices"])
def test_in_a_real_browser_labels_are_apart_and_the_page_fits_the_state_machine(
    case: str, history: list[dict[str, Any]], tmp_path: Path
) -> None:
    if case == "loops":
        html = render_html(DEFINITION, history, title="a run with a loop")
        expected_states = len(set(state_names(DEFINITION)))
    elif case == "choices":
        html = render_html(MANY_CHOICES, title="seven ways out")
        expected_states = len(MANY_CHOICES["States"])
    else:
        events = None
        if case == "pipeline-run":
            events = run(_pipeline(), {"run_id": "r1", "objects": []}, lambda call: {"accepted": 0})
        html = render_html(_pipeline(), events, title="orders-20261124T101500Z")
        expected_states = len(set(state_names(_pipeline())))
    measured = measured_in_browser(html, tmp_path)
    assert measured["problems"] == []  # no label over another or over a state; text inside its box
    assert measured["states"] == expected_states
    assert measured["titles"] == 1  # the title once
    assert measured["svgRight"] <= measured["innerWidth"]  # the drawing fits the window's width
    assert measured["scrollWidth"] <= measured["innerWidth"]


def test_a_distributed_map_is_labelled_with_its_child_executions() -> None:
    definition = {
        "StartAt": "RegisterPartitions",
        "States": {
            "RegisterPartitions": {
                "Type": "Map",
                "ItemsPath": "$.partitions",
                "ItemBatcher": {"MaxItemsPerBatch": 2},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Register",
                    "States": {"Register": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }
    events = run(definition, {"partitions": [1, 2, 3, 4, 5]}, work_fails)
    text = "".join(states(render_svg(definition, events))["RegisterPartitions"].itertext())
    assert "3 child executions" in text and "0 iterations" not in text
