"""A state machine drawn as SVG (or one self-contained HTML page), with an execution's path on it.

    svg = render_svg(definition, history=events, title="orders-20261124T…")   # standalone SVG text
    html = render_html(definition, history=events, title="…")                 # one page, no external assets

`definition` is the ASL as a dict or JSON text; `history` is GetExecutionHistory's events (or None to
draw the definition alone). Every state is a box: green when it succeeded, red when it failed (caught or
not), amber when it is still running or was stopped, grey when the execution never entered it. Parallel
branches and Map processors are drawn inside their state; Choice edges carry their condition (or
`Default`), Catch edges are dashed and carry the errors they catch; the transitions the execution took
are drawn thick. Each state's group has `data-state` and `data-status` attributes and a tooltip.

Layout is a plain layered drawing: states are put in layers by the longest path from StartAt over the
forward edges (edges closing a loop are drawn around the side), ordered in each layer by the mean position
of their predecessors, and each layer is centred. Pure: text in, text out.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from tributary.local.views.progress import (
    FAILED,
    RUNNING,
    STOPPED,
    SUCCEEDED,
    StateVisit,
    format_seconds,
    state_visits,
)

UNVISITED, PLAIN = "not-visited", "plain"

_FONT = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
_NAME_CHAR, _SUB_CHAR = 7.4, 6.2  # approximate glyph widths at 13px and 11px
_BOX_HEIGHT, _MIN_WIDTH, _PAD_X = 46.0, 120.0, 14.0
_GAP_X, _GAP_Y = 36.0, 56.0
_CONTAINER_HEADER, _CONTAINER_PAD, _BRANCH_GAP = 34.0, 16.0, 28.0
_LOOP_MARGIN = 70.0
_DUMMY_WIDTH, _DUMMY_GAP = 10.0, 14.0
_LABEL_MAX = 30
_STUB_ARROW = 22.0  # length of a stub's arrow

# status -> (fill, stroke, text)
_BOX_COLOURS = {
    SUCCEEDED: ("#e6f4ea", "#1e8e3e", "#0d652d"),
    FAILED: ("#fce8e6", "#d93025", "#a50e0e"),
    RUNNING: ("#fef7e0", "#f9ab00", "#8a5a00"),
    STOPPED: ("#fef7e0", "#e37400", "#8a5a00"),
    UNVISITED: ("#f8f9fa", "#bdc1c6", "#80868b"),
    PLAIN: ("#ffffff", "#5f6368", "#202124"),
}
# edge state -> (stroke, width)
_EDGE_COLOURS = {
    "taken": ("#1e8e3e", 2.6),
    "taken-failure": ("#d93025", 2.6),
    "idle": ("#c4c7c5", 1.3),
    "plain": ("#5f6368", 1.4),
}


# ---------------------------------------------------------------------------------------------- model
@dataclass
class _Edge:
    source: str
    target: str
    kind: str  # next | choice | default | catch | start | end
    label: str = ""
    tooltip: str = ""
    back: bool = False  # closes a loop: drawn around the right side
    waypoints: list[str] = field(default_factory=list)  # dummy boxes in the layers it crosses
    out_x: float = 0.0  # where it leaves its source, from the source's left
    in_x: float = 0.0  # where it enters its target, from the target's left
    stub: bool = False  # a Catch to a shared handler far below: a short arrow beside its source, named


@dataclass
class _Box:
    key: str  # unique across the drawing
    name: str
    kind: str  # the state's Type, or "start" / "end" / "dummy" (a long edge crossing a layer)
    state: Mapping[str, Any]
    width: float = _MIN_WIDTH
    height: float = _BOX_HEIGHT
    x: float = 0.0
    y: float = 0.0
    layer: int = 0
    branches: list[_Layout] = field(default_factory=list)
    branch_offsets: list[tuple[float, float]] = field(default_factory=list)
    aside: float = 0.0  # room on the right for the stubs of its Catch edges


@dataclass
class _Layout:
    boxes: dict[str, _Box]
    edges: list[_Edge]
    width: float = 0.0
    height: float = 0.0


@dataclass
class _Run:
    """What the history says, by state name."""

    statuses: dict[str, str]
    visits: dict[str, list[StateVisit]]
    transitions: set[tuple[str, str]]
    execution: str | None  # SUCCEEDED, FAILED, ... or None without a history


def _run_of(history: Iterable[Mapping[str, Any]] | None) -> _Run:
    if history is None:
        return _Run({}, {}, set(), None)
    events = [e for e in history if isinstance(e.get("id"), int)]
    by_id = {int(e["id"]): e for e in events}
    transitions: set[tuple[str, str]] = set()
    execution = "RUNNING"
    for event in events:
        kind = str(event.get("type", ""))
        if kind.startswith("Execution") and kind != "ExecutionStarted":
            execution = {
                "ExecutionSucceeded": "SUCCEEDED",
                "ExecutionFailed": "FAILED",
                "ExecutionTimedOut": "TIMED_OUT",
                "ExecutionAborted": "ABORTED",
            }.get(kind, execution)
        if not kind.endswith("StateEntered"):
            continue
        previous = by_id.get(int(event.get("previousEventId") or 0))
        if previous is not None and str(previous.get("type", "")).endswith("StateExited"):
            before = (previous.get("stateExitedEventDetails") or {}).get("name")
            after = (event.get("stateEnteredEventDetails") or {}).get("name")
            if isinstance(before, str) and isinstance(after, str):
                transitions.add((before, after))
    rank = {FAILED: 4, RUNNING: 3, STOPPED: 2, SUCCEEDED: 1}
    statuses: dict[str, str] = {}
    visits: dict[str, list[StateVisit]] = {}
    for visit in state_visits(events):
        visits.setdefault(visit.name, []).append(visit)
        if rank.get(visit.status, 0) > rank.get(statuses.get(visit.name, ""), 0):
            statuses[visit.name] = visit.status
    return _Run(statuses, visits, transitions, execution)


# ---------------------------------------------------------------------------------------------- labels
_OPERATORS = {
    "Equals": "==",
    "GreaterThan": ">",
    "GreaterThanEquals": ">=",
    "LessThan": "<",
    "LessThanEquals": "<=",
    "Matches": "matches",
}


def _rule_text(rule: Mapping[str, Any]) -> str:
    """A Choice rule in a few words: the JSONata condition, or `$.x > 5` for a JSONPath rule."""
    condition = rule.get("Condition")
    if isinstance(condition, str):
        text = condition.strip()
        if text.startswith("{%") and text.endswith("%}"):
            text = text[2:-2].strip()
        return text
    for joint in ("And", "Or"):
        if isinstance(rule.get(joint), list):
            return f" {joint.lower()} ".join(
                f"({_rule_text(r)})" for r in rule[joint] if isinstance(r, Mapping)
            )
    if isinstance(rule.get("Not"), Mapping):
        return f"not ({_rule_text(rule['Not'])})"
    variable = str(rule.get("Variable", "?"))
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign", "Output"):
            continue
        operator = key
        for prefix in ("String", "Numeric", "Boolean", "Timestamp"):
            operator = operator.removeprefix(prefix)
        operand = json.dumps(value, ensure_ascii=False)
        if operator.endswith("Path"):
            operator, operand = operator[:-4], str(value)
        if key.startswith("Is"):
            return f"{variable} {key[2:].lower()} is {json.dumps(value)}"
        return f"{variable} {_OPERATORS.get(operator, operator)} {operand}"
    return variable


def _shorten(text: str, limit: int = _LABEL_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tail(text: str, limit: int = _LABEL_MAX) -> str:
    """The end of `text` in `limit` characters, from a word boundary: `… and $x > 0`."""
    tail = text[-(limit - 2) :]
    if not text.endswith(" " + tail) and " " in tail:
        tail = tail[tail.index(" ") + 1 :]
    return "… " + tail


def _resource_text(state: Mapping[str, Any]) -> str:
    resource = state.get("Resource")
    if not isinstance(resource, str):
        return ""
    if resource.startswith("arn:aws:states:::"):
        return resource[len("arn:aws:states:::") :].replace("aws-sdk:", "")
    if ":function:" in resource:
        return "lambda:" + resource.split(":function:", 1)[1].split(":")[0]
    if ":activity:" in resource:
        return "activity:" + resource.split(":activity:", 1)[1]
    return resource.rsplit(":", 1)[-1]


def _transitions(state: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, kind, label, tooltip) for every edge leaving a state, in the definition's order."""
    found: list[tuple[str, str, str, str]] = []
    if state.get("Type") == "Choice":
        rules = [
            r for r in state.get("Choices") or [] if isinstance(r, Mapping) and isinstance(r.get("Next"), str)
        ]
        texts = [" ".join(_rule_text(rule).split()) for rule in rules]
        starts = [_shorten(text) for text in texts]
        labels = [
            _tail(text) if starts.count(start) > 1 and len(text) > _LABEL_MAX else start
            for text, start in zip(texts, starts, strict=True)
        ]  # rules that start alike are told apart by their ends
        for rule, text, label in zip(rules, texts, labels, strict=True):
            found.append((rule["Next"], "choice", label, text))
        if isinstance(state.get("Default"), str):
            found.append((state["Default"], "default", "Default", "Default"))
    elif isinstance(state.get("Next"), str):
        found.append((state["Next"], "next", "", ""))
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, Mapping) and isinstance(catcher.get("Next"), str):
            errors = ", ".join(str(e) for e in catcher.get("ErrorEquals") or [])
            label = "" if errors == "States.ALL" else _shorten(errors, 28)  # dashed says "catch"
            found.append((catcher["Next"], "catch", label, f"Catch {errors}"))
    return found


