from __future__ import annotations

import json
from pathlib import Path

import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import provision
from tributary.local.provisioning.intrinsics import NO_VALUE, IntrinsicError, Resolver

from .conftest import FIXTURE_APP


def test_template_resources_exist_in_moto_with_their_properties(moto_server: MotoServer) -> None:
    stack = provision(FIXTURE_APP / "template.yaml", moto_server, "default")
    assert stack.not_emulated == []
    assert stack.name == "tiny"
    s3 = moto_server.client("s3")
    assert s3.get_bucket_versioning(Bucket="tiny-raw-dev")["Status"] == "Enabled"
    sqs = moto_server.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.physical_id("IngestQueue"), AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "30"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.resources["DeadLetterQueue"].attributes["Arn"],
        "maxReceiveCount": 3,
    }
    dynamodb = moto_server.client("dynamodb")
    table = dynamodb.describe_table(TableName="tiny-RunsTable")["Table"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by-status-created"
    ttl = dynamodb.describe_time_to_live(TableName="tiny-RunsTable")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    assert moto_server.client("glue").get_database(Name="tiny_dev")["Database"]["Name"] == "tiny_dev"
    job = moto_server.client("glue").get_job(JobName="tiny-Job")["Job"]
    assert job["DefaultArguments"] == {"--bucket": "tiny-curatedbucket"}
    subscriptions = moto_server.client("sns").list_subscriptions()["Subscriptions"]
    assert [s["Endpoint"] for s in subscriptions] == [stack.resources["TopicQueue"].attributes["Arn"]]
    assert stack.outputs == {"RawBucketName": "tiny-raw-dev"}
    assert "ProdOnlyQueue" not in stack.resources


def test_sam_resources_carry_resolved_environment_code_path_and_substitutions(
    moto_server: MotoServer,
) -> None:
    stack = provision(FIXTURE_APP / "template.yaml", moto_server, "default")
    function = stack.resources["HelloFunction"]
    assert function.properties["Environment"]["Variables"] == {
        "RAW_BUCKET": "tiny-raw-dev",
        "TABLE": "tiny-RunsTable",
        "GREETING": "hi",
        "SPLIT_PART": "b",
        "CONTRACTS_DIR": "/opt",
    }
    assert function.properties["MemorySize"] == 256
    assert Path(function.attributes["LocalPath"]) == (FIXTURE_APP / "fn").resolve()
    (layer,) = stack.of_type("AWS::Lambda::LayerVersion")
    assert Path(layer.attributes["LocalPath"]) == (FIXTURE_APP / "layer").resolve()
    definition = json.loads(stack.resources["Machine"].attributes["Definition"])
    assert definition["States"]["Hello"]["Parameters"]["FunctionName"] == function.attributes["Arn"]
    mapping = stack.resources["HelloFunctionIngest"].properties
    assert mapping["EventSourceArn"] == stack.resources["IngestQueue"].attributes["Arn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_config_env_overrides_parameters_and_conditions(moto_server: MotoServer) -> None:
    stack = provision(FIXTURE_APP / "template.yaml", moto_server, "prod")
    assert stack.name == "tiny-prod"
    assert "ProdOnlyQueue" in stack.resources
    assert stack.resources["HelloFunction"].properties["MemorySize"] == 1024
    assert stack.resources["HelloFunction"].properties["Environment"]["Variables"]["GREETING"] == "hello"


def test_unknown_config_env_is_refused(moto_server: MotoServer) -> None:
    with pytest.raises(KeyError, match="staging"):
        provision(FIXTURE_APP / "template.yaml", moto_server, "staging")


def test_types_and_functions_that_cannot_be_emulated_are_reported_by_name(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    (tmp_path / "template.yaml").write_text(
        """
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
  Imported:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !ImportValue other-stack-queue-name
  UsesImported:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${Imported.QueueName}-2"
  UsesVpc:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Ref Vpc
  Fine:
    Type: AWS::SQS::Queue
"""
    )
    stack = provision(tmp_path / "template.yaml", moto_server)
    reported = {(n.logical_id, n.type): n.reason for n in stack.not_emulated}
    assert reported.keys() == {
        ("Vpc", "AWS::EC2::VPC"),
        ("Imported", "AWS::SQS::Queue"),
        ("UsesImported", "AWS::SQS::Queue"),
    }
    assert "not emulated" in reported[("Vpc", "AWS::EC2::VPC")]
    assert "ImportValue" in reported[("Imported", "AWS::SQS::Queue")]
    # A resource that failed takes its dependents with it; a type that is not emulated does not.
    assert reported[("UsesImported", "AWS::SQS::Queue")] == "depends on Imported"
    assert {"Fine", "UsesVpc"} <= stack.resources.keys()
    assert "Vpc" not in stack.resources
    assert any("UsesVpc" in note and "Vpc (AWS::EC2::VPC)" in note for note in stack.notes)


def test_refs_and_getatts_of_a_type_not_emulated_resolve_to_placeholders(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    (tmp_path / "template.yaml").write_text(
        """
Resources:
  Board:
    Type: AWS::CloudWatch::Dashboard
    Properties: {DashboardName: ops-board, DashboardBody: "{}"}
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${Board}-queue"
      Tags:
        - {Key: board-arn, Value: !GetAtt Board.Arn}
        - {Key: vpc, Value: !Ref Vpc}
        - {Key: cidr, Value: !GetAtt Vpc.CidrBlock}
Outputs:
  BoardName: {Value: !Ref Board}
"""
    )
    stack = provision(tmp_path / "template.yaml", moto_server)
    assert sorted((n.logical_id, n.type) for n in stack.not_emulated) == [
        ("Board", "AWS::CloudWatch::Dashboard"),
        ("Vpc", "AWS::EC2::VPC"),
    ]
    queue_url = stack.physical_id("Queue")
    assert queue_url.endswith("/ops-board-queue")
    tags = {tag["Key"]: tag["Value"] for tag in stack.resources["Queue"].properties["Tags"]}
    vpc_name = f"{stack.name}-Vpc"
    assert tags == {
        "board-arn": f"arn:aws:cloudwatch:{moto_server.region}:123456789012:dashboard/ops-board",
        "vpc": vpc_name,
        "cidr": "placeholder-Vpc-CidrBlock",
    }
    assert stack.outputs == {"BoardName": "ops-board"}
    assert stack.placeholders.keys() == {"Board", "Vpc"}


def test_a_glue_security_configuration_is_created_and_its_job_refers_to_it(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    (tmp_path / "template.yaml").write_text(
        """
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {AWS: "*"}, Action: "kms:*", Resource: "*"}
  JobRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: glue.amazonaws.com}, Action: sts:AssumeRole}
  Encryption:
    Type: AWS::Glue::SecurityConfiguration
    Properties:
      Name: !Sub ${AWS::StackName}-enc
      EncryptionConfiguration:
        S3Encryptions:
          - {S3EncryptionMode: SSE-KMS, KmsKeyArn: !GetAtt Key.Arn}
        CloudWatchEncryption: {CloudWatchEncryptionMode: SSE-KMS, KmsKeyArn: !GetAtt Key.Arn}
        JobBookmarksEncryption: {JobBookmarksEncryptionMode: DISABLED}
  Job:
    Type: AWS::Glue::Job
    Properties:
      Role: !GetAtt JobRole.Arn
      SecurityConfiguration: !Ref Encryption
      Command: {Name: glueetl, ScriptLocation: s3://scripts/job.py}
"""
    )
    stack = provision(tmp_path / "template.yaml", moto_server)
    assert stack.not_emulated == []
    name = f"{stack.name}-enc"
    assert stack.physical_id("Encryption") == name
    glue = moto_server.client("glue")
    stored = glue.get_security_configuration(Name=name)["SecurityConfiguration"]
    key_arn = stack.resources["Key"].attributes["Arn"]
    assert stored["EncryptionConfiguration"]["CloudWatchEncryption"] == {
        "CloudWatchEncryptionMode": "SSE-KMS",
        "KmsKeyArn": key_arn,
    }
    job = glue.get_job(JobName=stack.physical_id("Job"))["Job"]
    assert job["SecurityConfiguration"] == name
    # Said at start-up, like the aws:SecureTransport statements: created, not enforced.
    assert any(
        note.startswith("Encryption (AWS::Glue::SecurityConfiguration)") and "not enforced" in note
        for note in stack.notes
    )


def _resolver(**conditions: object) -> Resolver:
    template = {
        "Conditions": {"Yes": {"Fn::Equals": ["a", "a"]}, "No": {"Fn::Not": [{"Condition": "Yes"}]}},
        "Mappings": {"M": {"k": {"v": 42}}},
    }
    resources = {("Bucket", None): "bkt", ("Bucket", "Arn"): "arn:aws:s3:::bkt"}

    def lookup(name: str, attribute: str | None) -> object:
        return resources[(name, attribute)]

    return Resolver(template, {"P": "x"}, {"AWS::Region": "eu-west-1"}, lookup)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            {"Fn::Sub": "${Bucket}/${P}/${AWS::Region}/${Bucket.Arn}/${!Literal}"},
            "bkt/x/eu-west-1/arn:aws:s3:::bkt/${Literal}",
        ),
        ({"Fn::Sub": ["${A}-${P}", {"A": {"Ref": "Bucket"}}]}, "bkt-x"),
        ({"Fn::Join": ["-", ["a", {"Ref": "P"}]]}, "a-x"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}, "b"),
        ({"Fn::FindInMap": ["M", "k", "v"]}, 42),
        ({"Fn::If": ["No", 1, 2]}, 2),
        ({"Fn::Or": [{"Condition": "No"}, {"Fn::Equals": [{"Ref": "P"}, "x"]}]}, True),
        ({"Fn::And": [{"Condition": "Yes"}, {"Condition": "No"}]}, False),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"k": {"Ref": "AWS::NoValue"}, "j": [1, {"Ref": "AWS::NoValue"}]}, {"j": [1]}),
    ],
)
def test_intrinsic_functions(expression: object, expected: object) -> None:
    assert _resolver().resolve(expression) == expected


