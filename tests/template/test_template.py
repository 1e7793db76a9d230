"""template.yaml: the SAM transform, encryption, transport security, alarms and the names others rely on."""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

import pytest

from tests.template import cfn

# docs/interfaces.md: the logical ids the local toolkit and the tests rely on.
INTERFACE_IDS = {
    "RawBucket",
    "CuratedBucket",
    "ArtifactsBucket",
    "IngestQueue",
    "IngestDeadLetterQueue",
    "ObjectCreatedRule",
    "PipelineStateMachine",
    "TransformJob",
    "GlueDatabase",
    "AthenaWorkGroup",
    "RunsTable",
    "LineageTable",
    "IdempotencyTable",
    "NotificationTopic",
    "SweepSchedule",
    "DataKey",
    "CommonLayer",
    "ContractsLayer",
}
FUNCTIONS = {
    "TriggerFunction": ("functions/trigger/", "trigger.handler.lambda_handler"),
    "ValidateFunction": ("functions/validate/", "validate.handler.lambda_handler"),
    "CatalogFunction": ("functions/catalog/", "catalog.handler.lambda_handler"),
    "LineageFunction": ("functions/lineage/", "lineage.handler.lambda_handler"),
    "QuarantineFunction": ("functions/quarantine/", "quarantine.handler.lambda_handler"),
    "SweepFunction": ("functions/sweep/", "sweep.handler.lambda_handler"),
    "TransformLiteFunction": ("functions/transform_lite/", "transform_lite.handler.lambda_handler"),
    "ApprovalFunction": ("functions/approval/", "approval.handler.lambda_handler"),
}
ENV_VARS = {
    "RAW_BUCKET",
    "ARTIFACTS_BUCKET",
    "CURATED_BUCKET",
    "RUNS_TABLE",
    "LINEAGE_TABLE",
    "IDEMPOTENCY_TABLE",
    "CONTRACTS_DIR",
    "GLUE_DATABASE",
    "RUN_TTL_DAYS",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}
# APIs that accept no resource ARN, so "*" is the only possible Resource (each is commented in the template).
STAR_ONLY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # PutMetricData has no resource type; the condition key cloudwatch:namespace is what limits it.
    "cloudwatch:PutMetricData",
    # A task token of a service integration (.waitForTaskToken) cannot be scoped by IAM.
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
}


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}


