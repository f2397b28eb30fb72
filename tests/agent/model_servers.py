"""Loopback fakes of three model servers' wire protocols, each scripted turn by turn.

- OpenAI chat completions: `POST /v1/chat/completions`, streamed as server-sent events
  (`data: {chunk}` lines, a usage chunk, then `data: [DONE]`);
- Ollama: `POST /api/chat`, streamed as newline-delimited JSON ending with `"done": true`;
- Amazon Bedrock ConverseStream: `POST /model/<id>/converse-stream`, streamed as AWS event-stream
  frames (prelude, headers, JSON payload, CRCs).

The agent's real provider classes talk to them over HTTP on 127.0.0.1, so a test covers the
request each provider sends (model, system prompt, tools, key) and its parsing of the stream.
Each turn is a function of the request body, as in scripted_model, and answers Text or ToolUse.
"""

from __future__ import annotations

import binascii
import itertools
import json
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scripted_model import Text, ToolUse

Turn = Callable[[dict[str, Any]], Text | ToolUse]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _sse(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def openai_stream(reply: Text | ToolUse, model: str, call_id: str) -> tuple[str, bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [choice],
        }

    if isinstance(reply, ToolUse):
        arguments = json.dumps(reply.input)
        half = len(arguments) // 2
        call = {"index": 0, "id": call_id, "type": "function", "function": {"name": reply.name, "arguments": ""}}
        chunks = [
            chunk({"role": "assistant", "content": None, "tool_calls": [call]}),
            # The arguments arrive in pieces, as real servers send them.
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]}),
            chunk({}, "tool_calls"),
        ]
    else:
        words = reply.text.split(" ")
        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
        chunks.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    chunks.append(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [],
            "usage": usage,
        }
    )
    return "text/event-stream", _sse(chunks)


def ollama_stream(reply: Text | ToolUse, model: str, call_id: str) -> tuple[str, bytes]:
    def line(message: dict[str, Any], **extra: Any) -> bytes:
        return (
            json.dumps({"model": model, "created_at": "2026-11-30T12:00:00Z", "message": message, **extra}).encode()
            + b"\n"
        )

    if isinstance(reply, ToolUse):
        calls = [{"function": {"name": reply.name, "arguments": reply.input}}]
        lines = [line({"role": "assistant", "content": "", "tool_calls": calls}, done=False)]
    else:
        lines = [line({"role": "assistant", "content": w + " "}, done=False) for w in reply.text.split(" ")[:-1]]
        lines.append(line({"role": "assistant", "content": reply.text.split(" ")[-1]}, done=False))
    final = {"done_reason": "stop", "total_duration": 5_000_000, "prompt_eval_count": 12, "eval_count": 5}
    lines.append(line({"role": "assistant", "content": ""}, done=True, **final))
    return "application/x-ndjson", b"".join(lines)


def _frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message: total and header lengths, prelude CRC, headers, payload, message CRC."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")):
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


def bedrock_stream(reply: Text | ToolUse, model: str, call_id: str) -> tuple[str, bytes]:
    frames = [_frame("messageStart", {"role": "assistant"})]
    if isinstance(reply, ToolUse):
        start = {"toolUse": {"toolUseId": call_id, "name": reply.name}}
        frames.append(_frame("contentBlockStart", {"contentBlockIndex": 0, "start": start}))
        delta = {"toolUse": {"input": json.dumps(reply.input)}}
        frames.append(_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
        stop = "tool_use"
    else:
        for i, word in enumerate(reply.text.split(" ")):
            text = word if i == 0 else " " + word
            frames.append(_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}))
        stop = "end_turn"
    frames.append(_frame("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(_frame("messageStop", {"stopReason": stop}))
    usage = {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17}
    frames.append(_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 5}}))
    return "application/vnd.amazon.eventstream", b"".join(frames)


PROTOCOLS: dict[str, tuple[Callable[[str], bool], Callable[[Text | ToolUse, str, str], tuple[str, bytes]]]] = {
    "openai": (lambda path: path == "/v1/chat/completions", openai_stream),
    "ollama": (lambda path: path == "/api/chat", ollama_stream),
    "bedrock": (lambda path: path.startswith("/model/") and path.endswith("/converse-stream"), bedrock_stream),
}


@dataclass
class FakeModelServer:
    """One protocol on a free loopback port. `failure`: answer every request with (status, JSON body)."""

    protocol: str
    turns: list[Turn]
    failure: tuple[int, dict[str, Any]] | None = None
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        matches, encode = PROTOCOLS[self.protocol]
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        self.requests.append(Request(handler.path, {k.lower(): v for k, v in handler.headers.items()}, body))
        if not matches(handler.path):
            status, content_type, payload = (
                404,
                "application/json",
                json.dumps({"error": f"no route {handler.path}"}).encode(),
            )
        elif self.failure is not None:
            status, content_type, payload = self.failure[0], "application/json", json.dumps(self.failure[1]).encode()
        elif len(self.requests) > len(self.turns):
            status, content_type = 500, "application/json"
            payload = json.dumps(
                {"error": f"called {len(self.requests)} times; the script has {len(self.turns)} turns"}
            ).encode()
        else:
            reply = self.turns[len(self.requests) - 1](body)
            status = 200
            content_type, payload = encode(reply, str(body.get("model", "")), f"call_{next(self._ids)}")
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def start(self) -> FakeModelServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def tool_output(protocol: str, body: dict[str, Any]) -> str:
    """The text of the newest tool result in a request, as that protocol carries it."""
    if protocol == "bedrock":
        for message in reversed(body["messages"]):
            for block in message["content"]:
                if "toolResult" in block:
                    parts = block["toolResult"]["content"]
                    return "".join(json.dumps(p["json"]) if "json" in p else p.get("text", "") for p in parts)
    else:
        for message in reversed(body["messages"]):
            if message["role"] == "tool":
                content = message["content"]
                if isinstance(content, list):
                    return "".join(part.get("text", "") for part in content)
                return str(content)
    raise AssertionError(f"no tool result in the {protocol} request")


def tool_names(protocol: str, body: dict[str, Any]) -> list[str]:
    if protocol == "bedrock":
        return [t["toolSpec"]["name"] for t in body.get("toolConfig", {}).get("tools", [])]
    return [t["function"]["name"] for t in body.get("tools", [])]


def system_prompt(protocol: str, body: dict[str, Any]) -> str:
    if protocol == "bedrock":
        return "".join(block.get("text", "") for block in body.get("system", []))
    messages = [m for m in body["messages"] if m["role"] == "system"]
    content = messages[0]["content"] if messages else ""
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def user_text(protocol: str, body: dict[str, Any]) -> str:
    """Every text the user sent in this request, joined."""
    texts = []
    for message in body["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(str(part.get("text", "")) for part in content)
    return "\n".join(texts)
