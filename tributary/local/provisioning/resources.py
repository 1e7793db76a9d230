"""One creator per CloudFormation resource type: the resource made in moto, its Ref and GetAtt values.

Resources are created directly with boto3 calls rather than through moto's CloudFormation: the local
stack needs every physical id and attribute anyway (for the Lambda runtime, the engine, the event
poller), and a direct call fails loudly on the one resource it concerns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning.coerce import call
from tributary.local.provisioning.template import LOCAL_CODE_BUCKET


@dataclass
class Resource:
    logical_id: str
    type: str
    physical_id: str  # what Ref returns
    attributes: dict[str, Any] = field(default_factory=dict)  # what GetAtt returns
    properties: dict[str, Any] = field(default_factory=dict)  # resolved properties
    # Where the resource lives locally: "moto", or the part of the local stack that emulates it.
    emulated_by: str = "moto"


@dataclass
class CreateContext:
    aws: MotoServer
    stack_name: str
    region: str
    account_id: str
    local_paths: dict[str, Path]
    notes: list[str] = field(default_factory=list)  # where the local resource differs, said at start-up

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id}:{resource}"

    def generated_name(self, logical_id: str, max_length: int = 64, lower: bool = False) -> str:
        # CloudFormation appends a random suffix; locally a stable name is easier to type.
        name = f"{self.stack_name}-{logical_id}"[:max_length]
        return name.lower() if lower else name

    def local_path(self, bucket: Any, key: Any) -> Path | None:
        if bucket == LOCAL_CODE_BUCKET and isinstance(key, str):
            return self.local_paths.get(key)
        return None


NOT_EMULATED = "not emulated"  # Resource.emulated_by of a placeholder


def placeholder(ctx: CreateContext, logical_id: str, resource_type: str, props: dict[str, Any]) -> Resource:
    """A resource of a type the local stack cannot create: nothing exists, but Ref and GetAtt resolve.

    Ref gives the name the template sets (``Name``, or ``<Type>Name`` as in ``DashboardName``) or the
    name CloudFormation would generate; GetAtt gives ``placeholder_attribute``.
    """
    suffix = resource_type.rsplit("::", 1)[-1]
    name = props.get("Name") or props.get(f"{suffix}Name")
    name = name if isinstance(name, str) and name else ctx.generated_name(logical_id)
    service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "unknown"
    attributes = {"Arn": ctx.arn(service, f"{suffix.lower()}/{name}")}
    return Resource(logical_id, resource_type, name, attributes, props, emulated_by=NOT_EMULATED)


def placeholder_attribute(resource: Resource, attribute: str) -> str:
    """GetAtt of a placeholder: its known attributes, else a value that says where it comes from."""
    known = resource.attributes.get(attribute)
    return str(known) if known is not None else f"placeholder-{resource.logical_id}-{attribute}"


Creator = Callable[[CreateContext, str, dict[str, Any]], Resource]
CREATORS: dict[str, Creator] = {}


def creates(*types: str) -> Callable[[Creator], Creator]:
    def register(function: Creator) -> Creator:
        for resource_type in types:
            CREATORS[resource_type] = function
        return function

    return register


def _policy_json(document: Any) -> str:
    # IAM reads a document without Version as 2008-10-17 (SAM's policy templates omit it); moto refuses it.
    if isinstance(document, dict) and "Version" not in document:
        document = {"Version": "2012-10-17", **document}
    return json.dumps(document)


def _tags(props: dict[str, Any]) -> list[dict[str, str]]:
    tags = props.get("Tags") or []
    if isinstance(tags, dict):
        return [{"Key": k, "Value": str(v)} for k, v in tags.items()]
    return [{"Key": t["Key"], "Value": str(t["Value"])} for t in tags]


# -- S3 --------------------------------------------------------------------------------------------
def _pick(props: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The properties an API takes as they are; `call` types them from the API's model."""
    return {key: props[key] for key in keys if key in props}


