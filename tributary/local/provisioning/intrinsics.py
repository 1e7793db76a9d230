"""CloudFormation intrinsic functions and conditions, resolved against what was already created."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

NO_VALUE = object()  # AWS::NoValue: the enclosing key or list item disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class IntrinsicError(Exception):
    """A function the local stack cannot resolve (unsupported, or a reference to nothing)."""


# (logical id, attribute or None for Ref) → value; raises KeyError when the resource is unknown.
ResourceLookup = Callable[[str, str | None], Any]


class Resolver:
    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        lookup: ResourceLookup,
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.pseudo = dict(pseudo)
        self.lookup = lookup
        self._conditions: dict[str, bool] = {}

    # -- conditions ------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions") or {}
            if name not in definitions:
                raise IntrinsicError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    # -- values ------------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
            if key.startswith("Fn::"):
                raise IntrinsicError(f"{key} is not supported by the local stack")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        try:
            return self.lookup(name, None)
        except KeyError:
            raise IntrinsicError(f"Ref to unknown parameter or resource {name!r}") from None

    def get_att(self, name: str, attribute: str) -> Any:
        try:
            return self.lookup(name, attribute)
        except KeyError:
            raise IntrinsicError(f"Fn::GetAtt {name}.{attribute}: not available locally") from None


def _ref(r: Resolver, arg: Any) -> Any:
    return r.ref(r.resolve(arg))


def _get_att(r: Resolver, arg: Any) -> Any:
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    name, attribute = r.resolve(arg)
    return r.get_att(name, attribute)


def _sub(r: Resolver, arg: Any) -> str:
    text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], r.resolve(arg[1]))

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("!"):  # ${!Literal} is written as ${Literal}
            return "${" + token[1:] + "}"
        if token in variables:
            return str(variables[token])
        if "." in token and not token.startswith("AWS::"):
            name, attribute = token.split(".", 1)
            return str(r.get_att(name, attribute))
        return str(r.ref(token))

    return _SUB_VARIABLE.sub(replace, text)


def _join(r: Resolver, arg: Any) -> str:
    delimiter, items = r.resolve(arg)
    return str(delimiter).join(str(item) for item in items)


def _select(r: Resolver, arg: Any) -> Any:
    index, items = r.resolve(arg)
    return items[int(index)]


def _split(r: Resolver, arg: Any) -> list[str]:
    delimiter, text = r.resolve(arg)
    return str(text).split(delimiter)


def _find_in_map(r: Resolver, arg: Any) -> Any:
    name, top, second = r.resolve(arg)[:3]
    try:
        return r.template["Mappings"][name][top][second]
    except KeyError:
        raise IntrinsicError(f"Fn::FindInMap [{name}, {top}, {second}]: no such entry") from None


def _if(r: Resolver, arg: Any) -> Any:
    name, when_true, when_false = arg
    return r.resolve(when_true if r.condition(name) else when_false)


def _equals(r: Resolver, arg: Any) -> bool:
    left, right = r.resolve(arg)
    return str(left) == str(right)


def _and(r: Resolver, arg: Any) -> bool:
    return all(_truth(r, item) for item in arg)


def _or(r: Resolver, arg: Any) -> bool:
    return any(_truth(r, item) for item in arg)


def _not(r: Resolver, arg: Any) -> bool:
    return not _truth(r, arg[0])


def _truth(r: Resolver, item: Any) -> bool:
    if isinstance(item, dict) and set(item) == {"Condition"}:
        return r.condition(item["Condition"])
    return bool(r.resolve(item))


def _condition(r: Resolver, arg: Any) -> bool:
    return r.condition(arg)


def _base64(r: Resolver, arg: Any) -> str:
    return base64.b64encode(str(r.resolve(arg)).encode()).decode()


def _get_azs(r: Resolver, arg: Any) -> list[str]:
    region = r.resolve(arg) or r.pseudo["AWS::Region"]
    return [f"{region}{zone}" for zone in "abc"]


def _import_value(r: Resolver, arg: Any) -> Any:
    raise IntrinsicError(f"Fn::ImportValue {r.resolve(arg)!r}: other stacks' exports do not exist locally")


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::FindInMap": _find_in_map,
    "Fn::If": _if,
    "Fn::Equals": _equals,
    "Fn::And": _and,
    "Fn::Or": _or,
    "Fn::Not": _not,
    "Condition": _condition,
    "Fn::Base64": _base64,
    "Fn::GetAZs": _get_azs,
    "Fn::ImportValue": _import_value,
}


def references(value: Any) -> set[str]:
    """Logical ids a value refers to (Ref, GetAtt, ${X} and ${X.Attr} in Sub): creation order."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item.split(".", 1)[0] if isinstance(item, str) else item[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                for token in _SUB_VARIABLE.findall(text):
                    if not token.startswith("!"):
                        found.add(token.split(".", 1)[0])
                if not isinstance(item, str):
                    found |= references(item[1])
            else:
                found |= references(item)
    return found