def test_no_value_and_unknown_references() -> None:
    resolver = _resolver()
    assert resolver.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    with pytest.raises(IntrinsicError, match="Nope"):
        resolver.resolve({"Ref": "Nope"})
    with pytest.raises(IntrinsicError, match="Fn::Cidr"):
        resolver.resolve({"Fn::Cidr": ["10.0.0.0/16", 2, 8]})


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (REPO / "template.yaml").exists(), reason="the application template is not there yet")
def test_the_application_template_provisions_with_only_the_dashboard_reported(
    moto_server: MotoServer,
) -> None:
    stack = provision(REPO / "template.yaml", moto_server, "default")
    assert [(n.logical_id, n.type) for n in stack.not_emulated] == [
        ("PipelineDashboard", "AWS::CloudWatch::Dashboard")
    ]
    for logical_id in (
        "RawBucket", "CuratedBucket", "ArtifactsBucket", "IngestQueue", "IngestDeadLetterQueue",
        "ObjectCreatedRule", "PipelineStateMachine", "TransformJob", "GlueDatabase", "AthenaWorkGroup",
        "RunsTable", "LineageTable", "IdempotencyTable", "NotificationTopic", "SweepSchedule", "DataKey",
        "TransformSecurityConfiguration",
    ):  # fmt: skip
        assert logical_id in stack.resources, logical_id
    job = moto_server.client("glue").get_job(JobName=stack.physical_id("TransformJob"))["Job"]
    assert job["SecurityConfiguration"] == stack.physical_id("TransformSecurityConfiguration")
    definition = json.loads(stack.resources["PipelineStateMachine"].attributes["Definition"])
    assert "${" not in json.dumps(definition)  # every DefinitionSubstitution resolved


def test_a_busy_port_is_refused_rather_than_reused(moto_server: MotoServer) -> None:
    with pytest.raises(OSError, match="already in use"):
        MotoServer(moto_server.port).start()


def test_an_unknown_samconfig_environment_names_the_ones_there_are(tmp_path: Path) -> None:
    from tributary.local.provisioning.template import samconfig_parameters

    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text(
        'version = 0.1\n[default.deploy.parameters]\nparameter_overrides = "A=1"\n'
        '[prod.deploy.parameters]\nparameter_overrides = "A=2"\n'
    )
    assert samconfig_parameters(samconfig, "prod") == {"A": "2"}
    with pytest.raises(KeyError, match=r"no environment 'staging' \(have: default, prod\)"):
        samconfig_parameters(samconfig, "staging")