def _terminal(state: Mapping[str, Any]) -> bool:
    return state.get("Type") in ("Succeed", "Fail") or state.get("End") is True


# ---------------------------------------------------------------------------------------------- layout
def _subtitle(box: _Box, run: _Run) -> str:
    parts = [box.kind]
    resource = _resource_text(box.state)
    if resource:
        parts = [resource]
    visits = run.visits.get(box.name, [])
    if box.kind == "Map" and visits:
        count = sum(v.iterations for v in visits)
        noun = "iteration"
        if any(v.child_executions is not None for v in visits):  # a distributed Map
            count, noun = sum(v.child_executions or 0 for v in visits), "child execution"
        parts.append(f"{count} {noun}{'s' if count != 1 else ''}")
    seconds = [v.seconds for v in visits if v.seconds is not None]
    if seconds:
        parts.append(format_seconds(sum(seconds)))
    retries = sum(v.retries for v in visits)
    if retries:
        parts.append(f"{retries} retr{'ies' if retries > 1 else 'y'}")
    return " · ".join(parts)


def _machine_layout(machine: Mapping[str, Any], prefix: str, run: _Run, top: bool) -> _Layout:
    states = machine.get("States")
    states = states if isinstance(states, Mapping) else {}
    start = machine.get("StartAt")
    boxes: dict[str, _Box] = {}
    for name, state in states.items():
        state = state if isinstance(state, Mapping) else {}
        box = _Box(prefix + name, str(name), str(state.get("Type", "?")), state)
        inner = []
        if box.kind == "Parallel":
            inner = [b for b in state.get("Branches") or [] if isinstance(b, Mapping)]
        elif box.kind == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            inner = [processor] if isinstance(processor, Mapping) else []
        box.branches = [
            _machine_layout(branch, f"{prefix}{name}/{index}/", run, False)
            for index, branch in enumerate(inner)
        ]
        _size(box, run)
        boxes[str(name)] = box

    edges: list[_Edge] = []
    for name, box in boxes.items():
        for target, kind, label, tooltip in _transitions(box.state):
            if target in boxes:
                edges.append(_Edge(name, target, kind, label, tooltip))
    if top:
        boxes["\0start"] = _Box(prefix + "\0start", "Start", "start", {}, 64.0, 28.0)
        boxes["\0end"] = _Box(prefix + "\0end", "End", "end", {}, 64.0, 28.0)
        if isinstance(start, str) and start in states:
            edges.insert(0, _Edge("\0start", start, "start"))
        edges += [
            _Edge(n, "\0end", "end")
            for n, b in boxes.items()
            if b.kind not in ("start", "end") and _terminal(b.state)
        ]
        start = "\0start"

    order, back = _order(boxes, edges, start if isinstance(start, str) else None)
    for edge in edges:
        edge.back = (edge.source, edge.target) in back
    _layer(boxes, edges, order)
    if top:  # End below everything
        boxes["\0end"].layer = 1 + max((b.layer for n, b in boxes.items() if n != "\0end"), default=0)
    _stub_shared_catches(boxes, edges)
    for index, edge in enumerate(edges):  # a long edge gets a dummy box in each layer it crosses
        if edge.back or edge.stub:
            continue
        after = order.index(edge.source) + 1
        for layer in range(boxes[edge.source].layer + 1, boxes[edge.target].layer):
            key = f"\1{index}.{layer}"
            boxes[key] = _Box(prefix + key, "", "dummy", {}, _DUMMY_WIDTH, 0.0, layer=layer)
            edge.waypoints.append(key)
            order.insert(after, key)
            after += 1
    layout = _Layout(boxes, edges)
    _place(layout, order)
    return layout


