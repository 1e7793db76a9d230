"""The lean job: what the cache keeps, rows refused by a unique rule alone, and writes without a shuffle."""

from __future__ import annotations

import itertools
import json

import pyarrow.parquet as pq
import pytest
import transform
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.glue.conftest import GlueRun, contract_document, plan_document

pytestmark = pytest.mark.slow

COLUMNS = [
    {"name": "order_id", "type": "string", "nullable": False},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "note", "type": "string"},
    {"name": "ordered_at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
]
BY_DAY = {"column": "order_date", "source": "ordered_at"}
UNIQUE_ID = [{"column": "order_id", "rule": "unique"}, {"column": "amount", "rule": "min", "value": 0}]


def test_a_row_refused_by_a_unique_rule_alone_keeps_its_raw_text(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    # the cache keeps no raw text of rows that pass the row checks: these are read again
    glue_run.put(
        "incoming/orders/a.csv",
        "order_id,amount,note,ordered_at\n"
        "o1,1,plain,2026-11-24 10:00:00\n"  # 2 unique (with 4 and b.csv)
        'o2,2,"two\nlines, quoted",2026-11-24 10:00:00\n'  # 3-4 unique (with 7), spans two lines
        "o1,-1,x,2026-11-24 10:00:00\n"  # 5 min and unique
        "o3,3,ok,2026-11-25 10:00:00\n"  # 6 ok
        "o2,4,y,2026-11-25 10:00:00\n",  # 7 unique
    )
    glue_run.put("incoming/orders/b.csv", "order_id,amount,note,ordered_at\no1,5,z,2026-11-25 10:00:00\n")
    result = transform.transform(
        spark, glue_run.args(contract_document(COLUMNS, rules=UNIQUE_ID, partitioning=BY_DAY))
    )

    rejects = [
        (r["source_object_key"], r["line_number"], r["raw"], [x["rule"] for x in r["reasons"]])
        for r in glue_run.rejects()
    ]
    assert rejects == [
        ("incoming/orders/a.csv", 2, "o1,1,plain,2026-11-24 10:00:00", ["unique"]),
        ("incoming/orders/a.csv", 3, 'o2,2,"two\nlines, quoted",2026-11-24 10:00:00', ["unique"]),
        ("incoming/orders/a.csv", 5, "o1,-1,x,2026-11-24 10:00:00", ["min", "unique"]),
        ("incoming/orders/a.csv", 7, "o2,4,y,2026-11-25 10:00:00", ["unique"]),
        ("incoming/orders/b.csv", 2, "o1,5,z,2026-11-25 10:00:00", ["unique"]),
    ]
    assert all(
        r["source_object_version"] == "v1" and r["run_id"] == glue_run.run_id for r in glue_run.rejects()
    )
    assert [row["order_id"] for row in glue_run.curated()] == ["o3"]
    assert result["rows_rejected"] == 5 and result["quality"]["rules"][0]["failed_rows"] == 5


def test_values_whose_hashes_collide_are_told_apart_by_value(
    spark: SparkSession, glue_run: GlueRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the pass over every row groups hashes; a hash as coarse as the text's length makes o1, o2, o3
    # (and o4) collide, yet only the value that does repeat (o2) may be refused
    monkeypatch.setattr(transform, "value_hash", lambda column: F.length(column).cast("long"))
    rows = ["o1,1", "o2,2", "o3,3", "o2,4", "o44,5", "o5,6"]
    body = "".join(f"{row},n,2026-11-24 10:00:00\n" for row in rows)
    glue_run.put("incoming/orders/a.csv", "order_id,amount,note,ordered_at\n" + body)
    result = transform.transform(
        spark, glue_run.args(contract_document(COLUMNS, rules=UNIQUE_ID, partitioning=BY_DAY))
    )

    assert [(r["line_number"], [x["rule"] for x in r["reasons"]]) for r in glue_run.rejects()] == [
        (3, ["unique"]),
        (5, ["unique"]),
    ]
    assert sorted(row["order_id"] for row in glue_run.curated()) == ["o1", "o3", "o44", "o5"]
    assert result["quality"]["rules"][0] == {"column": "order_id", "rule": "unique", "failed_rows": 2}


def test_a_json_array_element_refused_by_a_unique_rule_keeps_its_text(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    columns = [{"name": "id", "type": "bigint"}, {"name": "tag", "type": "string"}]
    glue_run.put(
        "incoming/orders/a.json", json.dumps([{"id": 1, "tag": "a"}, {"id": 2}, {"id": 1, "tag": "b"}])
    )
    transform.transform(
        spark,
        glue_run.args(
            contract_document(columns, data_format="json", rules=[{"column": "id", "rule": "unique"}])
        ),
    )

    assert [(r["record_number"], json.loads(r["raw"])) for r in glue_run.rejects()] == [
        (1, {"id": 1, "tag": "a"}),
        (3, {"id": 1, "tag": "b"}),
    ]


def test_the_cache_keeps_raw_text_and_reasons_of_failed_rows_only(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    glue_run.put(
        "incoming/orders/a.csv",
        "order_id,amount,note,ordered_at\no1,1,a,2026-11-24 10:00:00\no2,x,b,2026-11-24 10:00:00\n",
    )
    args = glue_run.args(contract_document(COLUMNS, rules=UNIQUE_ID, partitioning=BY_DAY))
    transform.configure_session(spark)
    plan, manifest = transform.load_inputs(args)
    objects, _ = transform.source_objects_from(manifest, plan, args.spark_path_prefix)
    records = transform.read_records(spark, objects, plan)
    checked = transform.checked_records(records, plan, args.ingest_ts)

    rows = {row["__line_number"]: row.asDict(recursive=True) for row in checked.collect()}
    assert not {"source_object_key", "source_object_version", "run_id"} & set(checked.columns)
    assert rows[2]["__row_failed"] is False and rows[2]["__raw"] is None and rows[2]["__row_reasons"] is None
    assert rows[2]["__raw_bytes"] == len(b"o1,1,a,2026-11-24 10:00:00")
    assert rows[3]["__row_failed"] is True and rows[3]["__raw"] == "o2,x,b,2026-11-24 10:00:00"
    assert [reason["rule"] for reason in rows[3]["__row_reasons"]] == ["type"] and rows[3][
        "__raw_bytes"
    ] is None


@pytest.mark.parametrize(
    ("partitions", "rows_per_file", "cores", "tasks"),
    [
        ({"d1": 500}, 100, 8, 1),  # a small run: one task writes the 5 planned files, no shuffle
        ({"d1": 30, "d2": 30, "d3": 30}, 100, 8, 1),  # a small run: one task, one file per value
        ({"d1": 100, "d2": 100, "d3": 100, "d4": 100}, 100, 1, 1),  # one core: one task
        ({"d1": 300_000}, 10**6, 2, 2),  # enough rows for every core
        ({"d1": 3_000_000}, 10**6, 2, 2),  # one value: 2 tasks write 2 + 2 files for 3 planned
        ({"d1": 150_000, "d2": 150_000}, 10**6, 2, 2),  # 2 tasks x 2 values <= 2 x 2 planned
        ({f"d{n}": 1_200_000 for n in range(7)}, 2_000_000, 2, 2),  # 2 x 7 values <= 2 x 7 planned
        ({"d1": 150_000, "d2": 150_000}, 10**6, 8, None),  # 3 tasks (100,000 rows each) x 2 > 2 x 2
        ({f"d{n}": 100_000 for n in range(7)}, 10**6, 8, None),  # 7 tasks x 7 values: shuffle
    ],
)
def test_the_rows_are_shuffled_only_when_writing_them_in_place_would_make_too_many_files(
    partitions: dict[str, int], rows_per_file: int, cores: int, tasks: int | None
) -> None:
    assert transform.write_tasks(partitions, rows_per_file, cores) == tasks


@pytest.mark.parametrize("shuffled", [True, False])
def test_a_write_makes_the_planned_files(
    spark: SparkSession, glue_run: GlueRun, monkeypatch: pytest.MonkeyPatch, shuffled: bool
) -> None:
    # local[2] never needs the shuffle (2 tasks x values <= 2 x planned files): it is forced here, as
    # a cluster's many cores would choose it
    if shuffled:
        monkeypatch.setattr(transform, "write_tasks", lambda *_: None)
    days = ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    body = "".join(f"o{n},{n},n,{days[n % 4]} 10:00:00\n" for n in range(80))
    glue_run.put("incoming/orders/a.csv", "order_id,amount,note,ordered_at\n" + body)
    contract = contract_document(COLUMNS, rules=UNIQUE_ID, partitioning=BY_DAY)
    result = transform.transform(spark, glue_run.args(contract, rows_per_file=20))

    assert [(p["rows"], p["files"]) for p in result["partitions"]] == [(20, 1)] * 4
    assert sorted(int(row["order_id"][1:]) for row in glue_run.curated()) == list(range(80))


def test_a_unique_column_is_written_without_a_dictionary(spark: SparkSession, glue_run: GlueRun) -> None:
    # its values are all distinct: a dictionary would only cost a hash lookup per value
    rows = "".join(f"o{n},{n},same,2026-11-24 10:00:00\n" for n in range(50))
    glue_run.put("incoming/orders/a.csv", "order_id,amount,note,ordered_at\n" + rows)
    transform.transform(
        spark, glue_run.args(contract_document(COLUMNS, rules=UNIQUE_ID, partitioning=BY_DAY))
    )

    (written,) = glue_run.curated_files()
    chunks = pq.ParquetFile(written).metadata.row_group(0)
    dictionary = {
        chunks.column(i).path_in_schema: chunks.column(i).has_dictionary_page
        for i in range(chunks.num_columns)
    }
    assert dictionary["order_id"] is False and dictionary["note"] is True


# Records without quote, escape or line break characters, with every field ending the CSV parser could
# read differently from a split at the delimiters: empty and blank fields, spaces and tabs at either
# end, control, separator and non-BMP characters, '#' (Spark's CSV comments are off), too few or too
# many fields; and records the split must leave to the parser (quotes, escapes, line breaks).
PLAIN_PIECES = [
    "a",
    "",
    " ",
    "\t",
    "x y",
    "\u00e9",
    "\u2028",
    "\u0085",
    "\u0000",
    "#",
    "\ufeff",
    "\U0001f600",
]


@pytest.mark.parametrize(
    ("delimiter", "quote", "escape"), [(",", '"', '"'), (";", "'", "\\"), ("|", '"', '"'), ("\t", '"', "\\")]
)
def test_a_record_split_at_its_delimiters_gives_what_the_csv_parser_gives(
    spark: SparkSession, delimiter: str, quote: str, escape: str
) -> None:
    pieces = [*PLAIN_PIECES, delimiter]
    records = sorted(
        {delimiter.join(fields) for fields in itertools.product(PLAIN_PIECES, repeat=3)}
        | {"".join(combo) for size in range(1, 4) for combo in itertools.product(pieces, repeat=size)}
        | {f"a{delimiter}{text}{delimiter}c" for text in (quote, escape, f"{quote}b{quote}", "b\nc", "b\r")}
        | {f"a{delimiter}b{delimiter}c{delimiter}"}
    )
    contract = contract_document(
        [{"name": name, "type": "string"} for name in ("f1", "f2", "f3")],
        csv={"delimiter": delimiter, "quote": quote, "escape": escape},
    )
    plan = transform.plan_from_document(plan_document(contract))
    frame = spark.createDataFrame([(record,) for record in records], "__raw string")
    applies, fields = transform.plain_csv_fields(F.col("__raw"), plan)
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": transform.CORRUPT_RECORD}
    options |= {"sep": delimiter, "quote": quote, "escape": escape}
    parsed = F.from_csv(F.col("__raw"), transform.string_schema(plan).simpleString(), options)
    rows = (
        frame.withColumn(transform.PARTS, transform.csv_parts(F.col("__raw"), plan.csv))
        .select("__raw", applies.alias("applies"), fields.alias("split"), parsed.alias("parsed"))
        .collect()
    )

    split = [row for row in rows if row["applies"]]
    assert [row["__raw"] for row in split if row["split"] != row["parsed"]] == []
    assert len(split) >= 1000  # records of three plain fields are split (a tab field adds one)
    left = {row["__raw"] for row in rows if not row["applies"]}
    d = delimiter
    assert {
        f"a{d}{quote}{d}c",
        f"a{d}{escape}{d}c",
        f"a{d}b\nc{d}c",
        f"a{d}b\r{d}c",
        "a",
        f"a{d}b{d}c{d}",
    } <= left


@pytest.mark.parametrize("literal", [True, False])
def test_lines_and_lineage_are_the_same_by_literal_lookup_or_by_join(
    spark: SparkSession, glue_run: GlueRun, monkeypatch: pytest.MonkeyPatch, literal: bool
) -> None:
    # Small splits put each file's lines in splits of their own (the literal lookups: a split's id
    # gives its file and first line); with the lookups limited to 0 entries the offsets and the
    # objects' lineage are joined instead. Either way the same rows, line numbers, keys and versions.
    calls: list[int] = []
    lookup = transform.literal_lookup

    def counted(key: F.Column, mapping: dict[object, object], value_type: str) -> F.Column:
        calls.append(len(mapping))
        return lookup(key, mapping, value_type)

    monkeypatch.setattr(transform, "literal_lookup", counted)
    if not literal:
        monkeypatch.setattr(transform, "MAX_LITERAL_LOOKUP", 0)
    for name, version in (("a", "va"), ("b", "vb")):
        body = "".join(
            f"{name}{n},{-1 if n % 7 == 0 else n},n,2026-11-2{n % 3 + 4} 10:00:00\n" for n in range(1, 61)
        )
        glue_run.put(
            f"incoming/orders/{name}.csv", "order_id,amount,note,ordered_at\n" + body, version=version
        )
    spark.conf.set("spark.sql.files.maxPartitionBytes", "1024")
    try:
        result = transform.transform(
            spark, glue_run.args(contract_document(COLUMNS, rules=UNIQUE_ID, partitioning=BY_DAY))
        )
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")

    # by literal lookup: one keyed by split (4 of them: more entries than the 2 objects) and by object
    assert (max(calls, default=0) > 2) == literal and bool(calls) == literal
    rejects = [
        (r["source_object_key"], r["source_object_version"], r["line_number"], r["raw"])
        for r in glue_run.rejects()
    ]
    expected = [
        (f"incoming/orders/{name}.csv", version, n + 1, f"{name}{n},-1,n,2026-11-2{n % 3 + 4} 10:00:00")
        for name, version in (("a", "va"), ("b", "vb"))
        for n in range(7, 61, 7)
    ]
    assert rejects == expected
    curated = sorted(
        (row["source_object_key"], row["source_object_version"], row["order_id"])
        for row in glue_run.curated()
    )
    assert curated == sorted(
        (f"incoming/orders/{name}.csv", version, f"{name}{n}")
        for name, version in (("a", "va"), ("b", "vb"))
        for n in range(1, 61)
        if n % 7
    )
    assert all(row["run_id"] == glue_run.run_id for row in glue_run.curated())
    assert [o["rows_read"] for o in result["objects"]] == [60, 60]