def test_the_sam_transform_succeeds(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    assert resources["PipelineStateMachine"]["Type"] == "AWS::StepFunctions::StateMachine"
    for function in FUNCTIONS:
        assert resources[function]["Type"] == "AWS::Lambda::Function"
        assert f"{function}Role" in resources


def test_the_interface_logical_ids_exist(resources: dict[str, Any]) -> None:
    assert set(resources) >= INTERFACE_IDS | set(FUNCTIONS)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_functions_are_declared_as_the_interfaces_say(template: dict[str, Any], function: str) -> None:
    properties = template["Resources"][function]["Properties"]
    code_uri, handler = FUNCTIONS[function]
    assert (properties["CodeUri"], properties["Handler"]) == (code_uri, handler)
    variables = set(template["Globals"]["Function"]["Environment"]["Variables"])
    variables |= set(properties.get("Environment", {}).get("Variables", {}))
    assert variables >= ENV_VARS | {"POWERTOOLS_SERVICE_NAME"}
    if function == "TriggerFunction":
        assert properties["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {"Ref": "PipelineStateMachine"}


def test_layers_are_declared_as_the_interfaces_say(
    resources: dict[str, Any], template: dict[str, Any]
) -> None:
    common = resources["CommonLayer"]
    assert common["Properties"]["ContentUri"] == "functions/common/"
    assert common["Metadata"]["BuildMethod"] == "python3.11"
    assert resources["ContractsLayer"]["Properties"]["ContentUri"] == "contracts/"
    assert "Metadata" not in resources["ContractsLayer"]  # files land in /opt as they are
    assert template["Globals"]["Function"]["Runtime"] == "python3.11"


def test_the_trigger_batches_from_sqs_with_partial_failures(resources: dict[str, Any]) -> None:
    trigger = resources["TriggerFunction"]["Properties"]
    (event,) = trigger["Events"].values()
    assert event["Type"] == "SQS"
    assert cfn.references(event["Properties"]["Queue"]) == {"IngestQueue"}
    assert event["Properties"]["BatchSize"] == {"Ref": "TriggerBatchSize"}
    assert event["Properties"]["MaximumBatchingWindowInSeconds"] == {"Ref": "TriggerBatchingWindowSeconds"}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "ReservedConcurrentExecutions" in trigger


def test_ingestion_has_a_dead_letter_queue_on_the_queue_and_on_the_rule(resources: dict[str, Any]) -> None:
    queue = resources["IngestQueue"]["Properties"]
    assert cfn.references(queue["RedrivePolicy"]["deadLetterTargetArn"]) == {"IngestDeadLetterQueue"}
    (target,) = resources["ObjectCreatedRule"]["Properties"]["Targets"]
    assert cfn.references(target["Arn"]) == {"IngestQueue"}
    assert cfn.references(target["DeadLetterConfig"]["Arn"]) == {"EventDeliveryDeadLetterQueue"}
    pattern = resources["ObjectCreatedRule"]["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "incoming/"}]
    for name in of_type(resources, "AWS::SQS::Queue"):
        assert cfn.references(resources[name]["Properties"]["KmsMasterKeyId"]) == {"DataKey"}, name


def test_the_raw_bucket_is_versioned_and_sends_events_to_eventbridge(resources: dict[str, Any]) -> None:
    raw = resources["RawBucket"]["Properties"]
    assert raw["VersioningConfiguration"] == {"Status": "Enabled"}
    assert raw["NotificationConfiguration"]["EventBridgeConfiguration"] == {"EventBridgeEnabled": True}


KEY_ENCRYPTED_BUCKETS = ["RawBucket", "CuratedBucket", "ArtifactsBucket", "AuditBucket"]


@pytest.mark.parametrize("bucket", [*KEY_ENCRYPTED_BUCKETS, "AccessLogsBucket"])
def test_every_bucket_is_private_encrypted_with_the_key_and_tls_only(
    resources: dict[str, Any], bucket: str
) -> None:
    assert set(of_type(resources, "AWS::S3::Bucket")) == {*KEY_ENCRYPTED_BUCKETS, "AccessLogsBucket"}
    properties = resources[bucket]["Properties"]
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    if bucket == "AccessLogsBucket":
        # S3 delivers server access logs only to a bucket encrypted with S3-managed keys.
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    else:
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert cfn.references(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == {"DataKey"}
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    assert properties["LifecycleConfiguration"]["Rules"]
    policies = [
        policy["Properties"]
        for policy in of_type(resources, "AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1, f"{bucket} needs exactly one bucket policy"
    denies_plain_http = [
        statement
        for statement in policies[0]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and statement["Action"] == "s3:*"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and cfn.references(statement["Resource"]) == {bucket}
        and len(statement["Resource"]) == 2  # the bucket and its objects
    ]
    assert denies_plain_http


def test_tables_topic_and_log_groups_use_the_key(resources: dict[str, Any]) -> None:
    for name, table in of_type(resources, "AWS::DynamoDB::Table").items():
        sse = table["Properties"]["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS", name
        assert cfn.references(sse["KMSMasterKeyId"]) == {"DataKey"}, name
    assert cfn.references(resources["NotificationTopic"]["Properties"]["KmsMasterKeyId"]) == {"DataKey"}
    for name, group in of_type(resources, "AWS::Logs::LogGroup").items():
        assert cfn.references(group["Properties"]["KmsKeyId"]) == {"DataKey"}, name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert resources["DataKey"]["Properties"]["EnableKeyRotation"] is True


def test_the_runs_table_matches_the_interface(resources: dict[str, Any]) -> None:
    runs = resources["RunsTable"]["Properties"]
    assert runs["KeySchema"] == [{"AttributeName": "run_id", "KeyType": "HASH"}]
    indexes = {index["IndexName"]: index for index in runs["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == ["by-status-created", "by-trigger-principal-created"]
    keys = {name: [key["AttributeName"] for key in index["KeySchema"]] for name, index in indexes.items()}
    assert keys["by-status-created"] == ["status", "created_at"]
    # Audit trail: the runs a principal (uploader, schedule, person) caused (etl_common.runs).
    assert keys["by-trigger-principal-created"] == ["trigger_principal", "created_at"]
    assert runs["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    lineage = resources["LineageTable"]["Properties"]
    assert [key["AttributeName"] for key in lineage["KeySchema"]] == ["object_id", "run_id"]
    idempotency = resources["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_the_glue_job_runs_the_local_script_with_parameters(resources: dict[str, Any]) -> None:
    job = resources["TransformJob"]["Properties"]
    assert job["GlueVersion"] == "5.0"
    assert job["Command"]["ScriptLocation"] == "glue/transform.py"
    assert (cfn.REPO / "glue/transform.py").is_file()
    assert job["WorkerType"] == {"Ref": "GlueWorkerType"}
    assert job["NumberOfWorkers"] == {"Ref": "GlueNumberOfWorkers"}
    assert job["Timeout"] == {"Ref": "GlueJobTimeoutMinutes"}
    assert job["ExecutionProperty"]["MaxConcurrentRuns"] == {"Ref": "GlueMaxConcurrentRuns"}
    assert job["DefaultArguments"]["--job-language"] == "python"
    assert job["DefaultArguments"]["--enable-continuous-cloudwatch-log"] == "true"


def test_the_glue_job_offers_flex_and_auto_scaling_as_parameters(template: dict[str, Any]) -> None:
    parameters, job = template["Parameters"], template["Resources"]["TransformJob"]["Properties"]
    assert parameters["GlueExecutionClass"]["AllowedValues"] == ["STANDARD", "FLEX"]
    assert parameters["GlueExecutionClass"]["Default"] == "STANDARD"
    assert parameters["GlueAutoScaling"]["AllowedValues"] == ["true", "false"]
    assert job["ExecutionClass"] == {"Ref": "GlueExecutionClass"}
    # Glue reads the flag from the job's arguments; NumberOfWorkers is then the most a run may use.
    assert job["DefaultArguments"]["--enable-auto-scaling"] == {"Ref": "GlueAutoScaling"}
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (glue,) = [group["Parameters"] for group in groups if group["Label"]["default"] == "Transform (Glue)"]
    assert {"GlueExecutionClass", "GlueAutoScaling"} <= set(glue)


def _flex_rule_holds(rule: dict[str, Any], execution_class: str, worker_type: str) -> bool:
    """The template's rule, evaluated for one choice of the two parameters."""
    refs = {"GlueExecutionClass": execution_class, "GlueWorkerType": worker_type}
    left, right = rule["RuleCondition"]["Fn::Equals"]
    if refs[left["Ref"]] != right:
        return True  # the rule does not apply
    (assertion,) = rule["Assertions"]
    allowed, value = assertion["Assert"]["Fn::Contains"]
    return refs[value["Ref"]] in allowed


@pytest.mark.parametrize("worker_type", ["G.1X", "G.2X", "G.4X", "G.8X"])
def test_flex_is_refused_at_deploy_for_workers_glue_does_not_run_flex_on(
    template: dict[str, Any], worker_type: str
) -> None:
    rule = template["Rules"]["FlexExecutionNeedsG1XOrG2XWorkers"]
    assert worker_type in template["Parameters"]["GlueWorkerType"]["AllowedValues"]
    assert _flex_rule_holds(rule, "STANDARD", worker_type)
    assert _flex_rule_holds(rule, "FLEX", worker_type) == (worker_type in ("G.1X", "G.2X"))


def test_every_execution_class_and_worker_type_the_template_offers_is_priced(
    template: dict[str, Any],
) -> None:
    from etl_common import cost

    parameters = template["Parameters"]
    for worker_type in parameters["GlueWorkerType"]["AllowedValues"]:
        prices = {
            execution_class: cost.glue_job_cost(600, worker_type=worker_type, execution_class=execution_class)
            for execution_class in parameters["GlueExecutionClass"]["AllowedValues"]
        }
        assert 0 < prices["FLEX"] < prices["STANDARD"], worker_type
    # auto scaling bills the DPU-seconds a run used, never less than one minute of its workers
    full = cost.glue_job_cost(600, number_of_workers=10)
    scaled = cost.glue_job_cost(600, number_of_workers=10, dpu_seconds=1200)
    assert scaled == pytest.approx(full * 1200 / 6000)
    assert cost.glue_job_cost(5, number_of_workers=10, dpu_seconds=5) == cost.glue_job_cost(
        60, number_of_workers=10
    )


def _sub_text(value: Any) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return text[0] if isinstance(text, list) else str(text)


def test_the_glue_job_encrypts_its_logs_and_s3_writes_with_the_key(resources: dict[str, Any]) -> None:
    job = resources["TransformJob"]["Properties"]
    (name,) = cfn.references(job["SecurityConfiguration"])
    configuration = resources[name]
    assert configuration["Type"] == "AWS::Glue::SecurityConfiguration"
    encryption = configuration["Properties"]["EncryptionConfiguration"]
    assert encryption["S3Encryptions"], "no S3 encryption"
    for s3 in encryption["S3Encryptions"]:
        assert s3["S3EncryptionMode"] == "SSE-KMS"
        assert cfn.references(s3["KmsKeyArn"]) == {"DataKey"}
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert cfn.references(encryption["CloudWatchEncryption"]["KmsKeyArn"]) == {"DataKey"}

    # The job's role may use the key and associate it with the job's log groups (/aws-glue/...).
    allowed = [s for s in cfn.statements(resources["TransformJobRole"]) if s["Effect"] == "Allow"]
    on_key = {
        action
        for s in allowed
        if cfn.references(s["Resource"]) == {"DataKey"}
        for action in cfn.as_list(s["Action"])
    }
    assert on_key >= {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}
    assert any(
        "logs:AssociateKmsKey" in cfn.as_list(s["Action"])
        and any("log-group:/aws-glue/" in _sub_text(r) for r in cfn.as_list(s["Resource"]))
        for s in allowed
    )
    # The key policy lets CloudWatch Logs encrypt with the key for this account's log groups.
    key_statements = resources["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    for_logs = [
        s
        for s in key_statements
        if s["Effect"] == "Allow" and _sub_text(s.get("Principal", {}).get("Service", "")).startswith("logs.")
    ]
    assert for_logs, "the key policy does not let CloudWatch Logs use the key"
    (statement,) = for_logs
    for needed in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"):
        assert any(fnmatch(needed, action) for action in cfn.as_list(statement["Action"])), needed
    (log_groups,) = statement["Condition"]["ArnLike"].values()
    assert _sub_text(log_groups).endswith(":log-group:*")


def test_the_athena_workgroup_enforces_an_encrypted_result_location(resources: dict[str, Any]) -> None:
    configuration = resources["AthenaWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    result = configuration["ResultConfiguration"]
    assert cfn.references(result["OutputLocation"]) == {"ArtifactsBucket"}
    assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"


def test_the_sweep_schedule_is_a_disabled_by_default_cron(template: dict[str, Any]) -> None:
    schedule = template["Resources"]["SweepSchedule"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    assert schedule["Properties"]["State"] == {"Ref": "SweepScheduleState"}
    assert template["Parameters"]["SweepScheduleState"]["Default"] == "DISABLED"
    assert cfn.references(schedule["Properties"]["Target"]["Arn"]) == {"SweepFunction"}


def test_the_email_subscription_is_optional(resources: dict[str, Any]) -> None:
    subscription = resources["NotificationEmailSubscription"]
    assert subscription["Condition"] == "HasNotificationEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def _alarms_on(resources: dict[str, Any], namespace: str, metric: str) -> set[str]:
    """Resources named in the dimensions of alarms on this metric that notify the topic."""
    subjects: set[str] = set()
    for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if "Metrics" in properties:
            continue  # metric math against a parameter (tests/template/test_audit_and_security.py)
        if (properties["Namespace"], properties["MetricName"]) != (namespace, metric):
            continue
        assert cfn.references(properties["AlarmActions"]) == {"NotificationTopic"}
        assert properties["Threshold"] == 0 and properties["ComparisonOperator"] == "GreaterThanThreshold"
        subjects |= cfn.references(properties["Dimensions"])
    return subjects


@pytest.mark.parametrize(
    "metric", ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "ExecutionThrottled"]
)
def test_state_machine_alarms_exist(resources: dict[str, Any], metric: str) -> None:
    assert _alarms_on(resources, "AWS/States", metric) == {"PipelineStateMachine"}


@pytest.mark.parametrize("metric", ["RunsLeftPublished", "SuccessNotificationsFailed"])
def test_the_metrics_the_state_machine_publishes_are_alarmed(resources: dict[str, Any], metric: str) -> None:
    """A failed run whose partitions could not be dropped, and a published run that could not be
    announced, are counted by the state machine itself (namespace Tributary, dimension StateMachine)."""
    assert _alarms_on(resources, "Tributary", metric) == {"PipelineStateMachine"}


def test_the_state_machine_publishes_metrics_to_its_namespace_only(translated: dict[str, Any]) -> None:
    statements = [
        statement
        for name, statement in _all_statements(translated)
        if name == "PipelineStateMachineRole"
        and "cloudwatch:PutMetricData" in cfn.as_list(statement["Action"])
    ]
    assert [statement["Condition"] for statement in statements] == [
        {"StringEquals": {"cloudwatch:namespace": "Tributary"}}
    ]


def test_every_function_has_an_errors_alarm(resources: dict[str, Any]) -> None:
    functions = set(of_type(resources, "AWS::Serverless::Function"))
    assert _alarms_on(resources, "AWS/Lambda", "Errors") == functions


def test_every_dead_letter_queue_has_a_depth_alarm(resources: dict[str, Any]) -> None:
    dead_letter_queues = {name for name in of_type(resources, "AWS::SQS::Queue") if "DeadLetter" in name}
    assert dead_letter_queues == {"IngestDeadLetterQueue", "EventDeliveryDeadLetterQueue"}
    assert _alarms_on(resources, "AWS/SQS", "ApproximateNumberOfMessagesVisible") == dead_letter_queues


def test_glue_job_failures_reach_the_topic(resources: dict[str, Any]) -> None:
    rule = resources["GlueJobFailedRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["jobName"] == [{"Ref": "TransformJob"}]
    assert set(rule["EventPattern"]["detail"]["state"]) >= {"FAILED", "TIMEOUT"}
    (target,) = rule["Targets"]
    assert cfn.references(target["Arn"]) == {"NotificationTopic"}
    assert "PipelineDashboard" in resources


def _all_statements(translated: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in translated["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        for key in ("PolicyDocument", "KeyPolicy"):
            if key in properties:
                documents.append(properties[key])
        for document in documents:
            found += [(name, statement) for statement in document["Statement"]]
    return found


def test_no_statement_allows_every_action(translated: dict[str, Any]) -> None:
    for name, statement in _all_statements(translated):
        if statement["Effect"] == "Deny":
            continue  # transport denials name whole services on purpose
        if name == "DataKey" and statement["Sid"] == "AccountAdministersKeyThroughIam":
            continue  # the key policy's delegation to IAM policies
        for action in cfn.as_list(statement.get("Action", [])):
            assert action != "*" and not action.endswith(":*"), f"{name}: {statement}"


def test_star_resources_only_where_the_api_allows_nothing_else(translated: dict[str, Any]) -> None:
    for name, statement in _all_statements(translated):
        if statement["Effect"] != "Allow" or "*" not in cfn.as_list(statement.get("Resource", [])):
            continue
        if name == "DataKey":
            continue  # in a key policy, "*" means this key
        assert set(cfn.as_list(statement["Action"])) <= STAR_ONLY_ACTIONS, f"{name}: {statement}"


def test_outputs_name_what_a_user_needs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    named = set().union(*(cfn.references(output["Value"]) for output in outputs.values()))
    assert named >= INTERFACE_IDS - {"ObjectCreatedRule", "CommonLayer", "ContractsLayer"}
    assert named >= set(FUNCTIONS)
