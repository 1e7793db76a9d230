"""The objects a scenario uploads, generated here so that the harness knows each one's rows.

Every row has an id unique across the harness (`ORD-nnnnnn` for orders, `chaos-…` for clicks), and
each object says which of its ids are good (must be published, exactly once, unless the whole object
is refused with a reason), which are optional (the contract may accept or reject them: dates before
1900, for instance, are written correctly or rejected with a reason; either is right) and which are bad
(must never be published).
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
from dataclasses import dataclass, field

ORDERS_HEADER = "order_id,customer_id,amount,quantity,status,ordered_at"


@dataclass
class ObjectSpec:
    dataset: str
    key: str
    body: bytes
    kind: str  # what it is, for the report ("good", "ancient date", "`..` key", ...)
    good: set[str] = field(default_factory=set)
    optional: set[str] = field(default_factory=set)
    bad: set[str] = field(default_factory=set)
    # Good files mixed with bad ones must not be taken down by them: refusing one is a violation.
    must_publish: bool = False


class DataFactory:
    """Row ids that never repeat within one harness run; a seed makes the content reproducible."""

    def __init__(self, seed: int = 7, prefix: str = "chaos") -> None:
        self._ids = itertools.count(1)
        self._random = random.Random(seed)
        self.prefix = prefix

    def order_id(self) -> str:
        number = next(self._ids)
        if number > 999_999:
            raise ValueError("the orders contract allows ORD-000001..ORD-999999: fewer rows, please")
        return f"ORD-{number:06d}"

    def order_row(self, when: str = "2026-11-20 10:00:00", order_id: str | None = None) -> tuple[str, str]:
        order_id = order_id or self.order_id()
        rng = self._random
        row = (
            f"{order_id},C{rng.randrange(10000):04d},{rng.randrange(100, 99999) / 100:.2f},"
            f"{rng.randrange(1, 9)},{rng.choice(['NEW', 'PAID', 'SHIPPED'])},{when}"
        )
        return order_id, row

    def orders(self, key: str, rows: int, *, kind: str = "good", must_publish: bool = False) -> ObjectSpec:
        ids, lines = [], [ORDERS_HEADER]
        for index in range(rows):
            order_id, line = self.order_row(f"2026-11-{20 + index % 5:02d} {index % 24:02d}:15:00")
            ids.append(order_id)
            lines.append(line)
        body = ("\n".join(lines) + "\n").encode()
        return ObjectSpec("orders", key, body, kind, good=set(ids), must_publish=must_publish)

    def click(self, event_id: str | None = None, **extra: object) -> tuple[str, dict[str, object]]:
        event_id = event_id or f"{self.prefix}-{next(self._ids):07d}"
        record: dict[str, object] = {
            "event_id": event_id,
            "user_id": f"u{self._random.randrange(1000)}",
            "url": f"https://shop.example/p/{self._random.randrange(500)}",
            "event_type": self._random.choice(["page_view", "click", "scroll"]),
            "occurred_at": "2026-11-20T10:00:00.000Z",
            "duration_ms": self._random.randrange(0, 5000),
            "is_bot": False,
            **extra,
        }
        return event_id, record

    def clicks(self, key: str, rows: int, *, kind: str = "good", must_publish: bool = False) -> ObjectSpec:
        ids, lines = [], []
        for _ in range(rows):
            event_id, record = self.click()
            ids.append(event_id)
            lines.append(json.dumps(record))
        body = ("\n".join(lines) + "\n").encode()
        return ObjectSpec("clicks", key, body, kind, good=set(ids), must_publish=must_publish)

    def breaking_late(self, stem: str, dataset: str, rows: int = 2500) -> ObjectSpec:
        """A gzip file cut near its end, past the first 256 KiB validate samples: its start reads well,
        the whole does not, so only a full read (the job's) finds it broken. Its rows may or may not be
        published (the rows before the cut are readable)."""
        if dataset == "orders":
            spec = self.orders(f"{stem}.csv.gz", rows)
            marker = b",C"
        else:
            spec = self.clicks(f"{stem}.jsonl.gz", rows)
            marker = b'"user_id": "'
        lines = spec.body.split(b"\n")
        for index, line in enumerate(lines):  # random noise in a free-text field: > 256 KiB gzipped
            lines[index] = line.replace(
                marker, marker + f"{self._random.getrandbits(1600):0400x}".encode(), 1
            )
        spec.body = b"\n".join(lines)
        packed = gzip.compress(spec.body)
        spec.body = packed[: max(int(len(packed) * 0.95), 300 * 1024)]
        spec.kind = "gzip cut near its end"
        spec.optional, spec.good = spec.good, set()
        return spec

    # -- bad files and rows of every kind (issue 8) ------------------------------------------------
    def bad_objects(self, prefix: str, good_rows: int = 20) -> list[ObjectSpec]:
        """One object per kind of trouble, each otherwise made of good rows."""
        specs = []

        def orders_with(kind: str, key: str, extra: list[tuple[str, str]], role: str) -> ObjectSpec:
            spec = self.orders(key, good_rows, kind=kind)
            lines = spec.body.decode().rstrip("\n").split("\n")
            for order_id, line in extra:
                lines.insert(1 + len(lines) // 2, line)
                getattr(spec, role).add(order_id)
            spec.body = ("\n".join(lines) + "\n").encode()
            return spec

        specs.append(
            orders_with(
                "date before 1900",
                f"{prefix}ancient-1899.csv",
                [self.order_row("1899-12-31 23:59:59")],
                "optional",
            )
        )
        specs.append(
            orders_with(
                "date 0001-01-01",
                f"{prefix}ancient-0001.csv",
                [self.order_row("0001-01-01 00:00:00")],
                "optional",
            )
        )
        bad_rows = []
        for broken in (
            "{id},C0001,not-a-number,1,NEW,2026-11-20 10:00:00",
            "{id},,1.00,1,NEW,2026-11-20 10:00:00",
            "{id},C0002,1.00,1,LOST,2026-11-20 10:00:00",
            "{id},C0003,1.00,1,NEW,yesterday",
        ):
            order_id = self.order_id()
            bad_rows.append((order_id, broken.format(id=order_id)))
        specs.append(
            orders_with("bad rows (number, null, value, date)", f"{prefix}bad-rows.csv", bad_rows, "bad")
        )
        order_id, _ = self.order_row()
        spanning = f'{order_id},"C12\n34",12.50,1,NEW,2026-11-20 10:00:00'
        specs.append(
            orders_with(
                "quoted field spanning lines", f"{prefix}multiline.csv", [(order_id, spanning)], "good"
            )
        )
        specs.append(self.orders(f"{prefix}a/../dotdot.csv", good_rows, kind="`..` key"))
        long_name = "k" * (1000 - len(prefix.encode()) - len("long-.csv"))
        specs.append(self.orders(f"{prefix}long-{long_name}.csv", good_rows, kind="~1,000-byte key"))
        truncated = self.orders(f"{prefix}truncated.csv.gz", good_rows, kind="truncated gzip")
        packed = gzip.compress(truncated.body)
        truncated.body = packed[: len(packed) // 2]
        truncated.optional, truncated.good = truncated.good, set()
        specs.append(truncated)
        latin = self.orders(f"{prefix}utf16.csv", good_rows, kind="wrong encoding (UTF-16)")
        latin.body = latin.body.decode().encode("utf-16")
        latin.optional, latin.good = latin.good, set()
        specs.append(latin)
        header = self.orders(f"{prefix}wrong-header.csv", good_rows, kind="wrong header")
        header.body = header.body.replace(ORDERS_HEADER.encode(), b"id,customer,total,qty,state,at", 1)
        header.optional, header.good = header.good, set()
        specs.append(header)
        specs.append(ObjectSpec("orders", f"{prefix}empty.csv", b"", "empty file"))
        # JSON Lines: a duplicate key (a bad row), deeply nested JSON (valid: its row may be kept)
        clicks = self.clicks(
            f"{prefix.replace('orders', 'clicks')}duplicate-key.jsonl", good_rows, kind="JSON duplicate key"
        )
        event_id, record = self.click()
        line = json.dumps(record)[:-1] + f', "event_id": "{event_id}-dup"}}'
        clicks.body += (line + "\n").encode()
        clicks.bad.add(event_id)
        clicks.bad.add(f"{event_id}-dup")
        specs.append(clicks)
        nested = self.clicks(
            f"{prefix.replace('orders', 'clicks')}nested.jsonl", good_rows, kind="deeply nested JSON"
        )
        deep: object = "bottom"
        for _ in range(200):
            deep = {"d": deep}
        event_id, record = self.click(context=deep)
        nested.body += (json.dumps(record) + "\n").encode()
        nested.optional.add(event_id)
        specs.append(nested)
        return specs
