"""Choice Rules: JSONPath rules (one comparison on a Variable, or And/Or/Not of nested rules) and
JSONata rules (a Condition)."""

from __future__ import annotations

from typing import Any

from tributary.states.validation import expressions
from tributary.states.validation.values import JSONATA, ValueChecks, is_number, is_rfc3339

CHOICE_OPERATORS = (
    {
        f"{kind}{op}{suffix}"
        for kind in ("String", "Numeric", "Timestamp")
        for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
        for suffix in ("", "Path")
    }
    | {"StringMatches", "BooleanEquals", "BooleanEqualsPath", "IsNull", "IsPresent", "IsNumeric"}
    | {
        "IsString",
        "IsBoolean",
        "IsTimestamp",
    }
)


class ChoiceRules(ValueChecks):
    """Checks a Choice state's Choices."""

    def check(self, state: dict[str, Any], location: str, language: str) -> None:
        choices = state.get("Choices")
        if choices is None:
            self.report.add(location, "These fields are required: [Choices]")
            return
        if not isinstance(choices, list) or not choices:
            self.report.add(f"{location}/Choices", "Choices must be a non-empty array")
            return
        for index, rule in enumerate(choices):
            where = f"{location}/Choices[{index}]"
            if not isinstance(rule, dict):
                self.report.add(where, "A Choice Rule must be an object")
                continue
            if "Next" not in rule:
                self.report.add(where, "These fields are required: [Next]")
            if language == JSONATA:
                self._jsonata_rule(rule, where)
            else:
                self._jsonpath_rule(rule, where, top=True)

    def _jsonata_rule(self, rule: dict[str, Any], location: str) -> None:
        for name in rule:
            if name not in ("Condition", "Next", "Comment", "Assign", "Output"):
                self.report.add(location, f"The field '{name}' is not supported by Step Functions")
        condition = rule.get("Condition")
        if condition is None:
            self.report.add(location, "These fields are required: [Condition]")
        elif isinstance(condition, str) and expressions.is_jsonata(condition):
            self.jsonata_values(condition, f"{location}/Condition")
        elif not isinstance(condition, bool):
            self.report.add(f"{location}/Condition", "The value for 'Condition' must be a JSONata expression")
        for name in ("Assign", "Output"):
            if name in rule:
                self.jsonata_values(rule[name], f"{location}/{name}")

    def _jsonpath_rule(self, rule: dict[str, Any], location: str, *, top: bool) -> None:
        extra = {"Next", "Comment", "Assign"} if top else {"Comment"}
        combinators = [name for name in ("And", "Or", "Not") if name in rule]
        operators = [name for name in rule if name in CHOICE_OPERATORS]
        for name in rule:
            if name not in extra | CHOICE_OPERATORS | {"And", "Or", "Not", "Variable"}:
                self.report.add(location, f"The field '{name}' is not supported by Step Functions")
        if "Assign" in rule:
            self.template(rule["Assign"], f"{location}/Assign")
        if combinators:
            if len(combinators) > 1 or operators or "Variable" in rule:
                self.report.add(location, "A Choice Rule must hold one combinator or one comparison")
            name = combinators[0]
            operand = rule[name]
            if name == "Not":
                if isinstance(operand, dict):
                    self._jsonpath_rule(operand, f"{location}/Not", top=False)
                else:
                    self.report.add(f"{location}/Not", "The value for 'Not' must be a Choice Rule")
            elif isinstance(operand, list) and operand:
                for index, sub in enumerate(operand):
                    if isinstance(sub, dict):
                        self._jsonpath_rule(sub, f"{location}/{name}[{index}]", top=False)
                    else:
                        self.report.add(f"{location}/{name}[{index}]", "A Choice Rule must be an object")
            else:
                self.report.add(f"{location}/{name}", f"The value for '{name}' must be a non-empty array")
            return
        if "Variable" not in rule:
            self.report.add(location, "These fields are required: [Variable]")
        else:
            self.path(rule["Variable"], f"{location}/Variable", nullable=False)
        if len(operators) != 1:
            self.report.add(location, "A Choice Rule must hold exactly one comparison operator")
            return
        operator = operators[0]
        value = rule[operator]
        where = f"{location}/{operator}"
        if operator.endswith("Path"):
            self.path(value, where, nullable=False)
        elif operator.startswith(("String", "Timestamp")) and not isinstance(value, str):
            self.report.add(where, f"The value for '{operator}' must be a string")
        elif operator.startswith("Timestamp") and not is_rfc3339(value):
            self.report.add(where, "String does not match RFC3339 timestamp")
        elif operator.startswith("Numeric") and not is_number(value):
            self.report.add(where, f"The value for '{operator}' must be a number")
        elif (operator == "BooleanEquals" or operator.startswith("Is")) and not isinstance(value, bool):
            self.report.add(where, f"The value for '{operator}' must be a boolean")