def _stub_label(edge: _Edge, boxes: Mapping[str, _Box]) -> str:
    return f"{boxes[edge.target].name}" + (f" ({edge.label})" if edge.label else "")


def _stub_shared_catches(boxes: dict[str, _Box], edges: list[_Edge]) -> None:
    """Catch edges into a handler that catches for three states or more (RecordFailure) are drawn as
    a short dashed arrow beside their source, naming the handler, rather than as long lines bundled
    down the page; the shortest of them stays a whole edge so that the handler stays connected."""
    by_target: dict[str, list[_Edge]] = {}
    for edge in edges:
        if edge.kind == "catch" and not edge.back:
            by_target.setdefault(edge.target, []).append(edge)
    for target, catches in by_target.items():
        if len({e.source for e in catches}) < 3:
            continue
        span = {id(e): boxes[target].layer - boxes[e.source].layer for e in catches}
        keep = min(catches, key=lambda e: span[id(e)])
        for edge in catches:
            if edge is not keep and span[id(edge)] > 1:
                edge.stub = True
    for edge in edges:
        if edge.stub:
            source = boxes[edge.source]
            room = _STUB_ARROW + len(_stub_label(edge, boxes)) * _SUB_CHAR + 10
            source.aside = max(source.aside, room)


def _size(box: _Box, run: _Run) -> None:
    if box.branches:
        inner_width = sum(b.width for b in box.branches) + _BRANCH_GAP * (len(box.branches) - 1)
        inner_height = max(b.height for b in box.branches)
        title = len(box.name) * _NAME_CHAR + len(_subtitle(box, run)) * _SUB_CHAR + 3 * _PAD_X
        box.width = max(inner_width + 2 * _CONTAINER_PAD, title, _MIN_WIDTH)
        box.height = _CONTAINER_HEADER + inner_height + _CONTAINER_PAD
        x = (box.width - inner_width) / 2
        box.branch_offsets = []
        for branch in box.branches:
            box.branch_offsets.append((x, _CONTAINER_HEADER))
            x += branch.width + _BRANCH_GAP
        return
    text = max(len(box.name) * _NAME_CHAR, len(_subtitle(box, run)) * _SUB_CHAR)
    box.width = max(_MIN_WIDTH, text + 2 * _PAD_X)


