"""What a run costs on AWS: pure functions over one region's list prices.

Prices are on-demand list prices for US East (N. Virginia), read from the AWS pricing pages named in
`US_EAST_1.sources` (one page per service) on the date in `US_EAST_1.checked`; they change rarely, but
check before relying on them. This file is the one place the prices live: the run-cost function, the
benchmarks and README's cost table all read them from here. Free tiers, savings plans and Lambda's
lower prices past 6 billion GB-seconds a month are not applied: these are the marginal prices of one
more run. Amounts are in US dollars.

    lambda_cost(duration_ms=850, memory_mb=1024)                     # one invocation, arm64
    glue_job_cost(execution_seconds=95, worker_type="G.1X", number_of_workers=2)
    glue_job_cost(execution_seconds=95, number_of_workers=2, execution_class="FLEX")
    step_functions_cost(transitions=24) + s3_requests_cost(puts=6, gets=10)
    step_functions_express_cost(executions=1000, duration_ms=250)   # EXPRESS Map children: 1,000 x 300 ms
    athena_query_cost(0, statement_type="DDL")                       # 0: DDL is free
    run_cost(RunUsage(transitions=24, lambdas=[LambdaUse("validate", 850, 1024)]))  # by service
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
    """One region's list prices (USD), with the date they were read and the page of each service."""

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
    s3_get_request: float  # GET, SELECT and the other requests (S3 Standard); DELETE and CANCEL are free
    athena_tb_scanned: float  # SQL queries; DDL statements and failed queries are free
    athena_minimum_bytes: int  # per query that is charged, after rounding up to the megabyte
    dynamodb_write_request_unit: float  # on-demand, Standard table class: 1 WRU per 1 KB written
    dynamodb_read_request_unit: float  # on-demand: 1 RRU per 4 KB strongly consistent read
    sns_publish_request: float  # standard topics: each 64 KB chunk of a publish is one request
    sqs_request: float  # standard queues: each 64 KB chunk of a request is one request
    kms_request: float  # customer managed keys: Encrypt, Decrypt, GenerateDataKey, ...
    cloudwatch_metric_request: float  # PutMetricData and the other metrics API requests
    sources: Mapping[str, str] = field(default_factory=dict)  # service → pricing page
    # Express workflows (and the EXPRESS children of a distributed Map): per request (execution started)
    # and per GB-second of duration, rounded up to 100 ms, memory billed in 64 MB chunks; first tier
    # ($0.06 per GB-hour for the first 1,000 GB-hours a month). Read on the step_functions page.
    step_functions_express_request: float = 1.00 / 1_000_000
    step_functions_express_gb_second: float = 0.06 / 3600
    # -- orchestrators beside Step Functions (README's comparison; bench/orchestrators.py) --
    # Amazon MWAA: an environment is billed per hour while it exists, whether DAGs run or not (the
    # scheduler, web server and one worker; extra workers and metadata storage on top). mw1.small, the
    # smallest class that runs the DAG of dags/ with headroom. Page: sources["mwaa"]; the $0.49 was
    # checked on 2026-12-07 against a third-party summary of that page, not read on it (not reachable here).
    mwaa_environment_hour: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"mw1.small": 0.49})
    )
    # Glue Workflows and triggers cost nothing themselves: their jobs are billed (Glue pricing page).


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
    step_functions_express_request=1.00 / 1_000_000,
    step_functions_express_gb_second=0.06 / 3600,
    s3_put_request=0.005 / 1000,
    s3_get_request=0.0004 / 1000,
    athena_tb_scanned=5.00,
    athena_minimum_bytes=10 * 1024 * 1024,
    dynamodb_write_request_unit=0.625 / 1_000_000,
    dynamodb_read_request_unit=0.125 / 1_000_000,
    sns_publish_request=0.50 / 1_000_000,
    sqs_request=0.40 / 1_000_000,
    kms_request=0.03 / 10_000,
    cloudwatch_metric_request=0.01 / 1000,
    sources=MappingProxyType(
        {
            "lambda": "https://aws.amazon.com/lambda/pricing/",
            "glue": "https://aws.amazon.com/glue/pricing/",
            "step_functions": "https://aws.amazon.com/step-functions/pricing/",
            "s3": "https://aws.amazon.com/s3/pricing/",
            "athena": "https://aws.amazon.com/athena/pricing/",
            "dynamodb": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
            "sns": "https://aws.amazon.com/sns/pricing/",
            "sqs": "https://aws.amazon.com/sqs/pricing/",
            "kms": "https://aws.amazon.com/kms/pricing/",
            "cloudwatch": "https://aws.amazon.com/cloudwatch/pricing/",
            "mwaa": "https://aws.amazon.com/managed-workflows-for-apache-airflow/pricing/",
        }
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


EXPRESS_DURATION_STEP_MS = 100
EXPRESS_MEMORY_CHUNK_MB = 64


def step_functions_express_cost(
    executions: int, duration_ms: float, memory_mb: float = 64, prices: Prices = US_EAST_1
) -> float:
    """`executions` Express executions of `duration_ms` each (rounded up to 100 ms) using `memory_mb`
    (billed in 64 MB chunks; 50 MB + the definition + the payloads, so one chunk for a small child)."""
    _not_negative(executions=executions)
    gb_seconds = express_gb_seconds(duration_ms, memory_mb)
    return executions * (
        prices.step_functions_express_request + gb_seconds * prices.step_functions_express_gb_second
    )


def express_gb_seconds(duration_ms: float, memory_mb: float = EXPRESS_MEMORY_CHUNK_MB) -> float:
    """Billed GB-seconds of one Express execution: its duration rounded up to 100 ms (at least 100 ms),
    its memory rounded up to 64 MB chunks (at least one)."""
    _not_negative(duration_ms=duration_ms, memory_mb=memory_mb)
    steps = max(1, math.ceil(duration_ms / EXPRESS_DURATION_STEP_MS))
    billed_mb = max(1, math.ceil(memory_mb / EXPRESS_MEMORY_CHUNK_MB)) * EXPRESS_MEMORY_CHUNK_MB
    return steps * EXPRESS_DURATION_STEP_MS / 1000 * billed_mb / 1024


def mwaa_environment_cost(
    hours: float, environment_class: str = "mw1.small", prices: Prices = US_EAST_1
) -> float:
    """An MWAA environment of `environment_class` existing for `hours` (billed whether DAGs run or not)."""
    _not_negative(hours=hours)
    if environment_class not in prices.mwaa_environment_hour:
        known = ", ".join(sorted(prices.mwaa_environment_hour))
        raise ValueError(f"no MWAA price for environment class {environment_class!r} (known: {known})")
    return hours * prices.mwaa_environment_hour[environment_class]


def s3_requests_cost(puts: int = 0, gets: int = 0, prices: Prices = US_EAST_1) -> float:
    """S3 Standard requests: PUT/COPY/POST/LIST at one price, GET and the others at another."""
    _not_negative(puts=puts, gets=gets)
    return puts * prices.s3_put_request + gets * prices.s3_get_request


MB = 1024 * 1024
TB = 1024**4  # Athena's "per TB": taken as 2**40 bytes (the pages do not say; the difference is 10 %)
SNS_CHUNK_BYTES = 64 * 1024
DYNAMODB_WRITE_UNIT_BYTES = 1024
STATEMENT_TYPES = ("DDL", "DML", "UTILITY")


def athena_query_cost(
    bytes_scanned: int, *, statement_type: str = "DML", prices: Prices = US_EAST_1
) -> float:
    """One Athena query (SQL engine, per data scanned): DDL statements cost nothing, whatever they
    scan; the others are billed per byte scanned rounded up to the megabyte, at least 10 MB."""
    _not_negative(bytes_scanned=bytes_scanned)
    if statement_type not in STATEMENT_TYPES:
        raise ValueError(
            f"statement_type must be one of {', '.join(STATEMENT_TYPES)}, not {statement_type!r}"
        )
    if statement_type == "DDL":
        return 0.0
    billed = max(math.ceil(bytes_scanned / MB) * MB, prices.athena_minimum_bytes)
    return billed / TB * prices.athena_tb_scanned


def dynamodb_write_units(item_bytes: int, *, transactional: bool = False) -> int:
    """Write request units of one write (PutItem, UpdateItem, DeleteItem, each item of a
    BatchWriteItem): one per KB of the item, rounded up (an update counts the larger of the item
    before and after it); a transactional write counts twice."""
    _not_negative(item_bytes=item_bytes)
    units = max(1, math.ceil(item_bytes / DYNAMODB_WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


def dynamodb_writes_cost(write_units: float, prices: Prices = US_EAST_1) -> float:
    """On-demand write request units."""
    _not_negative(write_units=write_units)
    return write_units * prices.dynamodb_write_request_unit


def sns_publish_cost(publishes: int = 1, *, message_bytes: int = 0, prices: Prices = US_EAST_1) -> float:
    """Publishes to a standard topic: each 64 KB chunk of a message is billed as one request."""
    _not_negative(publishes=publishes, message_bytes=message_bytes)
    chunks = max(1, math.ceil(message_bytes / SNS_CHUNK_BYTES))
    return publishes * chunks * prices.sns_publish_request


def sqs_requests_cost(requests: int, prices: Prices = US_EAST_1) -> float:
    """Standard queue requests (SendMessage, ReceiveMessage, DeleteMessage, ...), 64 KB each at most."""
    _not_negative(requests=requests)
    return requests * prices.sqs_request


def kms_requests_cost(requests: int, prices: Prices = US_EAST_1) -> float:
    """Requests to a customer managed key (made by S3, DynamoDB, SNS, SQS, Step Functions, Lambda)."""
    _not_negative(requests=requests)
    return requests * prices.kms_request


def cloudwatch_metric_requests_cost(requests: int, prices: Prices = US_EAST_1) -> float:
    """PutMetricData requests."""
    _not_negative(requests=requests)
    return requests * prices.cloudwatch_metric_request


# S3 request classes (the S3 pricing page's "Requests & data retrievals" for S3 Standard).
S3_REQUEST_CLASSES: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "PutObject",
                "CopyObject",
                "PostObject",
                "ListObjects",
                "ListObjectsV2",
                "ListObjectVersions",
                "CreateMultipartUpload",
                "UploadPart",
                "UploadPartCopy",
                "CompleteMultipartUpload",
                "PutObjectTagging",
                "ListMultipartUploads",
                "ListParts",
            ),
            "put",
        ),
        **dict.fromkeys(
            (
                "GetObject",
                "HeadObject",
                "GetObjectTagging",
                "HeadBucket",
                "SelectObjectContent",
                "GetObjectAttributes",
            ),
            "get",
        ),
        **dict.fromkeys(("DeleteObject", "DeleteObjects", "AbortMultipartUpload"), "free"),
    }
)


