"""The local stack: template.yaml provisioned in moto, the state machine on our engine behind a local
Step Functions endpoint, and the runtimes and event plumbing that make uploads become runs."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tributary.local.delivery.event_source_mapping import MappingConfig, SqsEventSourceMapping
from tributary.local.delivery.events import EventBus, Rule, listen_to_s3
from tributary.local.delivery.execution_events import ExecutionStatusEvents
from tributary.local.delivery.schedules import Schedule, Scheduler, fires_by_time
from tributary.local.endpoints.facade import Operation, serve_facade
from tributary.local.endpoints.lambda_api import function_configuration, serve_lambda_api
from tributary.local.endpoints.moto_server import ACCOUNT_ID, MotoServer
from tributary.local.endpoints.router import serve_endpoint
from tributary.local.faults import FaultInjector, FaultPlan
from tributary.local.integrations import local_integrations
from tributary.local.persistence.local_state import LocalState, deliver_events_before_answers
from tributary.local.provisioning import NotEmulated, ProvisionedStack, provision
from tributary.local.runtimes.athena_ddl import AthenaQueryError
from tributary.local.runtimes.athena_runtime import AthenaRuntime
from tributary.local.runtimes.glue_runtime import GlueError, GlueRuntime, JobConfig, JobRun, job_configs
from tributary.local.runtimes.glue_workflows import GlueWorkflows, scripts_beside_template
from tributary.local.runtimes.lambda_runtime import (
    FunctionConfig,
    InvocationResult,
    LambdaRuntime,
    function_configs,
    report_lines,
)
from tributary.serving import stop_serving, url_of
from tributary.states.server.backend import StepFunctionsBackend
from tributary.states.server.protocol import serve_in_background

LOGGER = logging.getLogger("tributary.local.stack")
# A queue subscribed to every SNS topic, so that the notifications a run publishes can be read back.
NOTIFICATIONS_QUEUE = "tributary-local-notifications"


@dataclass
class StackOptions:
    root: Path
    config_env: str = "default"
    work_dir: Path | None = None  # Glue's S3 mirror and logs; a temporary folder by default
    batch_window_cap: float | None = None  # shortens MaximumBatchingWindowInSeconds
    visibility_timeout_cap: int | None = None  # shortens the visibility timeout of polled queues
    real_time: bool = False  # the engine's clock: virtual (Wait and back-off instant) or real
    spark_cores: int = 2
    glue_mode: str = "warm"  # warm: long-lived Spark workers; cold: a process per run (glue_runtime.py)
    glue_workers: int = 1  # Glue runs executing at once; the others wait (WAITING)
    glue_prewarm: bool = False  # start a Spark worker with the stack, before the first run needs it
    moto_port: int | None = None
    states_port: int = 0
    athena_port: int = 0
    glue_port: int = 0
    # One endpoint for every service (tributary.local.endpoints.router); None: none, 0: a free port.
    endpoint_port: int | None = None
    fault_plan: FaultPlan | None = None  # faults to inject (tributary.local.faults; `--fault-plan FILE`)
    state_dir: Path | None = None  # keep the state here across restarts (tributary.local.persistence)
    fresh: bool = False  # drop the state of state_dir and start empty
    # `-t/--template` and `--config-file` (SAM's names); default root/template.yaml, samconfig.toml beside it.
    template_file: Path | None = None
    config_file: Path | None = None
    # Template parameters over the samconfig environment's (`--parameter-overrides NAME=VALUE`).
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    # Values used when the stack is provisioned anew, under the overrides, but not part of a saved
    # state's identity: a state provisioned with other values is reused (`tributary run` turns approval
    # off for itself, and `tributary up` must still open the state it left).
    provisioning_defaults: dict[str, str] = field(default_factory=dict)


@dataclass
class LocalStack:
    options: StackOptions
    aws: MotoServer = field(init=False)
    stack: ProvisionedStack = field(init=False)
    states: StepFunctionsBackend = field(init=False)
    lambdas: LambdaRuntime = field(init=False)
    glue: GlueRuntime = field(init=False)
    workflows: GlueWorkflows = field(init=False)  # Glue Workflows and their EVENT triggers
    athena: AthenaRuntime = field(init=False)
    bus: EventBus = field(init=False)
    scheduler: Scheduler = field(init=False)
    mappings: list[SqsEventSourceMapping] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is emulated differently, said at start-up
    states_url: str = ""
    function_configs: list[FunctionConfig] = field(default_factory=list)
    endpoint_url: str = ""  # the one endpoint of every service, when options.endpoint_port is set
    endpoints: dict[str, str] = field(default_factory=dict)  # boto3 service id → local endpoint
    faults: FaultInjector = field(default_factory=FaultInjector)  # the fault plan in force (empty: none)
    _stoppers: list[Any] = field(default_factory=list)
    _temp: tempfile.TemporaryDirectory[str] | None = None
    local_state: LocalState | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        options = self.options
        if options.work_dir is None:
            self._temp = tempfile.TemporaryDirectory(prefix="tributary-stack-")
            work_dir = Path(self._temp.name)
        else:
            work_dir = options.work_dir
            shutil.rmtree(work_dir / "s3", ignore_errors=True)  # the mirror of a previous session
            work_dir.mkdir(parents=True, exist_ok=True)
        if options.state_dir is not None:
            self.local_state = LocalState(options.state_dir, fresh=options.fresh)
            self._stoppers.append(self.local_state.close)
        try:
            self.aws = MotoServer(options.moto_port, state_dir=self._saved("moto_dir")).start()
        except BaseException:
            self.stop()
            raise
        self._stoppers.append(self.aws.stop)
        try:
            self._start(work_dir)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, work_dir: Path) -> None:
        options = self.options
        if options.fault_plan is not None:
            self.faults.set_plan(options.fault_plan)
        self.stack = self._provision()
        self.notes.extend(self.stack.notes)
        self.states = StepFunctionsBackend(real_time=options.real_time, region=self.aws.region)
        self.states.recorder = self._saved("journal")
        server = serve_in_background(self.states, "127.0.0.1", options.states_port)
        self.states_url = url_of(server)
        self._stoppers.append(functools.partial(stop_serving, server))
        self.athena = AthenaRuntime(self.aws.client, work_dir / "athena-cache")
        self._stoppers.append(self.athena.close)
        athena_endpoint = serve_facade(
            "AmazonAthena.",
            athena_operations(self.athena),
            _athena_error,
            self.aws.endpoint_url,
            options.athena_port,
        )
        self._stoppers.append(functools.partial(stop_serving, athena_endpoint))
        glue_endpoint = serve_facade(
            "AWSGlue.", glue_operations(self), _glue_error, self.aws.endpoint_url, options.glue_port
        )
        self._stoppers.append(functools.partial(stop_serving, glue_endpoint))
        lambda_endpoint = serve_lambda_api(self._describe_function)  # GetFunctionConfiguration (run_cost)
        self._stoppers.append(functools.partial(stop_serving, lambda_endpoint))
        self.endpoints = {
            "SFN": self.states_url,
            "ATHENA": url_of(athena_endpoint),
            "GLUE": url_of(glue_endpoint),
            "LAMBDA": url_of(lambda_endpoint),
        }
        if options.endpoint_port is not None:
            endpoint = serve_endpoint(self.aws.endpoint_url, self.endpoints, options.endpoint_port)
            self._stoppers.append(functools.partial(stop_serving, endpoint))
            self.endpoint_url = url_of(endpoint)
        child_env = self.aws.env(self.endpoints)
        build_dir = options.root / ".aws-sam" / "build"
        if build_dir.is_dir():
            self.notes.append(f"functions and layers run from `sam build`'s output in {build_dir}")
        self.function_configs = function_configs(self.stack, build_dir if build_dir.is_dir() else None)
        self.lambdas = LambdaRuntime(
            self.function_configs,
            child_env,
            self._write_logs,
            self.faults,
        )
        self._stoppers.append(self.lambdas.close)
        self.bus = EventBus(self.aws.client, self._deliverers())
        template_dir = (options.template_file or options.root / "template.yaml").parent
        self.glue = GlueRuntime(
            scripts_beside_template(job_configs(self.stack), template_dir, options.root),
            self.aws.client,
            child_env,
            options.root,
            work_dir,
            spark_cores=options.spark_cores,
            on_state_change=self._glue_state_changed,
            mode=options.glue_mode,
            spark_workers=options.glue_workers,
        )
        self._stoppers.append(self.glue.close)
        if options.glue_prewarm:
            self.glue.prewarm()
        self.glue.faults = self.faults
        self.glue.job_aliases = {r.physical_id: r.logical_id for r in self.stack.of_type("AWS::Glue::Job")}
        # -- Glue Workflows (templates/glue-workflow.yaml): EVENT triggers fed by the bus, runs of jobs
        self.workflows = GlueWorkflows(
            self.stack.of_type("AWS::Glue::Workflow"),
            self.stack.of_type("AWS::Glue::Trigger"),
            self.glue,
            self.aws.client("glue"),
            window_cap=options.batch_window_cap,
        )
        self._stoppers.append(self.workflows.close)
        # -- end Glue Workflows
        self.states.integrations = local_integrations(
            self.lambdas, self.glue, self.athena, self.aws.client, self.faults
        )
        self._register_state_machines()
        self._collect_notifications()
        self.bus.rules = self._rules()
        self.bus.start()
        self._stoppers.append(self.bus.stop)
        self._stoppers.append(listen_to_s3(self.bus.put))
        # Ended executions reach rules on aws.states (RunCostRule) as "Execution Status Change" events.
        status_events = ExecutionStatusEvents(
            self.states, self._state_machine_arns, self.bus.put, self.aws.region, ACCOUNT_ID
        )
        status_events.start()
        self._stoppers.append(status_events.stop)
        if self.aws.store is not None:  # an upload is answered once its event is in the ingest queue
            self._stoppers.append(deliver_events_before_answers(self.aws.store, self.bus))
        self.mappings = self._mappings()
        if options.visibility_timeout_cap is not None:
            self._cap_visibility_timeouts(options.visibility_timeout_cap)
        for mapping in self.mappings:
            mapping.start()
            self._stoppers.append(mapping.stop)
        self.scheduler = Scheduler(self._schedules(), self._fire_schedule)
        self.scheduler.start()
        self._stoppers.append(self.scheduler.stop)
        if self.local_state is not None:  # unfinished executions start again, now that all is running
            self.notes.extend(self.states.restore(self.local_state.journal.records()))

    def _state_machine_arns(self) -> list[str]:
        return [r.physical_id for r in self.stack.of_type("AWS::StepFunctions::StateMachine")]

    def _describe_function(self, name_or_arn: str) -> dict[str, Any] | None:
        """GetFunctionConfiguration's answer for a function of the stack (by name or ARN)."""
        for resource in self.stack.of_type("AWS::Lambda::Function"):
            arn = resource.attributes["Arn"]
            if name_or_arn in (resource.physical_id, arn) or name_or_arn.startswith(f"{arn}:"):
                return function_configuration(
                    resource.physical_id, arn, resource.properties, logical_id=resource.logical_id
                )
        return None

    def _saved(self, attribute: str) -> Any:
        return getattr(self.local_state, attribute) if self.local_state is not None else None

    def _provision(self) -> ProvisionedStack:
        options = self.options
        template = options.template_file or options.root / "template.yaml"
        config_file = options.config_file or template.parent / "samconfig.toml"

        def provision_now() -> ProvisionedStack:
            overrides = {**options.provisioning_defaults, **options.parameter_overrides}
            stack = provision(template, self.aws, options.config_env, overrides, config_file=config_file)
            defaults = sorted(
                f"{name}={value}"
                for name, value in options.provisioning_defaults.items()
                if name not in options.parameter_overrides
            )
            if defaults:  # kept with the saved state: `tributary up` on it says so too
                stack.notes.append(
                    f"provisioned with {', '.join(defaults)} by the command that created this state, not by "
                    "the template or --parameter-overrides (`tributary up --fresh` provisions anew)"
                )
            return stack

        if self.local_state is None:
            return provision_now()
        restored = self.aws.restored > 0
        if restored:
            self.notes.append(
                f"state restored from {self.local_state.folder} (`tributary up --fresh` starts empty); "
                "uploads whose event had not reached a queue when the stack stopped are found by "
                "`tributary schedule fire SweepSchedule`"
            )
        # Saved state provisioned with other parameter overrides is refused like another environment's.
        environment = options.config_env + "".join(
            f" {name}={value}" for name, value in sorted(options.parameter_overrides.items())
        )
        return self.local_state.provisioned(
            options.root, environment, provision_now, restored, files=(template, config_file)
        )

    def stop(self) -> None:
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception:
                LOGGER.exception("while stopping the local stack")
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the stack is made of ------------------------------------------------------------------
    @property
    def not_emulated(self) -> list[NotEmulated]:
        return self.stack.not_emulated

    def physical_id(self, logical_id: str) -> str:
        return self.stack.physical_id(logical_id)

    def state_machine_arn(self, logical_id: str = "PipelineStateMachine") -> str:
        return self.stack.physical_id(logical_id)

    def _register_state_machines(self) -> None:
        for resource in self.stack.of_type("AWS::StepFunctions::StateMachine"):
            self.states.create_state_machine(
                resource.attributes["Name"],
                resource.attributes["Definition"],
                str(resource.properties.get("RoleArn", "")),
                str(resource.properties.get("StateMachineType", "STANDARD")),
            )

    def _rules(self) -> list[Rule]:
        rules = []
        for resource in self.stack.of_type("AWS::Events::Rule"):
            props = resource.properties
            if props.get("EventPattern"):
                pattern = props["EventPattern"]
                rules.append(
                    Rule(
                        resource.physical_id,
                        pattern if isinstance(pattern, str) else json.dumps(pattern),
                        list(props.get("Targets", [])),
                        props.get("State", "ENABLED") == "ENABLED",
                    )
                )
        return rules

    def _mappings(self) -> list[SqsEventSourceMapping]:
        queues = {r.attributes["Arn"]: r.physical_id for r in self.stack.of_type("AWS::SQS::Queue")}
        mappings = []
        for resource in self.stack.of_type("AWS::Lambda::EventSourceMapping"):
            props = resource.properties
            source = str(props.get("EventSourceArn", ""))
            if source not in queues:
                self.notes.append(
                    f"{resource.logical_id}: only SQS event sources are polled locally ({source})"
                )
                continue
            config = MappingConfig(
                function=str(props["FunctionName"]),
                queue_arn=source,
                queue_url=queues[source],
                batch_size=int(props.get("BatchSize", 10)),
                batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in props.get("FunctionResponseTypes", []),
                enabled=bool(props.get("Enabled", True)),
            )
            if not config.enabled:
                continue
            function = self.lambdas.function(config.function)
            mappings.append(
                SqsEventSourceMapping(
                    config,
                    self.aws.client("sqs"),
                    function.invoke,
                    window_cap_seconds=self.options.batch_window_cap,
                )
            )
        return mappings

    def _cap_visibility_timeouts(self, cap: int) -> None:
        """Failed messages come back sooner (a failure path is then seen in seconds, not minutes)."""
        sqs = self.aws.client("sqs")
        for mapping in self.mappings:
            url = mapping.config.queue_url
            current = int(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"][
                    "VisibilityTimeout"
                ]
            )
            if current > cap:
                sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(cap)})
                self.notes.append(f"{url.rsplit('/', 1)[-1]}: visibility timeout {current}s capped at {cap}s")

    def _schedules(self) -> list[Schedule]:
        schedules = []
        for resource in self.stack.of_type("AWS::Scheduler::Schedule"):
            schedules.append(Schedule.of_scheduler(resource.physical_id, resource.properties))
        for resource in self.stack.of_type("AWS::Events::Rule"):
            props = resource.properties
            if props.get("ScheduleExpression"):
                for target in props.get("Targets", []):
                    schedules.append(
                        Schedule(
                            resource.physical_id,
                            str(props["ScheduleExpression"]),
                            str(target["Arn"]),
                            str(target.get("Input", "{}")),
                            props.get("State", "ENABLED") == "ENABLED",
                        )
                    )
        for schedule in schedules:
            if schedule.enabled and not fires_by_time(schedule.expression):
                self.notes.append(
                    f"schedule {schedule.name} ({schedule.expression}) fires only on demand: "
                    "`tributary schedule fire`"
                )
        return schedules

    # -- delivery ------------------------------------------------------------------------------------
    def _deliverers(self) -> dict[str, Any]:
        sqs = self.aws.client("sqs")
        sns = self.aws.client("sns")

        def to_queue(arn: str, body: str) -> None:
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)

        def to_topic(arn: str, body: str) -> None:
            sns.publish(TopicArn=arn, Message=body)

        def to_function(arn: str, body: str) -> None:
            payload = json.loads(body) if body else {}
            threading.Thread(target=self.lambdas.invoke, args=(arn, payload), daemon=True).start()

        def to_state_machine(arn: str, body: str) -> None:
            self.states.start_execution(arn, execution_input=body)

        def to_workflow(arn: str, body: str) -> None:  # an EVENT trigger's batch (glue_workflows)
            self.workflows.notify_event(arn, body)

        return {
            "sqs": to_queue,
            "sns": to_topic,
            "lambda": to_function,
            "states": to_state_machine,
            "glue": to_workflow,
        }

    def _fire_schedule(self, schedule: Schedule) -> Any:
        service = schedule.target_arn.split(":")[2] if schedule.target_arn.count(":") >= 2 else ""
        # Scheduler's context attributes (<aws.scheduler.schedule-arn>, ...) replaced, as AWS delivers it.
        text = schedule.delivered_input(
            region=self.aws.region, account=ACCOUNT_ID, when=dt.datetime.now(dt.UTC)
        )
        if service == "lambda":
            payload = json.loads(text) if text else {}
            return self.lambdas.invoke(schedule.target_arn, payload)
        deliver = self._deliverers().get(service)
        if deliver is None:
            raise ValueError(
                f"schedule {schedule.name}: targets of {service or schedule.target_arn} are not emulated"
            )
        deliver(schedule.target_arn, text)
        return None

    def _write_logs(self, config: FunctionConfig, result: InvocationResult) -> None:
        """Each invocation's log into CloudWatch Logs (moto), so that `aws logs tail` shows it."""
        logs = self.aws.client("logs")
        group = config.log_group or f"/aws/lambda/{config.name}"
        now = int(time.time() * 1000)
        try:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=group, logStreamName=result.log_stream)
            events = [{"timestamp": now, "message": line} for line in report_lines(result, config)]
            logs.put_log_events(logGroupName=group, logStreamName=result.log_stream, logEvents=events)
        except Exception:  # logs are a convenience: never fail an invocation for them
            LOGGER.debug("could not write the logs of %s", config.name, exc_info=True)

    def _glue_state_changed(self, job: JobConfig, run: JobRun) -> None:
        if run.state not in ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"):
            return
        self.bus.put(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Glue Job State Change",
                "source": "aws.glue",
                "account": ACCOUNT_ID,
                "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.aws.region,
                "resources": [],
                "detail": {
                    "jobName": job.name,
                    "severity": "INFO" if run.state == "SUCCEEDED" else "ERROR",
                    "state": run.state,
                    "jobRunId": run.id,
                    "message": run.error_message or f"Job run {run.state.lower()}",
                },
            }
        )

    def _collect_notifications(self) -> None:
        topics = self.stack.of_type("AWS::SNS::Topic")
        if not topics:
            return
        sqs = self.aws.client("sqs")
        url = sqs.create_queue(QueueName=NOTIFICATIONS_QUEUE)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for topic in topics:
            self.aws.client("sns").subscribe(TopicArn=topic.physical_id, Protocol="sqs", Endpoint=arn)
        self.notes.append(f"SNS notifications are also delivered to the local queue {NOTIFICATIONS_QUEUE}")


