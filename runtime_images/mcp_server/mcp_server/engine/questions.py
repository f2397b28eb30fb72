"""Questions a task asks its caller: how they are stored, and several merged into one form.

A tool may ask several questions in one step (`ctx.elicit_many`). Each is stored as its own
input request under a server-minted key that is never reused (SEP-2663: a 2026-07-28 client sees
several `inputRequests` and may answer them one at a time). A client with no way to see several
at once (the 2025-11-25 elicitation side channel, the plain `answer_task` tool, a tool run in the
request) gets them as one form whose fields are every question's fields, and its one answer is
split back per question. A field name two questions share is prefixed with its question's label
(`<label>_<field>`) so neither hides the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The tool's own name for a question (the key of ctx.elicit_many), kept in the request's `_meta`.
LABEL_META = "io.agentkit/question"


def input_request(label: str, message: str, requested_schema: dict[str, Any]) -> dict[str, Any]:
    """The stored (and 2026-07-28 wire) form of one question: an elicitation/create request."""
    return {
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": message,
            "requestedSchema": requested_schema,
            "_meta": {LABEL_META: label},
        },
    }


@dataclass(frozen=True)
class Question:
    key: str
    label: str
    message: str
    requested_schema: dict[str, Any]


def from_request(key: str, request: Mapping[str, Any]) -> Question:
    params = request.get("params") or {}
    label = (params.get("_meta") or {}).get(LABEL_META) or key
    return Question(key, str(label), str(params.get("message", "")), params.get("requestedSchema") or {})


@dataclass(frozen=True)
class MergedQuestion:
    """Several questions as one form; `split` turns its answer back into one answer per question."""

    message: str
    requested_schema: dict[str, Any]
    # question key -> {form field -> the question's own field}
    fields: dict[str, dict[str, str]]

    def split(self, answer: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """One ElicitResult-shaped answer per question (the action applies to all of them)."""
        content = answer.get("content")
        parts: dict[str, dict[str, Any]] = {}
        for key, mapping in self.fields.items():
            part: dict[str, Any] = {"action": answer.get("action")}
            if isinstance(content, Mapping):
                part["content"] = {own: content[form] for form, own in mapping.items() if form in content}
            parts[key] = part
        return parts


def merge(questions: Mapping[str, Question]) -> MergedQuestion:
    """One form asking every question; a single question stays as it is."""
    counts: dict[str, int] = {}
    for question in questions.values():
        for name in question.requested_schema.get("properties") or {}:
            counts[name] = counts.get(name, 0) + 1
    properties: dict[str, Any] = {}
    required: list[str] = []
    fields: dict[str, dict[str, str]] = {}
    for key, question in questions.items():
        schema = question.requested_schema
        own_required = set(schema.get("required") or ())
        mapping: dict[str, str] = {}
        for name, definition in (schema.get("properties") or {}).items():
            form = name if counts[name] == 1 else f"{question.label}_{name}"
            mapping[form] = name
            properties[form] = definition
            if name in own_required:
                required.append(form)
        fields[key] = mapping
    merged_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        merged_schema["required"] = required
    if len(questions) == 1:
        (only,) = questions.values()
        return MergedQuestion(only.message, only.requested_schema, fields)
    message = "\n".join(f"{i}. {q.message}" for i, q in enumerate(questions.values(), start=1))
    return MergedQuestion(message, merged_schema, fields)