def s3_request_class(operation: str) -> str:
    """The price class of an S3 API operation: "put", "get" or "free"."""
    try:
        return S3_REQUEST_CLASSES[operation]
    except KeyError:
        raise ValueError(f"no S3 request class known for {operation!r}") from None


# -- a run's usage and its cost ------------------------------------------------------------------------
@dataclass(frozen=True)
class LambdaUse:
    """Invocations of one function, each `duration_ms` long."""

    function: str
    duration_ms: float
    memory_mb: int
    architecture: str = "arm64"
    ephemeral_storage_mb: int = FREE_EPHEMERAL_STORAGE_MB
    requests: int = 1


@dataclass(frozen=True)
class GlueUse:
    """One Glue Spark job run, as GetJobRun describes it."""

    execution_seconds: float
    worker_type: str = "G.1X"
    number_of_workers: int = 2
    execution_class: str = "STANDARD"
    dpu_seconds: float | None = None  # Glue's DPUSeconds, when it reports them (auto scaling, FLEX)


@dataclass(frozen=True)
class ExpressUse:
    """Express executions (the EXPRESS children of a distributed Map): `executions` of them, each
    `duration_ms` long, using `memory_mb` (billed in 64 MB chunks)."""

    duration_ms: float
    memory_mb: float = EXPRESS_MEMORY_CHUNK_MB
    executions: int = 1


