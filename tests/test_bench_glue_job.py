"""The Glue job benchmark's rounds: best and median per executor, and its arguments (no Spark here)."""

from __future__ import annotations

import pytest

from bench import glue_job
from bench.glue_job import MB, Measure


def rounds_of(*seconds: tuple[float, float]) -> list[list[Measure]]:
    return [
        [Measure("pyarrow csv->parquet", floor, 10), Measure("glue job (local Spark)", job, 9, 1)]
        for floor, job in seconds
    ]


def test_each_executor_gets_its_best_and_median_over_the_rounds() -> None:
    summaries = glue_job.summarise(rounds_of((0.4, 9.0), (0.3, 6.0), (0.5, 7.0)))

    assert [(item.name, item.best, item.median) for item in summaries] == [
        ("pyarrow csv->parquet", 0.3, 0.4),
        ("glue job (local Spark)", 6.0, 7.0),
    ]
    assert (summaries[1].rows_written, summaries[1].rows_rejected) == (9, 1)


def test_the_rounds_table_gives_ratios_to_pyarrows_best_and_median(
    capsys: pytest.CaptureFixture[str],
) -> None:
    glue_job.print_table(30 * MB, rounds_of((0.4, 9.0), (0.3, 6.0), (0.5, 7.0)), ["a note"])

    out = capsys.readouterr().out
    job_line = next(line for line in out.splitlines() if "glue job" in line)
    # best 6.0 s: 5.0 MB/s, 20.0x pyarrow's best 0.3 s; median 7.0 s: 17.5x pyarrow's median 0.4 s
    assert job_line.split()[-6:] == ["7.00", "5.0", "20.0", "17.5", "9", "1"]
    assert "3 rounds" in out and "note: a note" in out


def test_rounds_is_an_option_and_defaults_to_one() -> None:
    assert glue_job.parse_options([]).rounds == 1
    assert glue_job.parse_options(["--rounds", "3", "--sizes", "10"]).rounds == 3


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_rounds_value_gets_a_message_not_a_traceback(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        glue_job.parse_options(["--rounds", value])

    assert exited.value.code == 2
    assert "rounds must be a whole number of at least 1" in capsys.readouterr().err


def test_one_round_prints_one_time_per_executor(capsys: pytest.CaptureFixture[str]) -> None:
    glue_job.print_table(30 * MB, rounds_of((0.5, 6.0)), [])

    out = capsys.readouterr().out
    assert "median" not in out and "rounds" not in out
    job_line = next(line for line in out.splitlines() if "glue job" in line)
    assert job_line.split()[-5:] == ["6.0", "5.0", "12.0", "9", "1"]