def _order(
    boxes: dict[str, _Box], edges: list[_Edge], start: str | None
) -> tuple[list[str], set[tuple[str, str]]]:
    """Depth-first order from `start` (then any unreachable state), and the edges that close a loop."""
    successors: dict[str, list[str]] = {name: [] for name in boxes}
    for edge in edges:
        successors[edge.source].append(edge.target)
    order: list[str] = []
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    roots = ([start] if start in boxes else []) + [n for n in boxes if n != "\0end"] + ["\0end"]
    for root in roots:
        if root not in boxes or root in state:
            continue
        state[root] = 1
        order.append(root)
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, index = stack[-1]
            if index >= len(successors[node]):
                state[node] = 2
                stack.pop()
                continue
            stack[-1] = (node, index + 1)
            target = successors[node][index]
            if state.get(target) == 1:
                back.add((node, target))
            elif target not in state:
                state[target] = 1
                order.append(target)
                stack.append((target, 0))
    return order, back


def _layer(boxes: dict[str, _Box], edges: list[_Edge], order: list[str]) -> None:
    """Longest path over the forward edges, in a topological order (Kahn, ties by `order`)."""
    rank = {name: i for i, name in enumerate(order)}
    forward = [e for e in edges if not e.back and e.source != e.target]
    incoming = {name: 0 for name in boxes}
    for edge in forward:
        incoming[edge.target] += 1
    ready = sorted((n for n, count in incoming.items() if count == 0), key=rank.__getitem__)
    while ready:
        node = ready.pop(0)
        for edge in forward:
            if edge.source != node:
                continue
            boxes[edge.target].layer = max(boxes[edge.target].layer, boxes[node].layer + 1)
            incoming[edge.target] -= 1
            if incoming[edge.target] == 0:
                ready.append(edge.target)
                ready.sort(key=rank.__getitem__)


def _gap(left: _Box, right: _Box) -> float:
    return _DUMMY_GAP if "dummy" in (left.kind, right.kind) else _GAP_X


