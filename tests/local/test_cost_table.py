"""README's cost table is printed by the cost model (`python -m bench.cost --readme-table`), not written
by hand: the section between README's cost-table markers must be that output, and the output follows
template.yaml's memory sizes and etl_common.cost's prices."""

from __future__ import annotations

import re
from pathlib import Path

from bench.cost import REFERENCE, TABLE_END, TABLE_START, Measured, readme_section, readme_table, total_cost

REPO = Path(__file__).resolve().parents[2]


def test_readme_cost_table_is_the_models_output() -> None:
    section = readme_section(REPO / "README.md")
    assert section is not None, (
        f"README.md has no {TABLE_START} ... {TABLE_END} section: put the output of "
        "`python -m bench.cost --readme-table` between those two markers"
    )
    assert section == readme_table(), (
        "README's cost table is stale: paste `python -m bench.cost --readme-table`"
    )


def test_the_table_follows_the_templates_memory_sizes(tmp_path: Path) -> None:
    template = (REPO / "template.yaml").read_text()
    assert "      MemorySize: 1024\n" in template  # ValidateFunction's
    doubled = tmp_path / "template.yaml"
    doubled.write_text(template.replace("      MemorySize: 1024\n", "      MemorySize: 2048\n", 1))
    before, after = readme_table(), readme_table(template=doubled)
    assert "Validate 1024 MB" in before and "Validate 2048 MB" in after
    # | what | files | runs | transitions | Express children | Lambda GB-s | ...
    gb_seconds = re.compile(
        r"^\| one run of 1 file \(lite\) \| 1 \| \d+ \| \d+ \| \d+ \| ([\d.]+) \|", re.MULTILINE
    )
    assert float(gb_seconds.findall(after)[0]) > float(gb_seconds.findall(before)[0])


def test_one_run_per_file_costs_more_per_file_than_a_burst() -> None:
    """The recorded measurements: a burst of 1,000 files runs in a few executions, each paying the
    transitions and invocations once, where one run per file pays them per file."""
    import json

    measured = {m["label"]: m for m in json.loads(REFERENCE.read_text())["measured"]}
    single = Measured.from_json(measured["one run of 1 file (lite)"])
    burst = Measured.from_json(measured["burst of 1,000 files (lite)"])
    assert burst.executions < burst.files
    assert total_cost(burst) / burst.files < total_cost(single) / single.files


def test_the_s3_request_counter_classes_the_local_s3s_requests() -> None:
    import logging

    from bench.cost import S3RequestCounter

    counter = S3RequestCounter()
    counter.raw_bucket, counter.buckets = "raw", {"raw", "art", "cur"}
    lines = [
        '"PUT /raw/incoming/orders/a.csv HTTP/1.1" 200 -',  # the producer's upload: not the pipeline's
        '"HEAD /raw/incoming/orders/a.csv?versionId=1 HTTP/1.1" 200 -',  # get
        '"GET /art/runs/r1/manifest.json HTTP/1.1" 200 -',  # get
        '"PUT /art/runs/r1/validated.json HTTP/1.1" 200 -',  # put
        '"GET /cur?list-type=2&prefix=orders/ HTTP/1.1" 200 -',  # LIST: put class
        '"POST /art?delete HTTP/1.1" 200 -',  # free
        '"DELETE /art/rejects/x HTTP/1.1" 204 -',  # free
        '"POST / HTTP/1.1" 200 -',  # another service
        '"PUT /schedules/x HTTP/1.1" 200 -',  # not a bucket of the stack
    ]
    for line in lines:
        counter.emit(logging.LogRecord("werkzeug", logging.INFO, __file__, 1, line, None, None))
    assert (counter.put, counter.get, counter.free) == (2, 2, 2)


def test_the_recorded_runs_price_each_object_as_an_express_child_and_its_validate_call() -> None:
    """Each object of a recorded run was one EXPRESS child of ValidateEachObject: it is in the reference
    as an Express child with its duration and as one validate call (beside each run's prepare and
    summarise calls), and not as a state transition (a run's transitions are its own states)."""
    import json

    for document in json.loads(REFERENCE.read_text())["measured"]:
        measured = Measured.from_json(document)
        assert len(measured.express_children) == measured.files, measured.label
        validate_calls = sum(1 for name, _ in measured.lambda_ms if name == "ValidateFunction")
        assert validate_calls == 2 * measured.executions + measured.files, measured.label
        assert measured.transitions < 30 * measured.executions, measured.label
        # The DDL statements are RegisterPartitions' batches; not also one per EXPRESS child.
        assert measured.athena_ddl < measured.files + measured.executions, measured.label
