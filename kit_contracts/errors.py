"""How a pydantic validation error is told to a person: each problem names its field.

The one reading of pydantic's errors for every deployable: tool arguments, answers, handoff
requests and events, environment settings, and the CDK's environment files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

_NO_INPUT = object()


@dataclass(frozen=True)
class Problem:
    loc: tuple[Any, ...]
    # `a.b.0`; empty when the rule concerns the whole object (several fields at once).
    field: str
    message: str
    kind: str
    input: Any = _NO_INPUT

    @property
    def has_input(self) -> bool:
        return self.input is not _NO_INPUT and self.kind != "missing"


def describe(exc: ValidationError) -> list[Problem]:
    found = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        found.append(
            Problem(
                loc=loc,
                field=".".join(str(part) for part in loc),
                message=error["msg"].removeprefix("Value error, "),
                kind=error["type"],
                input=error.get("input", _NO_INPUT),
            )
        )
    return found


def problems(
    exc: ValidationError,
    *,
    whole: str = "(input)",
    show_input: bool = False,
    expected: Mapping[str, str] | None = None,
) -> str:
    """`field: what is wrong; ...` for every error.

    whole: the name of an error on the whole object; with `whole=""` it is its message alone.
    show_input: `field='value': ...` (leave it off where the value may be sensitive or large).
    expected: field -> the rule in words, said instead of pydantic's message for that field
    (a validator's own sentence is kept: it says more than the rule).
    """
    parts = []
    for problem in describe(exc):
        name = problem.field or whole
        rule = (expected or {}).get(name)
        if not name:
            parts.append(problem.message)
        elif problem.kind == "missing":
            parts.append(f"{name} is required" + (f": expected {rule}" if rule else ""))
        else:
            message = f"expected {rule}" if rule and problem.kind != "value_error" else problem.message
            shown = f"={problem.input!r:.80}" if show_input and problem.has_input else ""
            parts.append(f"{name}{shown}: {message}")
    return "; ".join(parts)
