"""Problems found in a definition, shaped like ValidateStateMachineDefinition's diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_VALIDATION_FAILED = "SCHEMA_VALIDATION_FAILED"
INVALID_JSON_DESCRIPTION = "INVALID_JSON_DESCRIPTION"
MISSING_TRANSITION_TARGET = "MISSING_TRANSITION_TARGET"
MISSING_END_STATE = "MISSING_END_STATE"
INVALID_STATE_NAME = "INVALID_STATE_NAME"
# Warnings: the definition is accepted, but probably does not say what its author meant.
NO_DOLLAR = "NO_DOLLAR"
PASS_RESULT_IS_STATIC = "PASS_RESULT_IS_STATIC"
ERROR = "ERROR"
WARNING = "WARNING"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: `location` is a JSON-pointer-like path into the definition (`/States/Foo/Next`)."""

    code: str
    message: str
    location: str | None = None
    severity: str = ERROR

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    def as_api(self) -> dict[str, str]:
        """The diagnostic as ValidateStateMachineDefinition returns it."""
        shaped = {"severity": self.severity, "code": self.code, "message": self.message}
        if self.location is not None:
            shaped["location"] = self.location
        return shaped

    def as_create_error(self) -> str:
        """The diagnostic as CreateStateMachine's InvalidDefinition message words it."""
        where = f" at {self.location}" if self.location is not None else ""
        return f"{self.code}: {self.message}{where}"


@dataclass
class Report:
    """The problems found so far, in the order they were found."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, location: str | None, message: str, code: str = SCHEMA_VALIDATION_FAILED) -> None:
        self.diagnostics.append(Diagnostic(code, message, location))

    def warn(self, location: str, message: str, code: str) -> None:
        self.diagnostics.append(Diagnostic(code, message, location, WARNING))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]


def invalid_definition_message(diagnostics: list[Diagnostic]) -> str:
    """CreateStateMachine's message for a refused definition."""
    return "Invalid State Machine Definition: '" + ", ".join(d.as_create_error() for d in diagnostics) + "'"
