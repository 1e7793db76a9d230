"""What a run costs on AWS: pure functions over one region's list prices.

Prices are on-demand list prices for US East (N. Virginia), read from the AWS pricing pages named in
`US_EAST_1.sources` on the date in `US_EAST_1.checked`; they change rarely, but check before relying
on them. Free tiers, savings plans and Lambda's lower prices past 6 billion GB-seconds a month are
not applied: these are the marginal prices of one more run. Amounts are in US dollars.

    lambda_cost(duration_ms=850, memory_mb=1024)                     # one invocation, arm64
    glue_job_cost(execution_seconds=95, worker_type="G.1X", number_of_workers=2)
    glue_job_cost(execution_seconds=95, number_of_workers=2, execution_class="FLEX")
    step_functions_cost(transitions=24) + s3_requests_cost(puts=6, gets=10)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# DPUs per worker (AWS Glue API, WorkerType): G.025X is a quarter DPU, G.1X one, G.2X two, ...
WORKER_DPUS: Mapping[str, float] = MappingProxyType(
    {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0, "Standard": 1.0}
)
EXECUTION_CLASSES = ("STANDARD", "FLEX")
ARCHITECTURES = ("arm64", "x86_64")
FREE_EPHEMERAL_STORAGE_MB = 512  # Lambda: the first 512 MB of /tmp cost nothing


@dataclass(frozen=True)
class Prices:
    """One region's list prices (USD)."""

    region: str
    checked: str  # the date the prices were read (ISO 8601)
    lambda_gb_second: Mapping[str, float]  # by architecture, first tier
    lambda_request: float
    lambda_ephemeral_gb_second: float  # configured storage above 512 MB
    glue_dpu_hour: Mapping[str, float]  # Spark jobs by execution class
    glue_python_shell_dpu_hour: float
    glue_minimum_seconds: float  # per run, Glue 2.0 and later (Spark, Python shell)
    step_functions_transition: float  # Standard workflows
    s3_put_request: float  # PUT, COPY, POST, LIST (S3 Standard)
    s3_get_request: float  # GET, SELECT and the other requests (S3 Standard)
    sources: tuple[str, ...] = field(default=())


US_EAST_1 = Prices(
    region="us-east-1",
    checked="2026-12-07",
    lambda_gb_second=MappingProxyType({"x86_64": 0.0000166667, "arm64": 0.0000133334}),
    lambda_request=0.20 / 1_000_000,
    lambda_ephemeral_gb_second=0.0000000309,
    glue_dpu_hour=MappingProxyType({"STANDARD": 0.44, "FLEX": 0.29}),
    glue_python_shell_dpu_hour=0.44,
    glue_minimum_seconds=60.0,
    step_functions_transition=0.025 / 1000,
    s3_put_request=0.005 / 1000,
    s3_get_request=0.0004 / 1000,
    sources=(
        "https://aws.amazon.com/lambda/pricing/",
        "https://aws.amazon.com/glue/pricing/",
        "https://aws.amazon.com/step-functions/pricing/",
        "https://aws.amazon.com/s3/pricing/",
    ),
)


def _not_negative(**values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, int | float) or math.isnan(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, not {value!r}")


def lambda_gb_seconds(duration_ms: float, memory_mb: int) -> float:
    """Billed GB-seconds of one invocation: the duration rounded up to the millisecond."""
    _not_negative(duration_ms=duration_ms, memory_mb=memory_mb)
    return math.ceil(duration_ms) / 1000 * memory_mb / 1024


def lambda_cost(
    duration_ms: float,
    memory_mb: int,
    *,
    architecture: str = "arm64",
    ephemeral_storage_mb: int = FREE_EPHEMERAL_STORAGE_MB,
    requests: int = 1,
    prices: Prices = US_EAST_1,
) -> float:
    """One invocation (`requests` of them, each `duration_ms` long): request, duration at the
    configured memory, and /tmp configured above 512 MB for the same duration."""
    _not_negative(requests=requests, ephemeral_storage_mb=ephemeral_storage_mb)
    if architecture not in prices.lambda_gb_second:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, not {architecture!r}")
    compute = lambda_gb_seconds(duration_ms, memory_mb) * prices.lambda_gb_second[architecture]
    extra_storage_gb = max(0, ephemeral_storage_mb - FREE_EPHEMERAL_STORAGE_MB) / 1024
    storage = math.ceil(duration_ms) / 1000 * extra_storage_gb * prices.lambda_ephemeral_gb_second
    return requests * (prices.lambda_request + compute + storage)


def worker_dpus(worker_type: str) -> float:
    try:
        return WORKER_DPUS[worker_type]
    except KeyError:
        raise ValueError(
            f"unknown Glue worker type {worker_type!r} (known: {', '.join(WORKER_DPUS)})"
        ) from None


def glue_dpu_seconds(
    execution_seconds: float, dpus: float, *, dpu_seconds: float | None = None, prices: Prices = US_EAST_1
) -> float:
    """Billed DPU-seconds of one run: `dpus` for the run's time, at least one minute of them.

    With auto scaling (or when Glue reports them) pass the run's `DPUSeconds`: they replace
    time x DPUs, still at least one minute of the configured DPUs (our reading of the minimum)."""
    _not_negative(execution_seconds=execution_seconds, dpus=dpus)
    minimum = prices.glue_minimum_seconds * dpus
    if dpu_seconds is not None:
        _not_negative(dpu_seconds=dpu_seconds)
        return max(dpu_seconds, minimum)
    return max(execution_seconds * dpus, minimum)


def glue_job_cost(
    execution_seconds: float,
    *,
    worker_type: str = "G.1X",
    number_of_workers: int = 2,
    execution_class: str = "STANDARD",
    dpu_seconds: float | None = None,
    prices: Prices = US_EAST_1,
) -> float:
    """One Glue Spark job run (Glue 5.0): DPU-seconds with the one-minute minimum, at the price of
    its execution class (FLEX runs on spare capacity, cheaper, may start later)."""
    if execution_class not in prices.glue_dpu_hour:
        raise ValueError(
            f"execution_class must be one of {', '.join(EXECUTION_CLASSES)}, not {execution_class!r}"
        )
    _not_negative(number_of_workers=number_of_workers)
    dpus = worker_dpus(worker_type) * number_of_workers
    billed = glue_dpu_seconds(execution_seconds, dpus, dpu_seconds=dpu_seconds, prices=prices)
    return billed / 3600 * prices.glue_dpu_hour[execution_class]


def glue_python_shell_cost(
    execution_seconds: float, dpus: float = 0.0625, prices: Prices = US_EAST_1
) -> float:
    """One Glue Python shell job run (0.0625 or 1 DPU), one-minute minimum."""
    if dpus not in (0.0625, 1.0):
        raise ValueError(f"a Python shell job has 0.0625 or 1 DPU, not {dpus!r}")
    return glue_dpu_seconds(execution_seconds, dpus, prices=prices) / 3600 * prices.glue_python_shell_dpu_hour


def step_functions_cost(transitions: int, prices: Prices = US_EAST_1) -> float:
    """State transitions of a Standard workflow (each retry counts as one more)."""
    _not_negative(transitions=transitions)
    return transitions * prices.step_functions_transition


def s3_requests_cost(puts: int = 0, gets: int = 0, prices: Prices = US_EAST_1) -> float:
    """S3 Standard requests: PUT/COPY/POST/LIST at one price, GET and the others at another."""
    _not_negative(puts=puts, gets=gets)
    return puts * prices.s3_put_request + gets * prices.s3_get_request