def athena_operations(athena: AthenaRuntime) -> dict[str, Operation]:
    return {
        "StartQueryExecution": athena.start_query_execution,
        "GetQueryExecution": athena.get_query_execution,
        "GetQueryResults": athena.get_query_results,
        "StopQueryExecution": athena.stop_query_execution,
    }


def glue_operations(stack: LocalStack) -> dict[str, Operation]:
    # Looked up per call: the Glue runtime is made after the endpoint.
    return {
        "StartJobRun": lambda **request: stack.glue.start_job_run(**request),
        "GetJobRun": lambda **request: stack.glue.get_job_run(**request),
        "GetJobRuns": lambda **request: stack.glue.get_job_runs(**request),
        "BatchStopJobRun": lambda **request: stack.glue.batch_stop_job_run(**request),
        # Workflow runs (glue_workflows); Get/PutWorkflowRunProperties are moto's, passed through.
        "StartWorkflowRun": lambda **request: stack.workflows.start_workflow_run(**request),
        "GetWorkflowRun": lambda **request: stack.workflows.get_workflow_run(**request),
        "GetWorkflowRuns": lambda **request: stack.workflows.get_workflow_runs(**request),
    }


def _athena_error(exc: Exception) -> tuple[str, str] | None:
    if isinstance(exc, AthenaQueryError | TypeError):
        return "InvalidRequestException", str(exc)
    return None


def _glue_error(exc: Exception) -> tuple[str, str] | None:
    if isinstance(exc, GlueError):
        return exc.code, exc.message
    if isinstance(exc, TypeError):
        return "InvalidInputException", str(exc)
    return None
