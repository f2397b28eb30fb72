"""How a pydantic validation error is told to a person: each problem names its field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


def field_name(loc: tuple[Any, ...], whole: str) -> str:
    """`a.b.0` for a location; `whole` when the error concerns the whole object."""
    return ".".join(str(part) for part in loc if not str(part).startswith("function-")) or whole


def problems(
    exc: ValidationError,
    *,
    whole: str = "(input)",
    show_input: bool = False,
    expected: Mapping[str, str] | None = None,
) -> str:
    """`field: what is wrong; ...` for every error.

    show_input: `field='value': ...` (leave it off where the value may be sensitive or large).
    expected: field -> the rule in words, said instead of pydantic's message for that field.
    """
    parts = []
    for error in exc.errors():
        name = field_name(error["loc"], whole)
        rule = (expected or {}).get(name)
        message = f"expected {rule}" if rule else error["msg"].removeprefix("Value error, ")
        shown = f"={error['input']!r:.80}" if show_input and "input" in error else ""
        parts.append(f"{name}{shown}: {message}")
    return "; ".join(parts)
