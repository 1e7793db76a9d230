"""A distributed Map's ItemReader and ResultWriter, through the task integrations (S3 is whatever
integration serves the `s3` service).

ItemReader calls its Resource (`arn:aws:states:::s3:getObject` or `...:s3:listObjectsV2`) with the
reader's Parameters / Arguments. What the integration answers is read as:
- `s3:listObjectsV2`: `{"Contents": [...]}`, each entry an item (every page, already joined);
- `s3:getObject`: the object's text (a string, or `{"Body": text}`), read per ReaderConfig.InputType:
  JSON (an array), JSONL (one value a line), CSV (rows as objects keyed by the headers), or already
  parsed items (a list).
ResultWriter puts `<Prefix>/<map run id>/manifest.json` and `SUCCEEDED_0.json` / `FAILED_0.json`
through `s3:putObject` (Bucket, Key, Body).

Both are loaded with their state (`IoBlock`): the request (Parameters, a payload template, in
JSONPath; Arguments in JSONata) and the reader's MaxItems are typed then, as are the Map's other
templates (`template_source`: ItemSelector, Parameters, BatchInput), each a
`value_source.PayloadTemplate` (JSONPath, the type every state's templates share) or an
`ExpressionValue` / `LiteralValue` (JSONata)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tributary.states import errors
from tributary.states.definition import DefinitionError, Field
from tributary.states.engine import iso_time
from tributary.states.errors import StatesError
from tributary.states.history import payload_text
from tributary.states.service_integrations import ResourceError, TaskCall, parse_resource
from tributary.states.value_source import NO_VALUE, PayloadTemplate, ValueSource, read_source

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun
    from tributary.states.state.map import IterationOutcome


def template_source(
    raw: Mapping[str, Any], name: str, place: str, jsonata: bool, label: str | None = None
) -> ValueSource:
    """A field that builds a value (ItemSelector, Parameters, BatchInput, a reader's or writer's
    request), as loaded: a payload template in JSONPath; in JSONata an expression, or a literal
    when it holds none."""
    if jsonata:
        return read_source(raw, name, place, jsonata=True, label=label)
    return PayloadTemplate(name, raw[name], label, place=f"{place}.{name}") if name in raw else NO_VALUE


@dataclass(frozen=True)
class IoBlock:
    """An ItemReader or ResultWriter as loaded: the block as written (`raw`: Resource, ReaderConfig,
    WriterConfig), its request (`Parameters` in JSONPath, `Arguments` in JSONata) and, for a reader,
    ReaderConfig's `MaxItems` (a literal, `MaxItemsPath` or an expression)."""

    raw: dict[str, Any]
    request: ValueSource
    max_items: Field

    @classmethod
    def read(cls, state: Mapping[str, Any], key: str, place: str, jsonata: bool) -> IoBlock | None:
        """A ResultWriter may hold only a WriterConfig (the results formatted, not exported);
        otherwise the block names its Resource."""
        block = state.get(key)
        if block is None:
            return None
        resource_free = key == "ResultWriter" and isinstance(block, dict) and "Resource" not in block
        if not (resource_free and isinstance(block.get("WriterConfig"), dict)) and (
            not isinstance(block, dict) or not isinstance(block.get("Resource"), str)
        ):
            raise DefinitionError(f"{key} must be an object with a Resource", place)
        where = f"{place}.{key}"
        request = (
            template_source(block, "Arguments", where, True, f"{key}/Arguments")
            if jsonata
            else template_source(block, "Parameters", where, False, f"{key}.Parameters")
        )
        config = block.get("ReaderConfig")
        config = config if isinstance(config, dict) else {}
        max_items = Field.read(config, "MaxItems", where, jsonata=jsonata, label="ReaderConfig/MaxItems")
        return cls(block, request, max_items)


def _request(engine: Interpreter, run: StateRun, block: IoBlock, effective: Any) -> Any:
    return block.request.evaluate(engine, run, effective) if block.request.given else {}