def _place(layout: _Layout, order: list[str]) -> None:
    boxes = layout.boxes
    rank = {name: i for i, name in enumerate(order)}
    depth = max((b.layer for b in boxes.values()), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(depth)]
    for name in order:
        layers[boxes[name].layer].append(name)
    predecessors: dict[str, list[str]] = {name: [] for name in boxes}
    for edge in layout.edges:
        if not edge.back and not edge.stub:
            chain = [edge.source, *edge.waypoints, edge.target]
            for before, after in itertools.pairwise(chain):
                predecessors[after].append(before)

    def row_width(row: list[str]) -> float:
        return sum(boxes[n].width + boxes[n].aside for n in row) + sum(
            _gap(boxes[a], boxes[b]) for a, b in itertools.pairwise(row)
        )

    y = 0.0
    for row in layers:

        def desired(name: str) -> tuple[float, int]:
            placed = [
                boxes[p].x + boxes[p].width / 2
                for p in predecessors[name]
                if boxes[p].layer < boxes[name].layer
            ]
            return (sum(placed) / len(placed) if placed else float("inf"), rank[name])

        wanted = {name: desired(name) for name in row}
        row.sort(key=wanted.__getitem__)
        # start where the predecessors are (centred on their mean), then keep boxes from overlapping
        anchors = [w[0] for w in wanted.values() if w[0] != float("inf")]
        centre = sum(anchors) / len(anchors) if anchors else 0.0
        x = centre - row_width(row) / 2
        tallest = max((boxes[n].height for n in row if boxes[n].kind != "dummy"), default=0.0)
        for index, name in enumerate(row):
            box = boxes[name]
            box.x = x
            x += box.width + box.aside + (_gap(box, boxes[row[index + 1]]) if index + 1 < len(row) else 0.0)
            box.y = y
            if box.kind == "dummy":
                box.height = tallest
            elif box.kind in ("start", "end"):
                box.y += (tallest - box.height) / 2
        y += tallest + _GAP_Y
    left = min((b.x for b in boxes.values()), default=0.0)
    for box in boxes.values():
        box.x -= left
    width = max((b.x + b.width + b.aside for b in boxes.values()), default=_MIN_WIDTH)
    if any(e.back for e in layout.edges):
        width += _LOOP_MARGIN
    layout.width = width
    layout.height = max(y - _GAP_Y, 0.0)
    _ports(layout)


def _ports(layout: _Layout) -> None:
    """Spread the edges leaving (entering) a box along its bottom (top), ordered by where they go."""
    boxes = layout.boxes
    leaving: dict[str, list[tuple[float, _Edge]]] = {}
    entering: dict[str, list[tuple[float, _Edge]]] = {}
    for edge in layout.edges:
        if edge.back or edge.stub:
            continue
        first = boxes[edge.waypoints[0] if edge.waypoints else edge.target]
        last = boxes[edge.waypoints[-1] if edge.waypoints else edge.source]
        leaving.setdefault(edge.source, []).append((first.x + first.width / 2, edge))
        entering.setdefault(edge.target, []).append((last.x + last.width / 2, edge))
    for name, edges in leaving.items():
        width = boxes[name].width
        for index, (_, edge) in enumerate(sorted(edges, key=lambda item: item[0])):
            edge.out_x = width * (index + 1) / (len(edges) + 1)
    for name, edges in entering.items():
        width = boxes[name].width * 0.6  # arrows into the middle part of the top
        for index, (_, edge) in enumerate(sorted(edges, key=lambda item: item[0])):
            edge.in_x = boxes[name].width * 0.2 + width * (index + 1) / (len(edges) + 1)


def _status(box: _Box, run: _Run) -> str:
    if run.execution is None:
        return PLAIN
    if box.kind == "start":
        return SUCCEEDED if run.statuses else UNVISITED
    if box.kind == "end":
        return {"SUCCEEDED": SUCCEEDED, "RUNNING": UNVISITED}.get(run.execution, FAILED)
    return run.statuses.get(box.name, UNVISITED)


def _edge_state(edge: _Edge, layout: _Layout, run: _Run) -> str:
    if run.execution is None:
        return "plain"
    source, target = layout.boxes[edge.source], layout.boxes[edge.target]
    if edge.kind == "start":
        return "taken" if run.statuses.get(target.name) else "idle"
    status = run.statuses.get(source.name)
    if edge.kind == "end":
        if source.kind == "Fail" and status == FAILED:
            return "taken-failure"
        return "taken" if status == SUCCEEDED else "idle"
    if (source.name, target.name) not in run.transitions:
        return "idle"
    # a state with both a Next and a Catch to one target: which one depends on how the state ended
    caught = any(v.caught for v in run.visits.get(source.name, []))
    passed = any(v.status == SUCCEEDED for v in run.visits.get(source.name, []))
    if edge.kind == "catch":
        return "taken-failure" if caught else "idle"
    return "taken" if passed or not caught else "idle"


