"""Settings read from environment variables: one typed model per deployable, each variable declared once.

A deployable subclasses `EnvSettings` and declares each variable as a field whose
`validation_alias` is the variable's name, with its type, bounds and a description:

    class Settings(EnvSettings):
        port: int = Field(8000, ge=0, le=65535, validation_alias="MCP_PORT", description="port to listen on")

`Settings.load(env)` parses exactly `env` (default: the process environment); an empty value
counts as unset. A bad value raises SettingsError naming the variable, the value and the rule
derived from the declaration (`MCP_PORT='x': expected a whole number between 0 and 65535`).
`Settings.variables()` lists every variable with its description, and
`Settings.required_when_deployed()` those a deployment must set (fields marked
`json_schema_extra={"deployed": True}`), so the CDK's environment can be checked against what
the deployable reads.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Self

from annotated_types import Ge, Gt, Le, Lt
from pydantic import AliasChoices, BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from kit_contracts.errors import problems


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
            return f"{noun} between {low} and {high}"
        if low is not None:
            return f"{noun} >= {low}"
        return noun
    return None


class EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every environment variable this deployable reads, with its description."""
        return {name: info.description or "" for name, info in cls._by_variable().items()}

    @classmethod
    def required_when_deployed(cls) -> set[str]:
        """The variables a deployment must set: required fields, and fields marked `{"deployed": True}`."""
        required = set()
        for info in cls.model_fields.values():
            alias = info.validation_alias
            name = alias.choices[0] if isinstance(alias, AliasChoices) else alias  # the first of several
            marked = isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("deployed") is True
            if isinstance(name, str) and (info.is_required() or marked):
                required.add(name)
        return required

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        names = cls.variables()
        raw = {name: value for name, value in env.items() if name in names and value != ""}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            rules = {name: expected(info) or info.description or "" for name, info in cls._by_variable().items()}
            raise SettingsError(problems(exc, whole="", show_input=True, expected=rules)) from None

    @classmethod
    def _by_variable(cls) -> dict[str, FieldInfo]:
        """Variable name -> its field; a field read from the first set of several (AliasChoices) has each."""
        found: dict[str, FieldInfo] = {}
        for info in cls.model_fields.values():
            alias = info.validation_alias
            names = alias.choices if isinstance(alias, AliasChoices) else [alias] if isinstance(alias, str) else []
            found.update({str(name): info for name in names})
        return found