def _call(engine: Interpreter, run: StateRun, resource_arn: str, arguments: Any, error: str) -> Any:
    try:
        resource = parse_resource(resource_arn)
    except ResourceError as exc:
        raise StatesError(error, str(exc)) from None
    call = TaskCall(
        resource=resource,
        arguments=arguments,
        state_name=run.name,
        execution_arn=engine.runtime.execution_arn,
        state_machine_arn=engine.runtime.state_machine_arn,
        clock=engine.runtime.clock,
        context=run.context,
    )
    try:
        return engine.runtime.integrations.invoke(call)
    except StatesError as exc:
        raise StatesError(error, f"{exc.error}: {exc.cause}") from None
    except Exception as exc:  # an integration's own failure (a missing object, a bug)
        raise StatesError(error, f"{type(exc).__name__}: {exc}") from exc


def read_items(engine: Interpreter, run: StateRun, reader: IoBlock, effective: Any) -> list[Any]:
    arguments = _request(engine, run, reader, effective)
    resource = reader.raw["Resource"]
    answer = _call(engine, run, resource, arguments, errors.ITEM_READER_FAILED)
    if isinstance(answer, dict) and "Contents" in answer:
        answer = _all_pages(engine, run, resource, arguments, answer)
    config = reader.raw.get("ReaderConfig", {})
    try:
        items = _parse_items(answer, config)
    except (ValueError, KeyError, TypeError) as exc:
        raise StatesError(errors.ITEM_READER_FAILED, f"Could not read the items: {exc}") from None
    max_items = reader.max_items.evaluate(engine, run, effective)
    if isinstance(max_items, int) and not isinstance(max_items, bool) and max_items > 0:
        items = items[:max_items]
    return items


def _all_pages(
    engine: Interpreter, run: StateRun, resource: str, arguments: Any, first: dict[str, Any]
) -> dict[str, Any]:
    """listObjectsV2 answers a page at a time: follow NextContinuationToken to the last."""
    contents = list(first.get("Contents", []))
    page = first
    while page.get("IsTruncated") and page.get("NextContinuationToken"):
        request = {**arguments, "ContinuationToken": page["NextContinuationToken"]}
        page = _call(engine, run, resource, request, errors.ITEM_READER_FAILED)
        contents.extend(page.get("Contents", []))
    return {"Contents": contents}


def _parse_items(answer: Any, config: dict[str, Any]) -> list[Any]:
    if isinstance(answer, dict) and "Contents" in answer:
        return list(answer["Contents"])
    if isinstance(answer, list):
        return answer
    body = answer.get("Body") if isinstance(answer, dict) else answer
    if isinstance(body, bytes):
        body = body.decode()
    if not isinstance(body, str):
        raise ValueError(f"expected the object's text, got {json_type(body)}")
    input_type = config.get("InputType", "JSON")
    if input_type == "JSON":
        items = json.loads(body)
        if not isinstance(items, list):
            raise ValueError("the JSON object does not hold an array")
        return items
    if input_type == "JSONL":
        return [json.loads(line) for line in body.splitlines() if line.strip()]
    if input_type == "CSV":
        return _csv_items(body, config)
    raise ValueError(f"unsupported InputType {input_type}")


def _csv_items(body: str, config: dict[str, Any]) -> list[dict[str, str]]:
    delimiter = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}.get(
        config.get("CSVDelimiter", "COMMA"), ","
    )
    rows = list(csv.reader(io.StringIO(body), delimiter=delimiter))
    if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
        headers = list(config.get("CSVHeaders", []))
    else:
        headers, rows = (rows[0], rows[1:]) if rows else ([], [])
    return [dict(zip(headers, row, strict=False)) for row in rows if row]


def json_type(value: Any) -> str:
    return type(value).__name__


def _transformation(writer: IoBlock) -> tuple[str, str]:
    """(Transformation, OutputType) of a ResultWriter's WriterConfig: NONE and JSON by default when
    the results are exported, COMPACT when only formatted."""
    config = writer.raw.get("WriterConfig") or {}
    default = "NONE" if "Resource" in writer.raw else "COMPACT"
    return str(config.get("Transformation", default)), str(config.get("OutputType", "JSON"))