def _bezier(p0: tuple[float, float], p3: tuple[float, float], t: float) -> tuple[float, float, str]:
    """A vertical S-curve from p0 down to p3: its SVG segment and its point at `t`."""
    (x0, y0), (x3, y3) = p0, p3
    bend = max((y3 - y0) * 0.5, 12.0)
    p1, p2 = (x0, y0 + bend), (x3, y3 - bend)
    u = 1 - t
    x = u**3 * x0 + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * x3
    y = u**3 * y0 + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * y3
    return x, y, f"C{p1[0]:.1f},{p1[1]:.1f} {p2[0]:.1f},{p2[1]:.1f} {x3:.1f},{y3:.1f}"


def _path(edge: _Edge, layout: _Layout, ox: float, oy: float) -> tuple[str, float, float]:
    """The edge's path and a point for its label."""
    source, target = layout.boxes[edge.source], layout.boxes[edge.target]
    if edge.stub:  # out of the right side; the label names the handler
        x1, y1 = ox + source.x + source.width, oy + source.y + source.height / 2
        return f"M{x1:.1f},{y1:.1f} H{x1 + _STUB_ARROW - 3:.1f}", x1 + _STUB_ARROW, y1
    if edge.back or target.layer <= source.layer:  # a loop: out right, up the side, back in
        loops = [
            e
            for e in layout.edges
            if not e.stub and (e.back or layout.boxes[e.target].layer <= layout.boxes[e.source].layer)
        ]
        lane = ox + layout.width - _LOOP_MARGIN * 0.6 + 12.0 * (loops.index(edge) % 3)
        x1, y1 = ox + source.x + source.width, oy + source.y + source.height / 2
        x2, y2 = ox + target.x + target.width, oy + target.y + target.height / 2
        r = min(10.0, abs(y1 - y2) / 2)
        up = -1 if y2 < y1 else 1
        d = (
            f"M{x1:.1f},{y1:.1f} H{lane - r:.1f} Q{lane:.1f},{y1:.1f} {lane:.1f},{y1 + up * r:.1f} "
            f"V{y2 - up * r:.1f} Q{lane:.1f},{y2:.1f} {lane - r:.1f},{y2:.1f} H{x2 + 3:.1f}"
        )
        return d, lane, (y1 + y2) / 2
    points = [(ox + source.x + edge.out_x, oy + source.y + source.height)]
    for key in edge.waypoints:
        dummy = layout.boxes[key]
        cx = ox + dummy.x + dummy.width / 2
        points += [(cx, oy + dummy.y), (cx, oy + dummy.y + dummy.height)]
    points.append((ox + target.x + edge.in_x, oy + target.y - 3))
    d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
    label = (points[0][0], points[0][1])
    for index in range(0, len(points) - 1, 2):
        x, y, segment = _bezier(points[index], points[index + 1], 0.55)
        if index == 0:
            label = (x, y)
        d += " " + segment
        if index + 2 < len(points):
            d += f" L{points[index + 2][0]:.1f},{points[index + 2][1]:.1f}"
    return d, label[0], label[1]


def _free_spot(
    taken: list[tuple[float, float, float, float]], x: float, y: float, w: float, h: float
) -> float:
    """The first y at or below `y` where a (w, h) label at x overlaps no earlier label; records it."""
    for _ in range(12):
        clash = next(
            (t for t in taken if x < t[0] + t[2] and t[0] < x + w and y < t[1] + t[3] and t[1] < y + h), None
        )
        if clash is None:
            break
        y = clash[1] + clash[3] + 1
    taken.append((x, y, w, h))
    return y


