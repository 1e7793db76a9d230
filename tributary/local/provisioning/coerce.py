"""CloudFormation passes numbers and booleans as strings when they come from parameters; AWS APIs
want them typed. The API's own model (botocore's shapes) says which type each member has."""

from __future__ import annotations

from typing import Any

from botocore.model import Shape


def coerce(value: Any, shape: Shape) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {k: coerce(v, members[k]) if k in members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [coerce(v, shape.member) for v in value]  # type: ignore[attr-defined]
    if kind == "map" and isinstance(value, dict):
        return {k: coerce(v, shape.value) for k, v in value.items()}  # type: ignore[attr-defined]
    if isinstance(value, str):
        if kind in ("integer", "long"):
            return int(value)
        if kind in ("double", "float"):
            return float(value)
        if kind == "boolean":
            return value.lower() == "true"
    if kind == "string" and isinstance(value, bool | int | float) and not isinstance(value, bool):
        return str(value)
    if kind == "string" and isinstance(value, bool):
        return str(value).lower()
    return value


def call(client: Any, method: str, **params: Any) -> Any:
    """`client.<method>(**params)` with the parameters typed as the operation's model says."""
    operation = client.meta.method_to_api_mapping[method]
    shape = client.meta.service_model.operation_model(operation).input_shape
    return getattr(client, method)(**coerce(params, shape))