@creates("AWS::S3::Bucket")
def _bucket(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    s3 = ctx.aws.client("s3")
    name = props.get("BucketName") or ctx.generated_name(logical_id, 63, lower=True)
    created: dict[str, Any] = {"Bucket": name}
    if ctx.region != "us-east-1":
        created["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    if props.get("ObjectLockEnabled"):
        created["ObjectLockEnabledForBucket"] = props["ObjectLockEnabled"]
    call(s3, "create_bucket", **created)
    versioning = (props.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        call(s3, "put_bucket_versioning", Bucket=name, VersioningConfiguration={"Status": versioning})
    if props.get("ObjectLockConfiguration"):
        # moto keeps object versions write-once for the default retention, as S3 does.
        call(
            s3,
            "put_object_lock_configuration",
            Bucket=name,
            ObjectLockConfiguration=props["ObjectLockConfiguration"],
        )
    if props.get("ReplicationConfiguration"):
        ctx.notes.append(f"{logical_id}: replication not emulated (its objects are not copied locally)")
    if props.get("LifecycleConfiguration"):
        rules = props["LifecycleConfiguration"].get("Rules", [])
        call(
            s3,
            "put_bucket_lifecycle_configuration",
            Bucket=name,
            LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in rules]},
        )
    if ((props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration") or {}).get(
        "EventBridgeEnabled"
    ):
        # moto then calls its EventBridge hook on every object change; delivery/events.py takes it.
        call(
            s3,
            "put_bucket_notification_configuration",
            Bucket=name,
            NotificationConfiguration={"EventBridgeConfiguration": {}},
        )
    if _tags(props):
        call(s3, "put_bucket_tagging", Bucket=name, Tagging={"TagSet": _tags(props)})
    attributes = {
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
        "EventBridgeEnabled": bool(
            ((props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration") or {}).get(
                "EventBridgeEnabled"
            )
        ),
    }
    return Resource(logical_id, "AWS::S3::Bucket", name, attributes, props)


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled")}
    converted["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        days = rule["NoncurrentVersionExpiration"].get("NoncurrentDays")
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    return converted


@creates("AWS::S3::BucketPolicy")
def _bucket_policy(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    document = dict(props["PolicyDocument"])
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    # The local endpoint is plain HTTP, so a statement on aws:SecureTransport would deny every request.
    kept = [s for s in statements if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))]
    if len(kept) < len(statements):
        ctx.notes.append(
            f"{logical_id}: statements on aws:SecureTransport not applied (local endpoint is HTTP)"
        )
    if kept:
        policy = json.dumps({**document, "Statement": kept})
        call(ctx.aws.client("s3"), "put_bucket_policy", Bucket=props["Bucket"], Policy=policy)
    return Resource(logical_id, "AWS::S3::BucketPolicy", props["Bucket"], {}, props)


# -- SQS / SNS -------------------------------------------------------------------------------------
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
)


@creates("AWS::SQS::Queue")
def _queue(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    sqs = ctx.aws.client("sqs")
    name = props.get("QueueName") or ctx.generated_name(logical_id, 80)
    if props.get("FifoQueue") and not name.endswith(".fifo"):
        name = name[:75] + ".fifo"
    attributes = {
        key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
        for key in _QUEUE_ATTRIBUTES
        if key in props
    }
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            attributes[key] = json.dumps(props[key]) if isinstance(props[key], dict) else props[key]
    url = call(sqs, "create_queue", QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = ctx.arn("sqs", name)
    return Resource(
        logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url}, props
    )


@creates("AWS::SQS::QueuePolicy")
def _queue_policy(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    for url in props.get("Queues", []):
        call(
            ctx.aws.client("sqs"),
            "set_queue_attributes",
            QueueUrl=url,
            Attributes={"Policy": json.dumps(props["PolicyDocument"])},
        )
    return Resource(logical_id, "AWS::SQS::QueuePolicy", logical_id, {}, props)


@creates("AWS::SNS::Topic")
def _topic(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    sns = ctx.aws.client("sns")
    name = props.get("TopicName") or ctx.generated_name(logical_id, 256)
    attributes = {}
    if props.get("KmsMasterKeyId"):
        attributes["KmsMasterKeyId"] = str(props["KmsMasterKeyId"])
    if props.get("FifoTopic"):
        attributes["FifoTopic"] = "true"
    arn = call(sns, "create_topic", Name=name, Attributes=attributes)["TopicArn"]
    for subscription in props.get("Subscription", []):
        call(
            sns,
            "subscribe",
            TopicArn=arn,
            Protocol=subscription["Protocol"],
            Endpoint=subscription["Endpoint"],
        )
    return Resource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name}, props)


@creates("AWS::SNS::Subscription")
def _subscription(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    attributes = {}
    for key in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy"):
        if key in props:
            value = props[key]
            attributes[key] = json.dumps(value) if isinstance(value, dict) else str(value).lower()
    arn = call(
        ctx.aws.client("sns"),
        "subscribe",
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return Resource(logical_id, "AWS::SNS::Subscription", arn, {}, props)


@creates("AWS::SNS::TopicPolicy")
def _topic_policy(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    for arn in props.get("Topics", []):
        call(
            ctx.aws.client("sns"),
            "set_topic_attributes",
            TopicArn=arn,
            AttributeName="Policy",
            AttributeValue=json.dumps(props["PolicyDocument"]),
        )
    return Resource(logical_id, "AWS::SNS::TopicPolicy", logical_id, {}, props)


# -- DynamoDB --------------------------------------------------------------------------------------
@creates("AWS::DynamoDB::Table")
def _table(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    dynamodb = ctx.aws.client("dynamodb")
    name = props.get("TableName") or ctx.generated_name(logical_id, 255)
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in props:
        request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    elif request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = props["LocalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("SSESpecification"):
        sse = dict(props["SSESpecification"])
        sse["Enabled"] = bool(sse.pop("SSEEnabled", True))
        request["SSESpecification"] = sse
    if _tags(props):
        request["Tags"] = _tags(props)
    description = call(dynamodb, "create_table", **request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        call(
            dynamodb,
            "update_time_to_live",
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    attributes = {"Arn": description["TableArn"], "StreamArn": description.get("LatestStreamArn", "")}
    return Resource(logical_id, "AWS::DynamoDB::Table", name, attributes, props)


# -- KMS, IAM, logs --------------------------------------------------------------------------------
@creates("AWS::KMS::Key")
def _key(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    request: dict[str, Any] = {"Description": props.get("Description", logical_id)}
    if props.get("KeyPolicy"):
        request["Policy"] = json.dumps(props["KeyPolicy"])
    for key in ("KeyUsage", "KeySpec"):
        if key in props:
            request[key] = props[key]
    metadata = call(ctx.aws.client("kms"), "create_key", **request)["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        call(ctx.aws.client("kms"), "enable_key_rotation", KeyId=metadata["KeyId"])
    return Resource(
        logical_id,
        "AWS::KMS::Key",
        metadata["KeyId"],
        {"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]},
        props,
    )


@creates("AWS::KMS::Alias")
def _alias(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    call(
        ctx.aws.client("kms"), "create_alias", AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"]
    )
    return Resource(logical_id, "AWS::KMS::Alias", props["AliasName"], {}, props)


@creates("AWS::IAM::Role")
def _role(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    iam = ctx.aws.client("iam")
    name = props.get("RoleName") or ctx.generated_name(logical_id, 64)
    role = call(
        iam,
        "create_role",
        RoleName=name,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=_policy_json(props.get("AssumeRolePolicyDocument", {})),
    )["Role"]
    for arn in props.get("ManagedPolicyArns", []):
        try:
            call(iam, "attach_role_policy", RoleName=name, PolicyArn=arn)
        except iam.exceptions.NoSuchEntityException:
            # moto does not load AWS managed policies by default; nothing local checks IAM anyway.
            if not arn.startswith("arn:aws:iam::aws:policy/"):
                raise
    for policy in props.get("Policies", []):
        call(
            iam,
            "put_role_policy",
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=_policy_json(policy["PolicyDocument"]),
        )
    return Resource(logical_id, "AWS::IAM::Role", name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}, props)


@creates("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
def _policy(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    iam = ctx.aws.client("iam")
    name = props.get("PolicyName") or props.get("ManagedPolicyName") or ctx.generated_name(logical_id, 128)
    document = _policy_json(props["PolicyDocument"])
    if "ManagedPolicyName" in props or "PolicyName" not in props:
        arn = call(iam, "create_policy", PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]
        for role in props.get("Roles", []):
            call(iam, "attach_role_policy", RoleName=role, PolicyArn=arn)
        return Resource(logical_id, "AWS::IAM::ManagedPolicy", arn, {"PolicyArn": arn}, props)
    for role in props.get("Roles", []):
        call(iam, "put_role_policy", RoleName=role, PolicyName=name, PolicyDocument=document)
    return Resource(logical_id, "AWS::IAM::Policy", name, {}, props)


@creates("AWS::Logs::LogGroup")
def _log_group(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    logs = ctx.aws.client("logs")
    name = props.get("LogGroupName") or ctx.generated_name(logical_id, 512)
    call(logs, "create_log_group", logGroupName=name)
    if props.get("RetentionInDays"):
        call(logs, "put_retention_policy", logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    return Resource(
        logical_id, "AWS::Logs::LogGroup", name, {"Arn": ctx.arn("logs", f"log-group:{name}:*")}, props
    )


@creates("AWS::CloudWatch::Alarm")
def _alarm(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("AlarmName") or ctx.generated_name(logical_id, 255)
    keys = (
        "MetricName",
        "Namespace",
        "Statistic",
        "Period",
        "EvaluationPeriods",
        "Threshold",
        "ComparisonOperator",
        "AlarmActions",
        "OKActions",
        "Dimensions",
        "TreatMissingData",
        "DatapointsToAlarm",
        "AlarmDescription",
    )
    request = _pick(props, keys)
    call(ctx.aws.client("cloudwatch"), "put_metric_alarm", AlarmName=name, **request)
    return Resource(
        logical_id, "AWS::CloudWatch::Alarm", name, {"Arn": ctx.arn("cloudwatch", f"alarm:{name}")}, props
    )


# -- EventBridge and Scheduler ---------------------------------------------------------------------
@creates("AWS::Events::Rule")
def _rule(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    events = ctx.aws.client("events")
    name = props.get("Name") or ctx.generated_name(logical_id, 64)
    request: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
    if props.get("EventPattern"):
        pattern = props["EventPattern"]
        request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if props.get("ScheduleExpression"):
        request["ScheduleExpression"] = props["ScheduleExpression"]
    if props.get("EventBusName"):
        request["EventBusName"] = props["EventBusName"]
    arn = call(events, "put_rule", **request)["RuleArn"]
    targets = [_event_target(target) for target in props.get("Targets", [])]
    if targets:
        call(
            events,
            "put_targets",
            Rule=name,
            EventBusName=props.get("EventBusName", "default"),
            Targets=targets,
        )
    return Resource(
        logical_id,
        "AWS::Events::Rule",
        name,
        {"Arn": arn},
        props,
        emulated_by="tributary.local.delivery.events",
    )


def _event_target(target: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "Id",
        "Arn",
        "RoleArn",
        "Input",
        "InputPath",
        "InputTransformer",
        "DeadLetterConfig",
        "RetryPolicy",
    )
    return {key: target[key] for key in keys if key in target}


@creates("AWS::Scheduler::Schedule")
def _schedule(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("Name") or ctx.generated_name(logical_id, 64)
    group = props.get("GroupName", "default")
    target = {
        key: value
        for key, value in props["Target"].items()
        if key in ("Arn", "RoleArn", "Input", "RetryPolicy")
    }
    call(
        ctx.aws.client("scheduler"),
        "create_schedule",
        Name=name,
        GroupName=group,
        ScheduleExpression=props["ScheduleExpression"],
        FlexibleTimeWindow=props.get("FlexibleTimeWindow", {"Mode": "OFF"}),
        Target=target,
        State=props.get("State", "ENABLED"),
    )
    arn = ctx.arn("scheduler", f"schedule/{group}/{name}")
    return Resource(
        logical_id,
        "AWS::Scheduler::Schedule",
        name,
        {"Arn": arn},
        props,
        emulated_by="tributary.local.delivery.events",
    )


# -- Glue and Athena -------------------------------------------------------------------------------
@creates("AWS::Glue::Database")
def _database(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    database_input = dict(props["DatabaseInput"])
    database_input.setdefault("Name", ctx.generated_name(logical_id, 255, lower=True).replace("-", "_"))
    call(ctx.aws.client("glue"), "create_database", DatabaseInput=database_input)
    return Resource(logical_id, "AWS::Glue::Database", database_input["Name"], {}, props)


@creates("AWS::Glue::Table")
def _glue_table(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    call(
        ctx.aws.client("glue"),
        "create_table",
        DatabaseName=props["DatabaseName"],
        TableInput=props["TableInput"],
    )
    return Resource(logical_id, "AWS::Glue::Table", props["TableInput"]["Name"], {}, props)


@creates("AWS::Glue::SecurityConfiguration")
def _security_configuration(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    # moto stores it (glue:GetSecurityConfiguration answers); nothing applies it to a local job run.
    name = props.get("Name") or ctx.generated_name(logical_id, 255)
    configuration = dict(props.get("EncryptionConfiguration") or {})
    if "S3Encryptions" in configuration:  # CloudFormation's name for the API's S3Encryption list
        configuration["S3Encryption"] = configuration.pop("S3Encryptions")
    call(
        ctx.aws.client("glue"),
        "create_security_configuration",
        Name=name,
        EncryptionConfiguration=configuration,
    )
    ctx.notes.append(
        f"{logical_id} (AWS::Glue::SecurityConfiguration): created as {name} but not enforced "
        "(local job runs write logs and S3 objects without its KMS encryption)"
    )
    return Resource(logical_id, "AWS::Glue::SecurityConfiguration", name, {}, props)


@creates("AWS::Glue::Job")
def _job(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("Name") or ctx.generated_name(logical_id, 255)
    keys = (
        "Description",
        "DefaultArguments",
        "NonOverridableArguments",
        "MaxRetries",
        "Timeout",
        "GlueVersion",
        "NumberOfWorkers",
        "WorkerType",
        "ExecutionProperty",
        "MaxCapacity",
        "SecurityConfiguration",
    )
    request = _pick(props, keys)
    call(
        ctx.aws.client("glue"),
        "create_job",
        Name=name,
        Role=props["Role"],
        Command=props["Command"],
        **request,
    )
    return Resource(
        logical_id, "AWS::Glue::Job", name, {}, props, emulated_by="tributary.local.runtimes.glue_runtime"
    )


@creates("AWS::Athena::WorkGroup")
def _workgroup(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("Name") or ctx.generated_name(logical_id, 128)
    configuration = dict(props.get("WorkGroupConfiguration") or {})
    configuration.pop("EngineVersion", None)
    call(
        ctx.aws.client("athena"),
        "create_work_group",
        Name=name,
        Configuration=configuration,
        Description=props.get("Description", ""),
    )
    return Resource(
        logical_id,
        "AWS::Athena::WorkGroup",
        name,
        {},
        props,
        emulated_by="tributary.local.runtimes.athena_runtime",
    )


# -- Lambda and Step Functions: recorded here, run by the local runtimes ----------------------------
@creates("AWS::Lambda::LayerVersion")
def _layer(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("LayerName") or logical_id
    arn = ctx.arn("lambda", f"layer:{name}:1")
    content = props.get("Content") or {}
    path = ctx.local_path(content.get("S3Bucket"), content.get("S3Key"))
    attributes = {"LayerVersionArn": arn, "LayerName": name, "LocalPath": str(path) if path else ""}
    return Resource(
        logical_id,
        "AWS::Lambda::LayerVersion",
        arn,
        attributes,
        props,
        "tributary.local.runtimes.lambda_runtime",
    )


@creates("AWS::Lambda::Function")
def _function(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("FunctionName") or ctx.generated_name(logical_id, 64)
    code = props.get("Code") or {}
    path = ctx.local_path(code.get("S3Bucket"), code.get("S3Key"))
    attributes = {"Arn": ctx.arn("lambda", f"function:{name}"), "LocalPath": str(path) if path else ""}
    return Resource(
        logical_id,
        "AWS::Lambda::Function",
        name,
        attributes,
        props,
        "tributary.local.runtimes.lambda_runtime",
    )


@creates("AWS::Lambda::EventSourceMapping")
def _event_source_mapping(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    return Resource(
        logical_id,
        "AWS::Lambda::EventSourceMapping",
        f"esm-{logical_id}",
        {},
        props,
        "tributary.local.delivery.events",
    )


@creates("AWS::Lambda::Permission")
def _permission(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    # Local invocations are not authorized by resource policies: recorded, with no effect.
    return Resource(logical_id, "AWS::Lambda::Permission", logical_id, {}, props, "no local effect")


@creates("AWS::Lambda::Url")
def _function_url(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    # A function URL is not served locally; `tributary approve`/`refuse` invoke the function with the
    # event its URL would send (AuthType AWS_IAM: the caller's identity in requestContext.authorizer).
    target = str(props.get("TargetFunctionArn", logical_id)).rsplit(":", 1)[-1]
    url = f"https://{target.lower()}.lambda-url.{ctx.region}.on.aws/"
    attributes = {"FunctionUrl": url, "FunctionArn": props.get("TargetFunctionArn", "")}
    return Resource(logical_id, "AWS::Lambda::Url", url, attributes, props, "not served: invoke the function")


@creates("AWS::StepFunctions::StateMachine")
def _state_machine(ctx: CreateContext, logical_id: str, props: dict[str, Any]) -> Resource:
    name = props.get("StateMachineName") or ctx.generated_name(logical_id, 80)
    arn = ctx.arn("states", f"stateMachine:{name}")
    definition = _definition_text(ctx, props)
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    attributes = {"Arn": arn, "Name": name, "Definition": definition}
    return Resource(
        logical_id, "AWS::StepFunctions::StateMachine", arn, attributes, props, "tributary.states"
    )


def _definition_text(ctx: CreateContext, props: dict[str, Any]) -> str:
    if "DefinitionString" in props:
        return str(props["DefinitionString"])
    if "Definition" in props:
        return json.dumps(props["Definition"])
    location = props.get("DefinitionS3Location") or {}
    path = ctx.local_path(location.get("Bucket"), location.get("Key"))
    if path is None:
        raise ValueError("DefinitionS3Location outside the repository cannot be read locally")
    return path.read_text()
