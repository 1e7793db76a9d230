"""template.yaml, issue 13: retention and tamper evidence (item 3), security findings and alarms (item 4).

Run documents are replicated by S3 from the artifacts bucket's runs/ to a bucket of their own under
Object Lock (governance mode) for RunTtlDays, the retention of the run records; an optional CloudTrail
trail records the raw bucket's data events; checkov's accepted findings are explained beside their
resource; the ingest dead-letter queue is TLS-only; alarms watch run duration against an SLA and the age
of the oldest ingest event; a prod stack needs a subscriber.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from tests.template import cfn
from tests.template.test_template import of_type

TRAIL_NAME = "${AWS::StackName}-raw-data-events"


def _sub_text(value: Any) -> str:
    text = value["Fn::Sub"] if isinstance(value, dict) and "Fn::Sub" in value else value
    return text[0] if isinstance(text, list) else str(text)


def _samconfig_parameters(environment: str) -> dict[str, str]:
    from tributary.local.provisioning.template import samconfig_parameters

    return samconfig_parameters(cfn.REPO / "samconfig.toml", environment)


# ---------------------------------------------------------------- item 3: retention, write-once


def test_one_parameter_sets_the_retention_of_records_documents_and_their_locked_copies(
    template: dict[str, Any], resources: dict[str, Any], definition_text: str
) -> None:
    retention = {"Ref": "RunTtlDays"}
    # Run records: the functions and the state machine compute expires_at (DynamoDB TTL) from it.
    assert template["Globals"]["Function"]["Environment"]["Variables"]["RUN_TTL_DAYS"] == retention
    substitutions = resources["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["RunTtlDays"] == retention and "${RunTtlDays}" in definition_text
    assert resources["RunsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    # Run documents: the working copies in the artifacts bucket, and the write-once copies.
    artifacts = {
        r["Id"]: r for r in resources["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert artifacts["ExpireRunDocuments"]["Prefix"] == "runs/"
    assert artifacts["ExpireRunDocuments"]["ExpirationInDays"] == retention
    audit = resources["AuditBucket"]["Properties"]
    assert audit["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] == retention
    (expiry,) = [r for r in audit["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiry["ExpirationInDays"] == retention and "Prefix" not in expiry
    # Object Lock takes at most 36,500 days; the staged inputs (15 days) never outlive the documents.
    parameter = template["Parameters"]["RunTtlDays"]
    assert parameter["MaxValue"] == 36500 and parameter["MinValue"] >= 15


def test_each_environment_sets_its_own_retention() -> None:
    dev, prod = (_samconfig_parameters(environment) for environment in ("default", "prod"))
    assert int(dev["RunTtlDays"]) < int(prod["RunTtlDays"])
    raw = tomllib.loads((cfn.REPO / "samconfig.toml").read_text())
    for environment in ("default", "prod"):
        listed = [
            item.split("=", 1)[0] for item in raw[environment]["global"]["parameters"]["parameter_overrides"]
        ]
        assert listed.count("RunTtlDays") == 1, environment


def test_audit_documents_are_write_once_in_a_bucket_of_their_own(
    resources: dict[str, Any], translated: dict[str, Any]
) -> None:
    audit = resources["AuditBucket"]
    assert audit["DeletionPolicy"] == "Retain" and audit["UpdateReplacePolicy"] == "Retain"
    properties = audit["Properties"]
    assert properties["ObjectLockEnabled"] is True
    lock = properties["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    # Only S3's replication writes there: no function, Glue job or state machine role names the bucket.
    granted = set()
    for name, resource in translated["Resources"].items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::Policy"):
            continue
        properties = resource["Properties"]
        documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        documents += [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
        for document in documents:
            for statement in document["Statement"]:
                if statement["Effect"] == "Allow" and "AuditBucket" in cfn.references(statement["Resource"]):
                    granted.add(name)
    assert granted == {"AuditReplicationPolicy"}


def test_every_run_document_version_is_replicated_to_the_audit_bucket(resources: dict[str, Any]) -> None:
    artifacts = resources["ArtifactsBucket"]["Properties"]
    assert artifacts["VersioningConfiguration"] == {"Status": "Enabled"}  # replication needs it
    replication = artifacts["ReplicationConfiguration"]
    assert cfn.references(replication["Role"]) == {"AuditReplicationRole"}
    (rule,) = replication["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": "runs/"}
    # A deletion in the artifacts bucket does not reach the copies.
    assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}
    # The documents are SSE-KMS objects: S3 replicates those only when told, re-encrypting with the key.
    assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    assert cfn.references(rule["Destination"]["Bucket"]) == {"AuditBucket"}
    assert cfn.references(rule["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"]) == {"DataKey"}


def test_the_replication_role_may_do_exactly_what_replication_needs(resources: dict[str, Any]) -> None:
    trust = resources["AuditReplicationRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "s3.amazonaws.com"}]
    policy = resources["AuditReplicationPolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "AuditReplicationRole"}]
    granted: dict[str, list[Any]] = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in cfn.as_list(statement["Action"]):
            granted.setdefault(action, []).extend(cfn.as_list(statement["Resource"]))
    assert cfn.references(granted["s3:GetReplicationConfiguration"]) == {"ArtifactsBucket"}
    assert [_sub_text(r) for r in granted["s3:GetObjectVersionForReplication"]] == [
        "${ArtifactsBucket.Arn}/runs/*"
    ]
    assert [_sub_text(r) for r in granted["s3:ReplicateObject"]] == ["${AuditBucket.Arn}/runs/*"]
    # Deletions are not replicated, so the role has no s3:ReplicateDelete.
    assert "s3:ReplicateDelete" not in granted
    for action in ("kms:Decrypt", "kms:Encrypt"):
        assert cfn.references(granted[action]) == {"DataKey"}, action


def test_the_audit_trail_records_the_raw_buckets_data_events_with_validation(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    trail = resources["RawDataEventsTrail"]
    assert trail["Type"] == "AWS::CloudTrail::Trail"
    assert trail["Condition"] == "HasAuditTrail"
    assert template["Conditions"]["HasAuditTrail"] == {"Fn::Equals": [{"Ref": "EnableAuditTrail"}, "true"]}
    properties = trail["Properties"]
    assert properties["EnableLogFileValidation"] is True and properties["IsLogging"] is True
    assert cfn.references(properties["S3BucketName"]) == {"AuditBucket"}
    assert properties["S3KeyPrefix"] == "trail"
    assert cfn.references(properties["KMSKeyId"]) == {"DataKey"}
    assert _sub_text(properties["TrailName"]) == TRAIL_NAME
    (selector,) = properties["EventSelectors"]
    assert selector["ReadWriteType"] == "All"
    (data,) = selector["DataResources"]
    assert data["Type"] == "AWS::S3::Object"
    assert [_sub_text(value) for value in data["Values"]] == ["${RawBucket.Arn}/"]
    # CloudTrail may write only under trail/, and encrypt only for this trail (by the name it is given).
    statements = resources["AuditBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    for_trail = [s for s in statements if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}]
    assert {s["Action"] for s in for_trail} == {"s3:GetBucketAcl", "s3:PutObject"}
    for statement in for_trail:
        assert _sub_text(statement["Condition"]["StringEquals"]["aws:SourceArn"]).endswith(
            f":trail/{TRAIL_NAME}"
        )
    (put,) = [s for s in for_trail if s["Action"] == "s3:PutObject"]
    assert _sub_text(put["Resource"]) == "${AuditBucket.Arn}/trail/AWSLogs/${AWS::AccountId}/*"
    key = resources["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}
        and "kms:GenerateDataKey*" in cfn.as_list(s["Action"])
        for s in key
    )
    assert trail["DependsOn"] == "AuditBucketPolicy"  # CloudTrail checks the bucket policy at creation


def test_the_trail_is_off_in_dev_and_on_in_prod(template: dict[str, Any]) -> None:
    assert _samconfig_parameters("default")["EnableAuditTrail"] == "false"
    assert _samconfig_parameters("prod")["EnableAuditTrail"] == "true"
    # Without samconfig (and for checkov, which evaluates conditions with the defaults) it is on.
    assert template["Parameters"]["EnableAuditTrail"]["Default"] == "true"


def test_glues_own_log_groups_have_the_retention_and_the_key(resources: dict[str, Any]) -> None:
    job = resources["TransformJob"]
    prefix = _sub_text(job["Properties"]["DefaultArguments"]["--custom-logGroup-prefix"])
    assert prefix.startswith("/aws-glue/jobs/")
    groups = {
        _sub_text(group["Properties"]["LogGroupName"]): name
        for name, group in of_type(resources, "AWS::Logs::LogGroup").items()
    }
    # Glue 5.0 writes <prefix>/error (system and Spark logs) and <prefix>/output (the script's stdout/stderr).
    made = {groups.get(f"{prefix}/error"), groups.get(f"{prefix}/output")}
    assert None not in made, f"no log group named {prefix}/error and {prefix}/output"
    assert set(job["DependsOn"]) == made  # they exist (with retention) before Glue would create its own
    for name in made:
        properties = resources[name]["Properties"]
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert cfn.references(properties["KmsKeyId"]) == {"DataKey"}
    # The job's role may write there (its log statement covers /aws-glue/*).
    role_resources = [
        _sub_text(r)
        for s in cfn.statements(resources["TransformJobRole"])
        if "logs:PutLogEvents" in cfn.as_list(s["Action"])
        for r in cfn.as_list(s["Resource"])
    ]
    assert any(prefix.startswith(r.split(":log-group:", 1)[1].rstrip("*")) for r in role_resources)


# ---------------------------------------------------------------- item 4: security findings, alarms

SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+):(.*)$")


def _skips_by_resource() -> dict[str, list[tuple[str, str]]]:
    """checkov:skip comments, by the resource whose block holds them (checkov's comment form)."""
    found: dict[str, list[tuple[str, str]]] = {}
    in_resources = False
    current = None
    for line in cfn.template_path().read_text().splitlines():
        if re.match(r"^[A-Za-z]", line):
            in_resources = line.startswith("Resources:")
            current = None
            continue
        if in_resources and re.match(r"^  [A-Za-z0-9]+:\s*$", line):
            current = line.strip().rstrip(":")
            continue
        match = SKIP.search(line)
        if match:
            assert current is not None, f"a checkov skip outside a resource: {line.strip()}"
            found.setdefault(current, []).append((match.group(1), match.group(2).strip()))
    return found


def test_every_accepted_finding_is_explained_beside_its_resource(resources: dict[str, Any]) -> None:
    skips = _skips_by_resource()
    assert skips, "no skip found: the parser is broken"
    for resource, entries in skips.items():
        assert resource in resources, resource
        ids = [check for check, _ in entries]
        assert len(ids) == len(set(ids)), f"{resource} skips a check twice"
        for check, reason in entries:
            assert re.fullmatch(r"CKV2?_AWS_\d+", check), (resource, check)
            assert len(reason.split()) >= 8, f"{resource} {check}: the reason must say why ({reason!r})"


def test_only_the_functions_the_state_machine_or_sqs_invoke_skip_the_dead_letter_queue(
    resources: dict[str, Any],
) -> None:
    """A Lambda DLQ catches failed asynchronous invocations only: the schedule invokes the sweep so."""
    skips = _skips_by_resource()
    for name in of_type(resources, "AWS::Serverless::Function"):
        dlq = resources[name]["Properties"].get("DeadLetterQueue")
        skipped = "CKV_AWS_116" in dict(skips.get(name, []))
        assert bool(dlq) != skipped, f"{name}: a dead-letter queue or the reason for none, not both"
    sweep = resources["SweepFunction"]["Properties"]["DeadLetterQueue"]
    assert sweep["Type"] == "SQS"
    assert cfn.references(sweep["TargetArn"]) == {"EventDeliveryDeadLetterQueue"}
    assert cfn.references(resources["SweepSchedule"]["Properties"]["Target"]["Arn"]) == {"SweepFunction"}


def test_a_failed_scheduled_sweep_in_the_dead_letter_queue_is_kept_not_redriven() -> None:
    """What Lambda puts in the DLQ is the schedule's input; a redrive must not send it to the trigger."""
    from sweep.redrive import kind_of

    schedule = cfn.load_template()["Resources"]["SweepSchedule"]["Properties"]["Target"]["Input"]
    assert kind_of(schedule, {}) is not None
    assert kind_of(schedule, {"ErrorCode": {"StringValue": "200"}}) is not None


def test_the_sweep_role_may_send_to_its_dead_letter_queue(translated: dict[str, Any]) -> None:
    role = translated["Resources"]["SweepFunctionRole"]
    assert any(
        "sqs:SendMessage" in cfn.as_list(statement["Action"])
        and "EventDeliveryDeadLetterQueue" in cfn.references(statement["Resource"])
        for statement in cfn.statements(role)
        if statement["Effect"] == "Allow"
    )


def test_function_environments_are_encrypted_with_the_key(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert cfn.references(template["Globals"]["Function"]["KmsKeyArn"]) == {"DataKey"}
    for name in of_type(resources, "AWS::Serverless::Function"):
        assert "KmsKeyArn" not in resources[name]["Properties"], f"{name} overrides the key"


def test_glue_bookmarks_would_be_encrypted_with_the_key(resources: dict[str, Any]) -> None:
    encryption = resources["TransformSecurityConfiguration"]["Properties"]["EncryptionConfiguration"]
    bookmarks = encryption["JobBookmarksEncryption"]
    assert bookmarks["JobBookmarksEncryptionMode"] == "CSE-KMS"
    assert cfn.references(bookmarks["KmsKeyArn"]) == {"DataKey"}


@pytest.mark.parametrize("queue", ["IngestQueue", "IngestDeadLetterQueue", "EventDeliveryDeadLetterQueue"])
def test_every_queue_refuses_plain_http(resources: dict[str, Any], queue: str) -> None:
    assert set(of_type(resources, "AWS::SQS::Queue")) == {
        "IngestQueue",
        "IngestDeadLetterQueue",
        "EventDeliveryDeadLetterQueue",
    }
    policies = [
        policy["Properties"]
        for policy in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if queue in cfn.references(policy["Properties"]["Queues"])
    ]
    assert len(policies) == 1, f"{queue} needs exactly one queue policy"
    assert any(
        statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and statement["Action"] == "sqs:*"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and cfn.references(statement["Resource"]) == {queue}
        for statement in policies[0]["PolicyDocument"]["Statement"]
    )


def test_every_bucket_but_the_log_bucket_logs_its_access_there(resources: dict[str, Any]) -> None:
    prefixes = {}
    for name, bucket in of_type(resources, "AWS::S3::Bucket").items():
        if name == "AccessLogsBucket":
            assert "LoggingConfiguration" not in bucket["Properties"]
            continue
        logging = bucket["Properties"]["LoggingConfiguration"]
        assert cfn.references(logging["DestinationBucketName"]) == {"AccessLogsBucket"}, name
        prefixes[name] = logging["LogFilePrefix"]
    assert len(set(prefixes.values())) == len(prefixes), "two buckets log under one prefix"
    # The log bucket accepts deliveries from exactly those buckets (S3's logging service, this account).
    statements = resources["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (delivery,) = [s for s in statements if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}]
    assert delivery["Action"] == "s3:PutObject"
    assert cfn.references(delivery["Condition"]["ArnLike"]["aws:SourceArn"]) == set(prefixes)
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # S3 does not deliver access logs to a bucket with Object Lock.
    assert "ObjectLockEnabled" not in resources["AccessLogsBucket"]["Properties"]


def _metric_math_alarm(resources: dict[str, Any], name: str) -> tuple[dict[str, Any], str, str]:
    properties = resources[name]["Properties"]
    assert cfn.references(properties["AlarmActions"]) == {"NotificationTopic"}
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    (stat,) = [m for m in properties["Metrics"] if "MetricStat" in m]
    (expression,) = [m for m in properties["Metrics"] if "Expression" in m]
    assert stat["ReturnData"] is False and expression["ReturnData"] is True
    return stat["MetricStat"], stat["Id"], expression["Expression"]


def _breaches(expression: str, metric_id: str, datapoint: float, threshold: float) -> bool:
    """The alarm's expression over one datapoint (metric math: one metric scaled)."""
    match = re.fullmatch(rf"{metric_id}\s*([*/])\s*(\d+)", expression)
    assert match, f"expected '{metric_id} / N' or '{metric_id} * N', got {expression!r}"
    operator, number = match.group(1), int(match.group(2))
    value = datapoint / number if operator == "/" else datapoint * number
    return value > threshold


def test_a_run_longer_than_the_sla_raises_an_alarm(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    metric, metric_id, expression = _metric_math_alarm(resources, "RunDurationSlaAlarm")
    assert metric["Metric"]["Namespace"] == "AWS/States"
    assert metric["Metric"]["MetricName"] == "ExecutionTime"  # milliseconds
    assert cfn.references(metric["Metric"]["Dimensions"]) == {"PipelineStateMachine"}
    assert metric["Stat"] == "Maximum"
    properties = resources["RunDurationSlaAlarm"]["Properties"]
    assert properties["Threshold"] == {"Ref": "RunDurationSlaMinutes"}
    sla = int(template["Parameters"]["RunDurationSlaMinutes"]["Default"])
    assert not _breaches(expression, metric_id, sla * 60_000, sla)
    assert _breaches(expression, metric_id, sla * 60_000 + 1_000, sla)


def test_an_old_ingest_event_raises_an_alarm(template: dict[str, Any], resources: dict[str, Any]) -> None:
    metric, metric_id, expression = _metric_math_alarm(resources, "IngestMessageAgeAlarm")
    assert metric["Metric"]["Namespace"] == "AWS/SQS"
    assert metric["Metric"]["MetricName"] == "ApproximateAgeOfOldestMessage"  # seconds
    assert cfn.references(metric["Metric"]["Dimensions"]) == {"IngestQueue"}
    assert metric["Stat"] == "Maximum"
    properties = resources["IngestMessageAgeAlarm"]["Properties"]
    assert properties["Threshold"] == {"Ref": "IngestMessageMaxAgeMinutes"}
    limit = int(template["Parameters"]["IngestMessageMaxAgeMinutes"]["Default"])
    assert not _breaches(expression, metric_id, limit * 60, limit)
    assert _breaches(expression, metric_id, limit * 60 + 30, limit)
    # An event that waits one batching window and one failed batch's visibility timeout is not "old".
    window = int(template["Parameters"]["TriggerBatchingWindowSeconds"]["MaxValue"])
    visibility = int(resources["IngestQueue"]["Properties"]["VisibilityTimeout"])
    assert not _breaches(expression, metric_id, window + visibility, limit)


def _evaluate(value: Any, parameters: dict[str, str]) -> Any:
    """The intrinsic functions a template rule uses here: Ref, Fn::Equals, Fn::Not."""
    if isinstance(value, dict):
        ((key, argument),) = value.items()
        if key == "Ref":
            return parameters[argument]
        if key == "Fn::Equals":
            left, right = (_evaluate(item, parameters) for item in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            (inner,) = argument
            return not _evaluate(inner, parameters)
        raise AssertionError(f"unexpected function {key}")
    return value


def _rule_refuses(template: dict[str, Any], parameters: dict[str, str]) -> bool:
    rule = template["Rules"]["ProdAlarmsReachASubscriber"]
    if not _evaluate(rule["RuleCondition"], parameters):
        return False
    return not all(_evaluate(assertion["Assert"], parameters) for assertion in rule["Assertions"])


def test_a_prod_stack_is_refused_without_an_alarm_subscriber(template: dict[str, Any]) -> None:
    prod = _samconfig_parameters("prod")
    dev = _samconfig_parameters("default")
    assert prod["Stage"] == "prod" and dev["Stage"] == "dev"
    assert _rule_refuses(template, {**prod, "NotificationEmail": ""})
    assert not _rule_refuses(template, {**prod, "NotificationEmail": "data-oncall@example.com"})
    assert not _rule_refuses(template, {**dev, "NotificationEmail": ""})
    # The subscriber is the topic's e-mail subscription, and every alarm notifies the topic.
    for name, alarm in of_type(template["Resources"], "AWS::CloudWatch::Alarm").items():
        assert cfn.references(alarm["Properties"]["AlarmActions"]) == {"NotificationTopic"}, name