def _entry(inputs: list[Any], outcome: IterationOutcome, transformation: str) -> Any:
    """One child execution's result: its output (COMPACT, FLATTEN) or, with NONE and for every
    failed child, the output beside the execution's metadata (as DescribeExecution names it)."""
    if outcome.failure is None and transformation in ("COMPACT", "FLATTEN"):
        return outcome.output
    entry: dict[str, Any] = {}
    child = outcome.child
    if child is not None:
        entry.update(
            {"ExecutionArn": child.arn, "Name": child.name, "StateMachineArn": child.state_machine_arn}
        )
        entry["StartDate"] = iso_time(child.start)
        if child.stop is not None:
            entry["StopDate"] = iso_time(child.stop)
    entry.update({"Input": payload_text(inputs[outcome.index]), "InputDetails": {"Included": True}})
    if outcome.failure is None:
        entry.update({"Output": payload_text(outcome.output), "OutputDetails": {"Included": True}})
        entry["Status"] = "SUCCEEDED"
    else:
        entry.update({"Error": outcome.failure.error, "Cause": outcome.failure.cause, "Status": "FAILED"})
    return dict(sorted(entry.items()))


def _formatted(entries: list[Any], transformation: str, outcomes: list[IterationOutcome]) -> list[Any]:
    if transformation != "FLATTEN":
        return entries
    flat: list[Any] = []
    for entry, outcome in zip(entries, outcomes, strict=True):
        if outcome.failure is None and isinstance(entry, list):
            flat.extend(entry)
        else:
            flat.append(entry)
    return flat


def formatted_results(inputs: list[Any], outcomes: list[IterationOutcome], writer: IoBlock) -> list[Any]:
    """The child executions' results as a ResultWriter's WriterConfig formats them."""
    transformation, _ = _transformation(writer)
    return _formatted([_entry(inputs, o, transformation) for o in outcomes], transformation, outcomes)


def _file_body(entries: list[Any], output_type: str) -> str:
    if output_type == "JSONL":
        return "".join(payload_text(entry) + "\n" for entry in entries)
    return payload_text(entries)


def write_results(
    engine: Interpreter,
    run: StateRun,
    map_run_arn: str,
    inputs: list[Any],
    outcomes: list[IterationOutcome],
    writer: IoBlock,
) -> dict[str, Any] | None:
    """Put the results and the manifest; the Map's result is where they are. None when the
    ResultWriter has only a WriterConfig (nothing exported)."""
    if "Resource" not in writer.raw:
        return None
    target = _request(engine, run, writer, run.state_input)
    bucket = target.get("Bucket")
    prefix = str(target.get("Prefix", "")).rstrip("/")
    run_id = map_run_arn.rsplit(":", 1)[-1]
    base = f"{prefix}/{run_id}" if prefix else run_id
    resource = writer.raw["Resource"]
    transformation, output_type = _transformation(writer)
    succeeded_outcomes = [o for o in outcomes if o.failure is None]
    failed_outcomes = [o for o in outcomes if o.failure is not None]
    succeeded = _formatted(
        [_entry(inputs, o, transformation) for o in succeeded_outcomes], transformation, succeeded_outcomes
    )
    failed = [_entry(inputs, o, transformation) for o in failed_outcomes]
    files: list[dict[str, Any]] = []
    for name, entries in (("SUCCEEDED_0.json", succeeded), ("FAILED_0.json", failed)):
        if entries:
            key = f"{base}/{name}"
            body = _file_body(entries, output_type)
            _call(
                engine,
                run,
                resource,
                {"Bucket": bucket, "Key": key, "Body": body},
                errors.RESULT_WRITER_FAILED,
            )
            files.append({"Key": key, "Size": len(body.encode())})
    manifest = {
        "DestinationBucket": bucket,
        "MapRunArn": map_run_arn,
        "ResultFiles": {
            "FAILED": [f for f in files if "FAILED" in f["Key"]],
            "PENDING": [],
            "SUCCEEDED": [f for f in files if "SUCCEEDED" in f["Key"]],
        },
    }
    manifest_key = f"{base}/manifest.json"
    _call(
        engine,
        run,
        resource,
        {"Bucket": bucket, "Key": manifest_key, "Body": payload_text(manifest)},
        errors.RESULT_WRITER_FAILED,
    )
    return {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}
