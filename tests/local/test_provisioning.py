from __future__ import annotations

import json
from pathlib import Path

import pytest

from tributary.local.moto_server import MotoServer
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
        ("UsesVpc", "AWS::SQS::Queue"),
    }
    assert "ImportValue" in reported[("Imported", "AWS::SQS::Queue")]
    assert "Vpc" in reported[("UsesVpc", "AWS::SQS::Queue")]
    assert "Fine" in stack.resources


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
    ):  # fmt: skip
        assert logical_id in stack.resources, logical_id
    definition = json.loads(stack.resources["PipelineStateMachine"].attributes["Definition"])
    assert "${" not in json.dumps(definition)  # every DefinitionSubstitution resolved


def test_a_busy_port_is_refused_rather_than_reused(moto_server: MotoServer) -> None:
    with pytest.raises(OSError, match="already in use"):
        MotoServer(moto_server.port).start()