def _draw_layout(
    layout: _Layout,
    ox: float,
    oy: float,
    run: _Run,
    edges: list[str],
    boxes: list[str],
    labels: list[tuple[float, float, float, float]],
) -> None:
    # The states' own texts are taken first, so that an edge's label moved aside never lands on one.
    for box in layout.boxes.values():
        if box.kind != "dummy":
            labels.append((ox + box.x, oy + box.y, box.width, 26.0 if box.branches else 42.0))
    for edge in layout.edges:
        source, target = layout.boxes[edge.source], layout.boxes[edge.target]
        look = _edge_state(edge, layout, run)
        stroke, width = _EDGE_COLOURS[look]
        d, lx, ly = _path(edge, layout, ox, oy)
        dash = ' stroke-dasharray="6 4"' if edge.kind == "catch" else ""
        ends = f"data-from={quoteattr(source.name)} data-to={quoteattr(target.name)}"
        classes = " ".join(["edge", edge.kind, look] + ["back"] * edge.back + ["stub"] * edge.stub)
        attrs = f'class="{classes}" {ends}'
        title = f"<title>{escape(edge.tooltip)}</title>" if edge.tooltip else ""
        parts = [
            f"<g {attrs}>{title}",
            f'<path d="{d}" fill="none" stroke="{stroke}" stroke-width="{width}"{dash} '
            f'marker-end="url(#arrow-{look})"/>',
        ]
        if edge.stub:
            stub_text = _stub_label(edge, layout.boxes)
            colour = "#a50e0e" if look == "taken-failure" else "#5f6368"
            labels.append((lx, ly - 8, len(stub_text) * _SUB_CHAR + 4, 16))
            parts.append(
                f'<text x="{lx + 2:.1f}" y="{ly + 4:.1f}" font-size="11" fill="{colour}">'
                f"{escape(stub_text)}</text>"
            )
        elif edge.label:
            text_width = len(edge.label) * _SUB_CHAR + 8
            ly = _free_spot(labels, lx - text_width / 2, ly - 8, text_width, 16) + 8
            colour = "#a50e0e" if edge.kind == "catch" else "#3c4043"
            parts.append(
                f'<rect x="{lx - text_width / 2:.1f}" y="{ly - 8:.1f}" width="{text_width:.1f}" '
                'height="16" rx="3" fill="#ffffff" fill-opacity="0.9"/>'
                f'<text x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="middle" font-size="11" fill="{colour}">'
                f"{escape(edge.label)}</text>"
            )
        parts.append("</g>")
        edges.append("".join(parts))
    for box in layout.boxes.values():
        if box.kind != "dummy":
            _draw_box(box, ox, oy, run, edges, boxes, labels)


def _draw_box(
    box: _Box,
    ox: float,
    oy: float,
    run: _Run,
    edges: list[str],
    boxes: list[str],
    labels: list[tuple[float, float, float, float]],
) -> None:
    status = _status(box, run)
    fill, stroke, ink = _BOX_COLOURS[status]
    x, y = ox + box.x, oy + box.y
    if box.kind in ("start", "end"):
        boxes.append(
            f'<g class="terminal {box.kind}" data-status="{status}">'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="14" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
            f'<text x="{x + box.width / 2:.1f}" y="{y + 18:.1f}" text-anchor="middle" font-size="12" '
            f'fill="{ink}">{box.name}</text></g>'
        )
        return
    visits = run.visits.get(box.name, [])
    tooltip = [f"{box.name} ({box.kind})", f"status: {status}"]
    if isinstance(box.state.get("Comment"), str):
        tooltip.append(box.state["Comment"])
    failed = next((v for v in reversed(visits) if v.status == FAILED and (v.error or v.cause)), None)
    if failed is not None:
        tooltip.append(
            " ".join(p for p in (f"{failed.error}:" if failed.error else "", failed.cause or "") if p)
        )
    subtitle = _subtitle(box, run)
    dash = ' stroke-dasharray="3 3"' if status == STOPPED else ""
    weight = "1.2" if status in (UNVISITED, PLAIN) else "2"
    container = bool(box.branches)
    rx = 10 if container else 8
    box_fill = "#ffffff" if container and status in (UNVISITED, PLAIN) else fill
    head = [
        f'<g class="state {status}" data-state={quoteattr(box.name)} data-type={quoteattr(box.kind)} '
        f'data-status="{status}"><title>{escape(chr(10).join(tooltip))}</title>',
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="{rx}" '
        f'fill="{box_fill}" fill-opacity="{0.35 if container else 1}" stroke="{stroke}" '
        f'stroke-width="{weight}"{dash}/>',
    ]
    if container:
        head.append(
            f'<text x="{x + _PAD_X:.1f}" y="{y + 21:.1f}" font-size="13" font-weight="600" fill="{ink}">'
            f'{escape(box.name)} <tspan font-size="11" font-weight="400">{escape(subtitle)}</tspan></text>'
        )
    else:
        cx = x + box.width / 2
        head.append(
            f'<text x="{cx:.1f}" y="{y + 20:.1f}" text-anchor="middle" font-size="13" font-weight="600" '
            f'fill="{ink}">{escape(box.name)}</text>'
            f'<text x="{cx:.1f}" y="{y + 36:.1f}" text-anchor="middle" font-size="11" fill="{ink}" '
            f'fill-opacity="0.8">{escape(subtitle)}</text>'
        )
    head.append("</g>")
    boxes.append("".join(head))
    for branch, (bx, by) in zip(box.branches, box.branch_offsets, strict=True):
        if len(box.branches) > 1:
            boxes.append(
                f'<rect class="branch" x="{x + bx - 8:.1f}" y="{y + by - 6:.1f}" '
                f'width="{branch.width + 16:.1f}" height="{branch.height + 12:.1f}" rx="6" fill="none" '
                'stroke="#dadce0" stroke-dasharray="2 3"/>'
            )
        inner_edges: list[str] = []
        inner_boxes: list[str] = []
        _draw_layout(branch, x + bx, y + by, run, inner_edges, inner_boxes, labels)
        boxes.extend(inner_edges + inner_boxes)