@dataclass(frozen=True)
class AthenaUse:
    statement_type: str = "DDL"
    bytes_scanned: int = 0


@dataclass
class RunUsage:
    """What one run used, service by service (counts, not dollars)."""

    transitions: int = 0
    lambdas: list[LambdaUse] = field(default_factory=list)
    glue: list[GlueUse] = field(default_factory=list)
    athena: list[AthenaUse] = field(default_factory=list)
    dynamodb_write_units: float = 0
    s3_put_requests: int = 0  # PUT, COPY, POST, LIST
    s3_get_requests: int = 0  # GET, HEAD and the others that are not free
    sns_publishes: int = 0
    sqs_requests: int = 0
    kms_requests: int = 0
    cloudwatch_requests: int = 0
    express: list[ExpressUse] = field(default_factory=list)  # Express executions (requests, duration)

    def add(self, other: RunUsage) -> RunUsage:
        """The usage of this run and `other` together (a burst of runs, a run and its estimates)."""
        return RunUsage(
            self.transitions + other.transitions,
            [*self.lambdas, *other.lambdas],
            [*self.glue, *other.glue],
            [*self.athena, *other.athena],
            self.dynamodb_write_units + other.dynamodb_write_units,
            self.s3_put_requests + other.s3_put_requests,
            self.s3_get_requests + other.s3_get_requests,
            self.sns_publishes + other.sns_publishes,
            self.sqs_requests + other.sqs_requests,
            self.kms_requests + other.kms_requests,
            self.cloudwatch_requests + other.cloudwatch_requests,
            [*self.express, *other.express],
        )

    def lambda_gb_seconds(self) -> float:
        return sum(lambda_gb_seconds(u.duration_ms, u.memory_mb) * u.requests for u in self.lambdas)

    def express_executions(self) -> int:
        return sum(e.executions for e in self.express)

    def express_gb_seconds(self) -> float:
        """Billed GB-seconds of the Express executions (100 ms steps, 64 MB chunks)."""
        return sum(express_gb_seconds(e.duration_ms, e.memory_mb) * e.executions for e in self.express)

    def glue_dpu_seconds(self, prices: Prices = US_EAST_1) -> float:
        """Billed DPU-seconds (the one-minute minimum applied per job run)."""
        return sum(
            glue_dpu_seconds(
                g.execution_seconds,
                worker_dpus(g.worker_type) * g.number_of_workers,
                dpu_seconds=g.dpu_seconds,
                prices=prices,
            )
            for g in self.glue
        )


