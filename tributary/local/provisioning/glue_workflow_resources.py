"""The template's AWS::Glue::Workflow and AWS::Glue::Trigger resources, created in moto. Their runs (the
EVENT trigger's batches, the CONDITIONAL triggers, run status and statistics) are emulated by the runtime
`tributary.local.runtimes.glue_workflows`, which reads these resources."""

from __future__ import annotations

from typing import Any

from tributary.local.provisioning.coerce import call
from tributary.local.provisioning.resources import CreateContext, Resource, creates

EMULATED_BY = "tributary.local.runtimes.glue_workflows"


@creates("AWS::Glue::Workflow")
def _workflow(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("Name") or ctx.generated_name(logical_id, 255)
    request = {
        k: props[k] for k in ("Description", "DefaultRunProperties", "MaxConcurrentRuns") if k in props
    }
    call(ctx.aws.client("glue"), "create_workflow", Name=name, **request)
    return Resource(logical_id, "AWS::Glue::Workflow", name, {}, props, emulated_by=EMULATED_BY)


@creates("AWS::Glue::Trigger")
def _trigger(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("Name") or ctx.generated_name(logical_id, 255)
    keys = (
        "WorkflowName",
        "Type",
        "Schedule",
        "Predicate",
        "Actions",
        "Description",
        "StartOnCreation",
        "EventBatchingCondition",
    )
    request = {k: props[k] for k in keys if k in props}
    call(ctx.aws.client("glue"), "create_trigger", Name=name, **request)
    if props.get("Type") == "SCHEDULED":
        ctx.notes.append(f"{logical_id}: SCHEDULED Glue triggers do not fire locally")
    return Resource(logical_id, "AWS::Glue::Trigger", name, {}, props, emulated_by=EMULATED_BY)
