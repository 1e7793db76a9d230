"""Inputs for the differential test: the sample files, the bad inputs of the project's tests (tests/glue,
tests/functions/test_validate.py), gathered as objects of a few runs, one run per contract."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.glue.test_glue_datetime_range import COLUMNS as RANGE_COLUMNS
from tests.glue.test_glue_datetime_range import EDGES as RANGE_EDGES
from tests.glue.test_glue_records import JSON_COLUMNS, NOTE_COLUMNS, nested
from tests.glue.test_glue_types_and_rules import EVERY_TYPE, HEADER, RULE_COLUMNS, RULES

from .harness import InputObject

REPO = Path(__file__).resolve().parents[2]
CSV_DEFAULTS = {"delimiter": ",", "quote": '"', "escape": '"', "header": True, "encoding": "utf-8"}


def contract(
    columns: Sequence[Any],
    *,
    data_format: str = "csv",
    rules: Sequence[Any] | None = None,
    partitioning: dict[str, str] | None = None,
    csv: dict[str, Any] | None = None,
    dataset: str = "orders",
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "dataset": dataset,
        "format": data_format,
        "columns": list(columns),
        "partitioning": partitioning or {"column": "order_date", "source": "ingest_date"},
        "quality": {"max_reject_ratio": 0.5, "rules": list(rules or [])},
    }
    if data_format == "csv":
        document["csv"] = {**CSV_DEFAULTS, **(csv or {})}
    return document


def sample_runs() -> list[tuple[str, dict[str, Any], list[InputObject]]]:
    """Each sample file of events/data with its contract of contracts/, plain and gzip-compressed (the
    compressed copy renamed, so that `unique` does not refuse every row as a repeat)."""
    runs = []
    for name, sample, ext in (
        ("orders", "orders-sample.csv", ".csv"),
        ("clicks", "clicks-sample.jsonl", ".jsonl"),
        # in_reference: orders checked against the customer list (events/reference/customers.csv)
        ("orders_checked", "orders_checked-sample.csv", ".csv"),
    ):
        document = yaml.safe_load((REPO / "contracts" / f"{name}.yaml").read_text())
        body = (REPO / "events" / "data" / sample).read_bytes()
        other = body.replace(b"ORD-0", b"ORD-9").replace(b'"evt-', b'"evu-')
        objects = [
            InputObject(f"incoming/{name}/{sample}", body, ext=ext),
            InputObject(f"incoming/{name}/again/{sample}.gz", other, ext=ext, gzipped=True, version="v2"),
        ]
        runs.append((f"{name}-sample", document, objects))
    return runs


# ------------------------------------------------------------------------------- tests/glue cases

GOOD = "a,1,1,1.0,1.00,true,24/11/2026,2026-11-24 10:00:05,2026-11-24"
TYPES_BODY = (
    HEADER
    + "a,-7,9000000000,1.5e3,12.30,true,24/11/2026,2026-11-24 10:00:05,2026-11-24T10:00:00Z\n"
    + "b,+8,1,.5,-0.5,no,01/02/2026,2026-02-01 00:00:00,2026-02-01 12:30:00\n"
    + "c,,,,,,,,\n"
)
BAD_BODY = (
    HEADER
    + GOOD
    + "\n"
    + "b,1.5,1,1,1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
    + "c,1,99999999999999999999,1,1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
    + "d,1,1,abc,1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
    + "e,1,1,1,1.234,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
    + "f,1,1,1,123456789.1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
    + "g,1,1,1,1,maybe,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
    + "h,1,1,1,1,true,2026-11-24,2026-11-24 10:00:05,2026-11-24\n"
    + "i,1,1,1,1,true,24/11/2026,24/11/2026 10:00,2026-11-24\n"
    + "j,1,1,1,1,true,24/11/2026,2026-11-24 10:00:05,yesterday\n"
    + "k,99999999999,1,1,1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
    # spaces, tabs and signs around values; values in other spellings
    + "l, 2 ,  3,  1e-3 , 1.  ,TRUE,1/2/2026,2026-11-24 10:00:05, 2026-11-24 \n"
    + "m,\t2,3,1E+2,-.5,Y,31/02/2026,2026-02-29 10:00:05,2026-11-24T10:00:00.1234567+01:00\n"
    + "n,2,3,Infinity,0.001,f,29/02/2024,2024-02-29 24:00:00,2026-11-24T10:00+0130\n"
    + "o,-0,+0,-0.0,+0.00,1,00/01/2026,2026-13-01 00:00:00,2026-11-24 10:00:00.5Z\n"
    + "p,007,-9223372036854775808,1e400,99999999.99,0,1/1/1,0001-01-01 00:00:00,+2026-11-24T10:00:00\n"
    + "q,2147483647,9223372036854775807,-1e-400,-99999999.99,yes,31/12/9999,9999-12-31 23:59:59,"
    + "2026-11-24T25:00\n"
    + "r,-2147483648,9223372036854775808,1.7976931348623157e308,100000000,N,1/1/0,2026-11-24 10:00,"
    + "2026-1-24\n"
)
# the range test's edges, and values just outside the range (its parametrised cases)
EDGES = [
    *RANGE_EDGES,
    ("y0", "0000-12-31", "0000-12-31 23:59:59", "0001-01-01T00:30:00+01:00"),
    ("neg", "-0001-01-01", "10000-01-01 00:00:00", "9999-12-31T23:59:59-01:00"),
    ("big", "10000-01-01", "2026-11-24 10:00:00", "+10000-01-01T00:00:00"),
    ("plus", "+10000-01-01", "2026-11-24 10:00:00", "2026-11-24"),
    # the partition value of a date in ISO-8601 layout, with the spaces its type trims
    ("spaced", " 2026-11-24 ", " 2026-11-24 10:00:00 ", " 2026-11-24T10:00:00Z "),
]
RULES_BODY = (
    "order_id,amount,status,email,customer_id,day\n"
    "o1,10,NEW,a@b.c,c1,2026-11-24\n"
    "o2,-1,NEW,a@b.c,c1,2026-11-24\n"
    "o3,100.01,PAID,a@b.c,c1,2026-11-24\n"
    "o4,100,GONE,a@b.c,c1,2026-11-24\n"
    "o5,0,NEW,no-at-sign,c1,2026-11-24\n"
    "o6,1,NEW,a@b.c,,2026-11-24\n"
    "o7,1,NEW,a@b.c,c1,2025-12-31\n"
    "o8,1,NEW,a@b.c,c1,2026-11-24\n"
    "o8,-5,LOST,x,,2026-11-24\n"
    "o9,x,NEW,a@b\u2028c,c1,2026-11-24\n"
    "o10,1, NEW,a@b.c\n,c1,2026-11-24\n"
    ",1,NEW,a@b.c,c1,2026-11-24\n"
    ",1,NEW,a@b.c,c1,2026-11-24\n"
)
MULTI_LINE = (
    "order_id,note,qty\n"
    'a,"line one\n'
    'line two",1\n'
    "b,plain,2\n"
    'c,"say ""hi""\n'
    "more, with a comma\n"
    "\n"
    'end",3\n'
    '"d","two ""quoted"" words",4\n'
    "e,bad,x\n"
    'f,"never closed,6\n'
    "g,ok,7\n"
)

# How each record ends: the Glue job hands a record without quote or escape characters to the CSV
# parser with a line break after it (see transform.csv_text); these are the endings where that could
# differ from the end of the text (empty last fields, trailing delimiters, spaces, control and
# separator characters, a field count off by one), and records with quotes, read as they are.
LINE_ENDS = (
    "order_id,note,qty\n"
    "a1,x,1\n"
    "a2,x,\n"
    "a3,,\n"
    ",,\n"
    "a4\n"
    "a5,x\n"
    "a6,x,1,\n"
    "a7,x,1,2\n"
    "a8,x,3 \n"
    "a9,x, 3\n"
    "a10,x,3\t\n"
    "a11,x\t,4\n"
    "a12,\u0000,5\n"
    "a13,\u0085,6\n"
    "a14,\u2028,7\n"
    "a15,caf\u00e9 ,8\n"
    "#a16,x,9\n"
    "a17,x,\u0000\n"
    "a18,x , \n"
    'b1,x,"3"\n'
    'b2,"x",3\n'
    'b3,x,"3\n'
    'b4,x,3"\n'
    'b5,"x,3\n'
    '"b6",x,\n'
    'b7,x,""\n'
    "c1,last,"
)


def corrupt_gzips() -> list[InputObject]:
    good = "order_id,note,qty\n{0}1,x,1\n{0}2,y,2\n"
    packed = gzip.compress(good.format("t").encode() * 200)
    rng = random.Random(7)
    rows = "".join(f"{rng.getrandbits(64):016x},n,{rng.randrange(1000)}\n" for _ in range(40_000))
    deep_cut = gzip.compress(("order_id,note,qty\n" + rows).encode())
    crc = bytearray(gzip.compress(good.format("c").encode()))
    crc[-8] ^= 0xFF  # the CRC-32 of the trailer
    flipped = bytearray(deep_cut)
    for position in range(2000, 2400, 7):  # deflate data damaged in the middle
        flipped[position] ^= 0x5A
    return [
        InputObject("incoming/orders/crc.csv.gz", bytes(crc), gzipped=True, compress=False),
        InputObject("incoming/orders/flipped.csv.gz", bytes(flipped), gzipped=True, compress=False),
        InputObject(
            "incoming/orders/truncated.csv.gz", packed[: len(packed) // 2], gzipped=True, compress=False
        ),
        InputObject(
            "incoming/orders/not-gzip.csv.gz", b"order_id,note,qty\nx,1,1\n", gzipped=True, compress=False
        ),
        InputObject("incoming/orders/cut.csv.gz", deep_cut[:-2000], gzipped=True, compress=False),
        InputObject("incoming/orders/latin1.csv", b"order_id,note,qty\nok,1,1\ncaf\xe9,2,2\n"),
        InputObject("incoming/orders/ascii.csv", "order_id,note,qty\né,1,1\n".encode(), encoding="ascii"),
        InputObject("incoming/orders/good.csv.gz", good.format("g").encode(), gzipped=True),
    ]


def bad_input_runs() -> list[tuple[str, dict[str, Any], list[InputObject]]]:
    """The bad inputs of tests/glue and tests/functions/test_validate.py, one run per contract."""
    orders_header = "order_id,customer_id,amount,quantity,status,ordered_at"
    orders_row = "ORD-000001,C1,1.00,1,NEW,2026-11-24 10:00:00\n"
    orders_csv = (REPO / "events" / "data" / "orders-sample.csv").read_bytes()
    every_type = contract(
        EVERY_TYPE,
        partitioning={"column": "order_date", "source": "ordered_at"},
        rules=[
            {"column": "views", "rule": "unique"},
            {"column": "ratio", "rule": "unique"},
            {"column": "paid", "rule": "allowed_values", "values": [True]},
            {"column": "amount", "rule": "max", "value": 99.5},
            {"column": "ratio", "rule": "min", "value": -1},
            {"column": "order_day", "rule": "allowed_values", "values": ["2026-11-24", "2026-02-01"]},
            {"column": "seen_at", "rule": "allowed_values", "values": ["2026-11-24T10:00:00Z"]},
        ],
    )
    range_contract = contract(RANGE_COLUMNS, partitioning={"column": "order_date", "source": "day"})
    range_body = "id,day,at,iso\n" + "".join(",".join(edge) + "\n" for edge in EDGES)
    dialect = {"delimiter": ";", "quote": "'", "escape": "\\", "header": False, "encoding": "latin-1"}
    latin_columns: list[dict[str, Any]] = [
        {"name": "name", "type": "string"},
        {"name": "note", "type": "string"},
        {"name": "n", "type": "int"},
    ]
    lines = [
        '{"order_id": "a", "qty": 1}',
        '{"order_id": "b", "qty": 1, "qty": 2}',
        '{"order_id": "c", "qty": 1, "order_id": "d", "order_id": "e"}',
        '{"order_id": "f", "payload": {"k": 1, "k": 2}}',
        json.dumps({"order_id": "deep", "payload": nested(200)}),
        '{"order_id": "deeper", "payload": ' + "[" * 1200 + "1" + "]" * 1200 + "}",
        '{"order_id": "broken", "payload": [1, 2}',
        "{'order_id': 'single', 'qty': 2}",
        '{"order_id": "nan", "qty": NaN, "payload": Infinity}',
        '{"order_id": "trail", "qty": 3} trailing',
        '[{"order_id": "array"}]',
        '"just a string"',
        "null",
        "\t",
        '{"order_id": "num", "qty": 1.0, "payload": 1.50}',
        '{"order_id": "obj", "qty": "4", "payload": {"a": [1, 2.5e-7, "x\\u0001"], "b": null}}',
        '{"order_id": "ctl", "payload": "a\x01b"}',
        '{"order_id": "ctl-dup", "payload": "a\x01b", "payload": 2}',
        '{"order_id": "big", "qty": 12345678901234567890}',
        '{"order_id": "esc", "payload": "\\ud800 \\/ \\"q\\""}',
    ]
    array_ok = json.dumps(
        [
            {"order_id": "in-array", "payload": nested(200)},
            {"order_id": "x2", "qty": 1},
            None,
            "a string element",
            [1],
        ]
    )[:-1]
    array_ok += ', {"order_id": "x3", "qty": "2", "qty": 3}, {"order_id": \'single\', "qty": 1.5e300}]'
    return [
        (
            "every-type",
            every_type,
            [
                InputObject("incoming/orders/types.csv", TYPES_BODY.encode()),
                InputObject("incoming/orders/bad.csv", BAD_BODY.encode()),
                InputObject(
                    "incoming/orders/crlf.csv", BAD_BODY.replace("\n", "\r\n").encode(), version="v2"
                ),
                InputObject("incoming/orders/cr.csv", BAD_BODY.replace("\n", "\r").encode(), version="v3"),
                InputObject("incoming/orders/bom.csv", ("\ufeff" + TYPES_BODY).encode()),
                InputObject("incoming/orders/t.csv.gz", TYPES_BODY.encode(), gzipped=True, version="v4"),
                InputObject("incoming/orders/header-only.csv", HEADER.encode()),
                InputObject("incoming/orders/blank.csv", (HEADER + "\n  \n\n" + GOOD + "\n \n").encode()),
                InputObject("incoming/orders/no-newline.csv", (HEADER + GOOD).encode(), version="v5"),
            ],
        ),
        ("range", range_contract, [InputObject("incoming/orders/edges.csv", range_body.encode())]),
        (
            "rules",
            contract(RULE_COLUMNS, rules=RULES),
            [InputObject("incoming/orders/rules.csv", RULES_BODY.encode())],
        ),
        (
            "notes",
            contract(NOTE_COLUMNS),
            [
                InputObject("incoming/orders/multi.csv", MULTI_LINE.encode()),
                InputObject("incoming/orders/r.csv", b"order_id,note,qty\n,1,1\nx,1,1,extra\ny\nz,2,2\n\n"),
                InputObject("incoming/orders/ends.csv", LINE_ENDS.encode()),
                InputObject(
                    "incoming/orders/ends-crlf.csv", LINE_ENDS.replace("\n", "\r\n").encode(), version="v2"
                ),
                InputObject(
                    "incoming/orders/quotes.csv",
                    b'order_id,note,qty\nq1,"a""b",1\nq2,"x" ,2\nq3,"x"y,3\nq4, "x",4\nq5,"",5\n"q6"\n'
                    b'q7,"open\n\nq8,"a",8\nq9,"x\r\ny",9\r\nq10,"it',
                ),
                *corrupt_gzips(),
            ],
        ),
        (
            "latin",
            contract(latin_columns, csv=dialect),
            [
                InputObject(
                    "incoming/orders/latin.csv",
                    "café;'a;b';1\n'it\\'s';x;2\n".encode("latin-1"),
                    encoding="latin-1",
                ),
                InputObject(
                    "incoming/orders/d.csv",
                    "a;'it\\'s\nsecond; line';1\nb;x;2\n".encode("latin-1"),
                    encoding="latin-1",
                ),
                InputObject("incoming/orders/cp.csv", b"\x80;\x9d;3\n\x81x;'\x8f';4\n", encoding="cp1252"),
                # the escape character outside quotes, and records ending in a delimiter or the escape
                InputObject(
                    "incoming/orders/ends.csv",
                    b"a\\b;x;1\nc;d;2\\\ne;f;\ng;;\nh;'i';\nj;k;3;\n",
                    encoding="latin-1",
                ),
                InputObject("incoming/orders/l15.csv", b"\xa4;\xbd;5\n", encoding="iso8859-15"),
                InputObject("incoming/orders/u16.csv", "x;y;6\n".encode("utf-16"), encoding="utf-16"),
            ],
        ),
        (
            "jsonl",
            contract(JSON_COLUMNS, data_format="jsonl"),
            [
                InputObject("incoming/orders/dup.jsonl", ("\n".join(lines) + "\n").encode(), ext=".jsonl"),
                InputObject(
                    "incoming/orders/l.jsonl.gz",
                    ("\n".join(lines[:5]) + "\n").encode(),
                    ext=".jsonl",
                    gzipped=True,
                    version="v2",
                ),
            ],
        ),
        (
            "json",
            contract(JSON_COLUMNS, data_format="json"),
            [
                InputObject("incoming/orders/a.json", array_ok.encode(), ext=".json"),
                InputObject("incoming/orders/b.json", b'{"order_id": "not-an-array"}', ext=".json"),
                InputObject("incoming/orders/c.json", b"[]", ext=".json"),
                InputObject("incoming/orders/d.json", b"[1, 2] trailing", ext=".json"),
                InputObject("incoming/orders/e.json", b'[{"order_id": "caf\xe9"}]', ext=".json"),
                InputObject("incoming/orders/f.json", b"not json at all", ext=".json"),
                InputObject(
                    "incoming/orders/g.json.gz", array_ok.encode(), ext=".json", gzipped=True, version="v2"
                ),
            ],
        ),
        (
            "validate",
            yaml.safe_load((REPO / "contracts" / "orders.yaml").read_text()),
            [
                # test_validate's files: a wrong header is refused by validate; the job reads what it is given
                InputObject("incoming/orders/wrong.csv", orders_csv.replace(b"status", b"state", 1)),
                InputObject(
                    "incoming/orders/latin1.csv",
                    f"{orders_header}\nORD-1,Zoë,1,1,NEW,x\n".encode("latin-1"),
                    encoding="latin-1",
                ),
                InputObject("incoming/orders/bad.csv", orders_csv.replace(b"ORD-", b"NEW-") + b"BOOM\n"),
                InputObject(
                    "incoming/orders/multi.csv",
                    (
                        orders_header + '\nORD-1,C1,1.00,1,"NEW\nwith a line break",2026-11-24 10:00:00\n'
                    ).encode(),
                ),
                InputObject("incoming/orders/big.csv", (orders_header + "\n" + orders_row * 3).encode()),
            ],
        ),
    ]
