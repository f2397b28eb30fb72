"""Settings read from environment variables: one typed model per deployable, each variable declared once.

A deployable subclasses `EnvSettings` and declares each variable as a field whose
`validation_alias` is the variable's name, with its type, bounds and a description:

    class Settings(EnvSettings):
        port: int = Field(8000, ge=0, le=65535, validation_alias="MCP_PORT", description="port to listen on")

`Settings.load(env)` parses exactly `env` (default: the process environment); an empty value
counts as unset. A bad value raises SettingsError naming the variable, the value and the rule
derived from the declaration (`MCP_PORT='x': expected a whole number between 0 and 65535`).
`Settings.variables()` lists every variable with its description, so the CDK's environment
can be checked against what the image reads.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Self

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo


class SettingsError(ValueError):
    """A variable is missing or out of range; the message names it, its value and the rule."""


def _bounds(info: FieldInfo) -> tuple[Any, Any]:
    low = high = None
    for item in info.metadata:
        if isinstance(item, Ge | Gt):
            low = item.ge if isinstance(item, Ge) else item.gt
        elif isinstance(item, Le | Lt):
            high = item.le if isinstance(item, Le) else item.lt
    return low, high


def _base_type(annotation: Any) -> Any:
    # `int | None` -> int
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def expected(info: FieldInfo) -> str | None:
    """The rule a field's declaration states, in words; None when its type says nothing simple.

    A field whose rule is a pattern says it in words with `json_schema_extra={"expected": ...}`.
    """
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("expected"), str):
        return str(extra["expected"])
    kind = _base_type(info.annotation)
    if typing.get_origin(kind) is Literal:
        return "one of " + ", ".join(str(v) for v in typing.get_args(kind))
    if kind is bool:
        return "true or false"
    if kind in (int, float):
        noun = "a whole number" if kind is int else "a number"
        low, high = _bounds(info)
        if low is not None and high is not None:
            return f"{noun} between {low:g} and {high:g}"
        if low is not None:
            return f"{noun} >= {low:g}"
        return noun
    return None


class EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every environment variable this deployable reads, with its description."""
        return {
            info.validation_alias: info.description or ""
            for info in cls.model_fields.values()
            if isinstance(info.validation_alias, str)
        }

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        names = cls.variables()
        raw = {name: value for name, value in env.items() if name in names and value != ""}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise SettingsError(cls._describe(exc, raw)) from None

    @classmethod
    def _describe(cls, exc: ValidationError, raw: Mapping[str, str]) -> str:
        by_alias = {info.validation_alias: info for info in cls.model_fields.values()}
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            info = by_alias.get(name)
            message = error["msg"].removeprefix("Value error, ")
            if info is None:  # a rule across variables: its message names them
                lines.append(message)
                continue
            if name not in raw:
                lines.append(f"{name} is required: {info.description}")
                continue
            if error["type"] == "value_error":  # a validator's own sentence
                lines.append(f"{name}={raw[name][:80]!r}: {message}")
                continue
            lines.append(f"{name}={raw[name][:80]!r}: expected {expected(info) or message}")
        return "; ".join(lines)
