"""Run the scenarios, print the table."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import TextIO

from tributary.chaos.data import DataFactory
from tributary.chaos.harness import (
    LOGGER,
    Context,
    Named,
    Result,
    Settings,
    StackProcess,
    in_process_stack,
    run_pair,
    run_scenario,
    scratch_root,
)
from tributary.chaos.invariants import check
from tributary.chaos.scenarios import _good, real_clock_scenarios, virtual_clock_scenarios

RESTART = "whole stack killed and restarted"
COLUMNS = (
    "scenario",
    "object versions",
    "published once",
    "refused with reason",
    "duplicated",
    "lost",
    "visible from a failed run",
    "wall time",
)
WIDTHS = (44, 15, 14, 19, 10, 4, 49, 9, 10)


def all_names() -> list[str]:
    return [n.name for n in [*virtual_clock_scenarios(), *real_clock_scenarios()]] + [RESTART]


def selected(names: Iterable[str], only: list[str] | None) -> list[str]:
    if not only:
        return list(names)
    return [n for n in names if any(word.lower() in n.lower() for word in only)]


def run(settings: Settings, only: list[str] | None = None, out: TextIO = sys.stdout) -> list[Result]:
    data = DataFactory(settings.seed)
    results: list[Result] = []
    printer = TablePrinter(out)
    path = settings.transform_path
    virtual, real = list(virtual_clock_scenarios(path)), list(real_clock_scenarios(path))
    if settings.reduced:  # at the CI sizes Glue's limit is never reached: one stack, virtual clock
        virtual, real = virtual + real, []
    for clock, scenarios in (("virtual", virtual), ("real", real)):
        chosen = [named for named in scenarios if selected([named.name], only)]
        if not chosen:
            continue
        try:
            with in_process_stack(settings, real_time=clock == "real") as (view, faults, put):
                for group in _groups(chosen):
                    if len(group) == 1 and not group[0].pairable:
                        done = [run_scenario(group[0], view, faults, data, settings, put)]
                    else:
                        done = run_pair(group, view, faults, data, settings)
                    for result in done:
                        results.append(result)
                        printer.row(result)
        except Exception as exc:  # the stack itself failed (e.g. it could not start): say so, go on
            LOGGER.exception("the %s-clock stack", clock)
            ran = {r.name for r in results}
            for named in chosen:
                if named.name not in ran:
                    error = f"the {clock}-clock stack failed: {type(exc).__name__}: {exc}"
                    results.append(Result(named.name, None, 0.0, error=error))
                    printer.row(results[-1])
    if selected([RESTART], only):
        result = restart_scenario(settings, data)
        results.append(result)
        printer.row(result)
    printer.footer(results)
    return results


def _groups(scenarios: list[Named]) -> list[list[Named]]:
    """Pairable scenarios two by two (one on orders, one on clicks, at once); the others alone."""
    groups: list[list[Named]] = []
    waiting: list[Named] = []
    for named in scenarios:
        if not named.pairable:
            groups.append([named])
            continue
        waiting.append(named)
        if len(waiting) == 2:
            groups.append(waiting)
            waiting = []
    if waiting:
        groups.append(waiting)
    return groups


def restart_scenario(settings: Settings, data: DataFactory) -> Result:
    """`tributary up` killed (SIGKILL to its session: stack, workers, Spark) while a batch is being
    processed and more uploads are queued; restarted on the same folder; then checked."""
    started = time.monotonic()
    with scratch_root(settings) as root:
        process = StackProcess(root, settings)
        try:
            view = process.start()
            context = Context(view, None, data, settings)
            first = _good(context, "restart-a", settings.size(20, 3))
            context.upload(first)
            sfn = view.client("stepfunctions")
            deadline = time.monotonic() + 120
            while not sfn.list_executions(stateMachineArn=view.state_machine_arn)["executions"]:
                if time.monotonic() > deadline:
                    raise TimeoutError("no execution started before the kill")
                time.sleep(0.3)
            time.sleep(3.0)  # mid-run: validate or the Glue job is running
            context.waves.append([])  # a batch of its own
            context.upload(_good(context, "restart-b", settings.size(20, 3)))  # queued, not yet batched
            process.kill()
            view = process.start()
            context.view = view
            context.wait_quiet()
            verdict = check(view, context.uploads, {}, waves=context.waves)
            return Result(RESTART, verdict, time.monotonic() - started)
        except Exception as exc:
            return Result(RESTART, None, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
        finally:
            process.stop()


class TablePrinter:
    """The table, a row as each scenario ends; then the violations, each under its scenario."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        header = " | ".join(c.ljust(w) for c, w in zip((*COLUMNS, "invariants"), WIDTHS, strict=True))
        print(header, file=out, flush=True)
        print("-" * len(header), file=out, flush=True)

    def row(self, result: Result) -> None:
        print(format_row(result), file=self.out, flush=True)

    def footer(self, results: list[Result]) -> None:
        out = self.out
        failing = [r for r in results if not r.ok]
        print(
            f"\n{len(results)} scenarios in {time.monotonic() - self.started:.0f} s (stack starts included); "
            f"invariants hold in {len(results) - len(failing)}",
            file=out,
        )
        if any(r.paired for r in results):
            print(
                "* ran at the same time as the scenario next to it (one on orders, one on clicks)", file=out
            )
        counted = [r for r in results if r.verdict is not None and r.verdict.executions]
        if counted:
            print("\nexecutions started (limit), per dataset:", file=out)
        for result in counted:
            assert result.verdict is not None
            limits = result.verdict.execution_limit
            started = ", ".join(
                f"{d} {n} ({limits.get(d, 0)})" for d, n in sorted(result.verdict.executions.items())
            )
            print(f"  {result.name}: {started}", file=out)
        for result in failing:
            print(f"\n{result.name}:", file=out)
            if result.error:
                print(f"  could not run: {result.error}", file=out)
            for violation in (result.verdict.violations if result.verdict else [])[:12]:
                print(f"  - {violation}", file=out)
            hidden = len(result.verdict.violations) - 12 if result.verdict else 0
            if hidden > 0:
                print(f"  ... and {hidden} more", file=out)
        for result in results:
            idle = [rule for rule, n in result.faults.items() if n == 0]
            if idle:
                print(f"note: {result.name}: fault(s) never injected: {', '.join(idle)}", file=out)
        out.flush()


def format_row(result: Result) -> str:
    verdict = result.verdict
    if verdict is None:
        cells = [result.name, "-", "-", "-", "-", "-", "-", f"{result.seconds:.0f} s", "NOT RUN"]
    else:
        cells = [
            result.name,
            str(len(verdict.outcomes)),
            str(verdict.count("published")),
            str(verdict.count("refused")),
            str(verdict.count("duplicated")),
            str(verdict.count("lost") + verdict.count("wrong")),
            verdict.visible_cell,
            f"{result.seconds:.0f} s" + ("*" if result.paired else ""),
            "ok" if result.ok else "VIOLATED",
        ]
    return " | ".join(cell.ljust(width) for cell, width in zip(cells, WIDTHS, strict=True))
