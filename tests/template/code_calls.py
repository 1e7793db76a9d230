"""Which AWS API calls a function's code can make, read statically from functions/ (no import, no AWS).

A function's own package is taken whole. From the shared layer (etl_common) only the definitions its
code reaches are followed: a call ``x.record_run(...)`` reaches every ``def record_run`` in the layer
modules it imports, and instantiating a layer class reaches that class's ``__init__``. The names reached
that are operations of a service the code creates a client for (``s3_client()``, ``boto3.client("s3")``,
a ``mypy_boto3_s3`` annotation...) are mapped to the IAM actions that authorize them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

from tests.template.cfn import REPO

FUNCTIONS_DIR = REPO / "functions"
LAYER_PACKAGE = "etl_common"
LAYER_DIR = FUNCTIONS_DIR / "common" / LAYER_PACKAGE

# How code obtains a client of each service (etl_common.aws factories, boto3, type annotations).
SERVICE_MARKERS = {
    "s3": {"s3_client", "mypy_boto3_s3", "S3Client"},
    "dynamodb": {"dynamodb_resource", "dynamodb_client", "mypy_boto3_dynamodb", "DynamoDBServiceResource"},
    "stepfunctions": {"sfn_client", "mypy_boto3_stepfunctions", "SFNClient"},
    "glue": {"glue_client", "mypy_boto3_glue", "GlueClient"},
    "sqs": {"sqs_client", "mypy_boto3_sqs", "SQSClient"},
    "sns": {"sns_client", "mypy_boto3_sns", "SNSClient"},
    "athena": {"athena_client", "mypy_boto3_athena", "AthenaClient"},
}
IAM_PREFIX = {"stepfunctions": "states"}
# Calls whose IAM action is not "<prefix>:<OperationName>" (IAM service authorization reference).
SPECIAL_ACTIONS = {
    ("s3", "head_object"): {"s3:GetObject"},
    ("s3", "list_objects_v2"): {"s3:ListBucket"},
    ("s3", "list_objects"): {"s3:ListBucket"},
    ("s3", "list_object_versions"): {"s3:ListBucketVersions"},
    ("s3", "head_bucket"): {"s3:ListBucket"},
    ("s3", "copy_object"): {"s3:GetObject", "s3:PutObject"},
    ("s3", "delete_objects"): {"s3:DeleteObject"},
    ("sqs", "send_message_batch"): {"sqs:SendMessage"},
    ("sqs", "delete_message_batch"): {"sqs:DeleteMessage"},
}
# boto3 helpers that are not API operations but make calls.
HELPER_ACTIONS = {
    ("s3", "copy"): {"s3:GetObject", "s3:PutObject"},
    ("s3", "upload_file"): {"s3:PutObject"},
    ("s3", "upload_fileobj"): {"s3:PutObject"},
    ("s3", "download_file"): {"s3:GetObject"},
    ("s3", "download_fileobj"): {"s3:GetObject"},
    ("dynamodb", "batch_writer"): {"dynamodb:BatchWriteItem"},
}
# Libraries that call AWS on the function's behalf (Powertools idempotency keeps its records in DynamoDB).
LIBRARY_ACTIONS = {
    "DynamoDBPersistenceLayer": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
}


@cache
def operations(service: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model(service)
    return frozenset(xform_name(name) for name in model.operation_names)


def iam_actions(service: str, name: str) -> set[str]:
    if (service, name) in SPECIAL_ACTIONS:
        return SPECIAL_ACTIONS[(service, name)]
    if (service, name) in HELPER_ACTIONS:
        return HELPER_ACTIONS[(service, name)]
    model = botocore.session.get_session().get_service_model(service)
    by_snake = {xform_name(operation): operation for operation in model.operation_names}
    return {f"{IAM_PREFIX.get(service, service)}:{by_snake[name]}"}


@dataclass
class _Module:
    tree: ast.Module
    defs: dict[str, list[ast.AST]] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    layer_imports: set[str] = field(default_factory=set)


def _parse(path: Path) -> _Module:
    module = _Module(ast.parse(path.read_text(), filename=str(path)))
    for node in ast.walk(module.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            module.defs.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            module.classes[node.name] = node
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == LAYER_PACKAGE:
            parts = node.module.split(".")
            if len(parts) > 1:
                module.layer_imports.add(parts[1])
            else:
                module.layer_imports |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == LAYER_PACKAGE and len(parts) > 1:
                    module.layer_imports.add(parts[1])
    return module


def _names(node: ast.AST) -> set[str]:
    """Names called, instantiated or mentioned in annotations and imports under ``node``."""
    found: set[str] = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            if isinstance(inner.func, ast.Attribute):
                found.add(inner.func.attr)
                if inner.func.attr == "get_paginator" and inner.args:
                    first = inner.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        found.add(first.value)
            elif isinstance(inner.func, ast.Name):
                found.add(inner.func.id)
            if (
                isinstance(inner.func, ast.Attribute)
                and inner.func.attr in {"client", "resource"}
                and inner.args
                and isinstance(inner.args[0], ast.Constant)
            ):
                found.add(f"{inner.args[0].value}_client")
        elif isinstance(inner, ast.Name):
            found.add(inner.id)
        elif isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            found.add(inner.value)  # string annotations: "S3Client"
        elif isinstance(inner, ast.ImportFrom) and inner.module:
            found.add(inner.module)
            found |= {alias.name for alias in inner.names}
    return found


def reached_names(function: str) -> set[str]:
    """Every name the function's own package uses plus those of the layer definitions it reaches."""
    package = FUNCTIONS_DIR / function / function
    own = [_parse(path) for path in sorted(package.glob("*.py"))]
    names: set[str] = set()
    layer_modules: dict[str, _Module] = {}
    pending = set().union(*(module.layer_imports for module in own))
    while pending:
        name = pending.pop()
        path = LAYER_DIR / f"{name}.py"
        if name in layer_modules or not path.is_file():
            continue
        layer_modules[name] = _parse(path)
        pending |= layer_modules[name].layer_imports
    for module in own:
        names |= _names(module.tree)

    visited: set[int] = set()
    frontier = set(names)
    while frontier:
        name = frontier.pop()
        for module in layer_modules.values():
            reached: list[ast.AST] = list(module.defs.get(name, []))
            if name in module.classes:
                cls = module.classes[name]
                reached += [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
                reached += [n for n in cls.body if not isinstance(n, ast.FunctionDef)]  # class attributes
            if name in module.defs or name in module.classes:
                # module-level assignments (constants, module-level clients) come with the module; its
                # imports do not, or every factory of etl_common.aws would count as used
                reached += [n for n in module.tree.body if isinstance(n, ast.Assign | ast.AnnAssign)]
            for node in reached:
                if id(node) in visited:
                    continue
                visited.add(id(node))
                new = _names(node) - names
                names |= new
                frontier |= new
    return names


def required_actions(function: str) -> dict[str, set[str]]:
    """IAM actions the function's code needs, each with the calls that need it."""
    names = reached_names(function)
    services = {service for service, markers in SERVICE_MARKERS.items() if names & markers}
    needed: dict[str, set[str]] = {}
    for service in services:
        candidates = (names & operations(service)) | {
            helper for (svc, helper) in HELPER_ACTIONS if svc == service and helper in names
        }
        for name in candidates:
            for action in iam_actions(service, name):
                needed.setdefault(action, set()).add(f"{service}.{name}")
    for library, actions in LIBRARY_ACTIONS.items():
        if library in names:
            for action in actions:
                needed.setdefault(action, set()).add(library)
    return needed