# The services of a run's cost, in the order they are printed and recorded.
SERVICES = ("step_functions", "lambda", "glue", "athena", "dynamodb", "s3", "sns", "sqs", "kms", "cloudwatch")


def run_cost(usage: RunUsage, prices: Prices = US_EAST_1) -> dict[str, float]:
    """The cost of `usage` by service (keys: SERVICES, in that order), in USD."""
    return {
        "step_functions": step_functions_cost(usage.transitions, prices)
        + sum(
            step_functions_express_cost(e.executions, e.duration_ms, e.memory_mb, prices)
            for e in usage.express
        ),
        "lambda": sum(
            lambda_cost(
                u.duration_ms,
                u.memory_mb,
                architecture=u.architecture,
                ephemeral_storage_mb=u.ephemeral_storage_mb,
                requests=u.requests,
                prices=prices,
            )
            for u in usage.lambdas
        ),
        "glue": sum(
            glue_job_cost(
                g.execution_seconds,
                worker_type=g.worker_type,
                number_of_workers=g.number_of_workers,
                execution_class=g.execution_class,
                dpu_seconds=g.dpu_seconds,
                prices=prices,
            )
            for g in usage.glue
        ),
        "athena": sum(
            athena_query_cost(a.bytes_scanned, statement_type=a.statement_type, prices=prices)
            for a in usage.athena
        ),
        "dynamodb": dynamodb_writes_cost(usage.dynamodb_write_units, prices),
        "s3": s3_requests_cost(usage.s3_put_requests, usage.s3_get_requests, prices),
        "sns": sns_publish_cost(usage.sns_publishes, prices=prices) if usage.sns_publishes else 0.0,
        "sqs": sqs_requests_cost(usage.sqs_requests, prices),
        "kms": kms_requests_cost(usage.kms_requests, prices),
        "cloudwatch": cloudwatch_metric_requests_cost(usage.cloudwatch_requests, prices),
    }


def price_notes(prices: Prices = US_EAST_1) -> dict[str, str]:
    """What each service's price is, in words, made from `prices` (for the README and reports)."""
    return {
        "lambda": f"${prices.lambda_gb_second['arm64']:.10f} per GB-second (arm64, first tier) + "
        f"${prices.lambda_request * 1e6:.2f} per million requests",
        "glue": f"${prices.glue_dpu_hour['STANDARD']:.2f} per DPU-hour "
        f"(FLEX ${prices.glue_dpu_hour['FLEX']:.2f}), "
        f"per second, {prices.glue_minimum_seconds:.0f} s minimum per job run",
        "step_functions": f"${prices.step_functions_transition * 1000:.3f} per 1,000 state transitions "
        f"(Standard); Express ${prices.step_functions_express_request * 1e6:.2f} per million requests + "
        f"${prices.step_functions_express_gb_second * 3600:.2f} per GB-hour (100 ms, 64 MB steps)",
        "athena": f"${prices.athena_tb_scanned:.2f} per TB scanned, "
        f"{prices.athena_minimum_bytes // MB} MB minimum per query; DDL statements are free",
        "dynamodb": f"${prices.dynamodb_write_request_unit * 1e6:.3f} per million write request units "
        "(on-demand)",
        "s3": f"${prices.s3_put_request * 1000:.4f} per 1,000 PUT/COPY/POST/LIST, "
        f"${prices.s3_get_request * 1000:.4f} per 1,000 GET and others; DELETE free",
        "sns": f"${prices.sns_publish_request * 1e6:.2f} per million publishes (64 KB each)",
        "sqs": f"${prices.sqs_request * 1e6:.2f} per million requests (64 KB each)",
        "kms": f"${prices.kms_request * 10_000:.2f} per 10,000 requests",
        "cloudwatch": f"${prices.cloudwatch_metric_request * 1000:.2f} per 1,000 PutMetricData requests",
    }