def _definition(definition: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(definition, str):
        parsed = json.loads(definition)
        if not isinstance(parsed, Mapping):
            raise ValueError("a state machine definition is a JSON object")
        return parsed
    return definition


def render_svg(
    definition: Mapping[str, Any] | str,
    history: Iterable[Mapping[str, Any]] | None = None,
    *,
    title: str | None = None,
    heading: bool = True,
) -> str:
    """The state machine as a standalone SVG document (with the executed path when `history` is given);
    `title` is its <title> and, with `heading`, a heading drawn above the machine."""
    run = _run_of(history)
    layout = _machine_layout(_definition(definition), "", run, True)
    margin = 24.0
    drawn_title = title if heading else None
    heading_height = 30.0 if drawn_title else 0.0
    edges: list[str] = []
    boxes: list[str] = []
    _draw_layout(layout, margin, margin + heading_height, run, edges, boxes, [])
    width = layout.width + 2 * margin
    height = layout.height + 2 * margin + heading_height
    markers = "".join(
        f'<marker id="arrow-{look}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{stroke}"/></marker>'
        for look, (stroke, _) in _EDGE_COLOURS.items()
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="{_FONT}">',
        f"<title>{escape(title or 'State machine')}</title>",
        f"<defs>{markers}</defs>",
        f'<rect width="{width:.1f}" height="{height:.1f}" fill="#ffffff"/>',
    ]
    if drawn_title:
        parts.append(
            f'<text class="heading" x="{margin}" y="{margin + 8:.1f}" font-size="15" font-weight="600" '
            f'fill="#202124">{escape(drawn_title)}</text>'
        )
    parts += ['<g class="edges">', *edges, "</g>", '<g class="states">', *boxes, "</g>", "</svg>"]
    return "\n".join(parts) + "\n"


def render_html(
    definition: Mapping[str, Any] | str,
    history: Iterable[Mapping[str, Any]] | None = None,
    *,
    title: str | None = None,
) -> str:
    """One HTML page embedding the SVG and a legend; no script, stylesheet or font from elsewhere. The
    title is the page's heading (once); the drawing shrinks to the window's width, never grows."""
    events = list(history) if history is not None else None
    svg = render_svg(definition, events, title=title, heading=False)
    legend = ""
    if events is not None:
        items = [
            (SUCCEEDED, "succeeded"),
            (FAILED, "failed"),
            (RUNNING, "running / stopped"),
            (UNVISITED, "not visited"),
        ]
        legend = "".join(
            f'<span class="key"><span class="swatch" style="background:{_BOX_COLOURS[s][0]};'
            f'border-color:{_BOX_COLOURS[s][1]}"></span>{escape(text)}</span>'
            for s, text in items
        )
        legend += '<span class="key"><span class="dash"></span>Catch</span>'
    page_title = escape(title or "State machine")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{page_title}</title>"
        "<style>"
        f"body{{font-family:{_FONT};margin:24px;color:#202124;background:#fff}}"
        "h1{font-size:18px;margin:0 0 8px}"
        ".legend{font-size:13px;margin:0 0 16px}"
        ".key{margin-right:18px;white-space:nowrap}"
        ".swatch{display:inline-block;width:14px;height:14px;border:2px solid;border-radius:3px;"
        "vertical-align:-3px;margin-right:6px}"
        ".dash{display:inline-block;width:28px;border-top:2px dashed #5f6368;vertical-align:3px;"
        "margin-right:6px}"
        ".graph svg{display:block;max-width:100%;height:auto}"
        "</style></head><body>"
        f"<h1>{page_title}</h1>"
        f'<div class="legend">{legend}</div>'
        f'<div class="graph">\n{svg}</div>'
        "</body></html>\n"
    )
