"""Run every benchmark in turn: `python -m bench` (or `make bench`). Each one's wall time and the
machine's load average (1, 5, 15 min) before and after it are printed, as is any benchmark that fails
(its traceback; the others still run). The exit status is 1 if any failed."""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback

BENCHMARKS = ("bench.states_engine", "bench.glue_job", "bench.local_stack")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> int:
    failed: list[str] = []
    started = time.monotonic()
    for name in BENCHMARKS:
        print(f"== {name} (load average {_load()})", flush=True)
        began = time.monotonic()
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"   not available: {exc}")
            continue
        try:
            status = module.main([])
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc(file=sys.stdout)
            status = 1
        if status:
            failed.append(name)
        print(
            f"== {name}: {'FAILED, ' if status else ''}{time.monotonic() - began:.0f} s "
            f"(load average {_load()})",
            flush=True,
        )
    print(f"== every benchmark: {time.monotonic() - started:.0f} s; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
