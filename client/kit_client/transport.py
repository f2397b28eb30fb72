"""Sending one request to the agent and reading its server-sent events as they arrive."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

from kit_client.headers import AUTHORIZATION_HEADER
from kit_client.headers import RUNTIME_SESSION_ID_HEADER as SESSION_HEADER
from kit_client.state import ClientError, Environment, local_agent_url


def sse_events(lines: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        text = line.decode() if isinstance(line, bytes) else line
        if text.startswith("data: "):
            event = json.loads(text[6:])
            # The runtime's own error shape ({"error": ...}) is folded into the agent's.
            if isinstance(event, dict) and "type" not in event and "error" in event:
                event = {"type": "error", "error": event["error"]}
            yield event if isinstance(event, dict) else {"type": "text", "text": str(event)}


def invoke_url(arn: str, region: str, endpoint: str = "live") -> str:
    return (
        f"https://bedrock-agentcore.{region}.amazonaws.com/runtimes/"
        f"{urllib.parse.quote(arn, safe='')}/invocations?qualifier={urllib.parse.quote(endpoint, safe='')}"
    )


def _http(url: str, headers: dict[str, str], payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    import httpx2

    try:
        with httpx2.stream("POST", url, json=payload, headers=headers, timeout=httpx2.Timeout(30, read=3600)) as reply:
            if reply.status_code == 404 and "runtimes/" in url:
                raise ClientError("the runtime or its session was not found (HTTP 404): check the agent ARN")
            if reply.status_code in (401, 403):
                raise ClientError(f"the agent refused the credentials (HTTP {reply.status_code}): renew the token")
            if reply.status_code >= 400:
                body = reply.read().decode(errors="replace")[:500]
                raise ClientError(f"the agent answered HTTP {reply.status_code}: {body}")
            yield from sse_events(reply.iter_lines())
    except httpx2.ConnectError:
        raise ClientError(f"no agent is listening at {url}: start it with `make local`") from None


def _iam(env: Environment, session_id: str, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    import boto3
    from botocore.exceptions import ClientError as AwsError
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError

    request: dict[str, Any] = {
        "agentRuntimeArn": env.agent_arn,
        "runtimeSessionId": session_id,
        "payload": json.dumps(payload).encode(),
        "contentType": "application/json",
        "accept": "text/event-stream",
        "qualifier": env.endpoint,
    }
    if env.user_id:
        request["runtimeUserId"] = env.user_id
    try:
        client = boto3.client("bedrock-agentcore", region_name=env.region)
        response = client.invoke_agent_runtime(**request)
    except (NoCredentialsError, PartialCredentialsError):
        raise ClientError(
            f"no AWS credentials found to invoke the agent of environment {env.name!r}:"
            " run `aws configure` or `aws sso login`, or set AWS_PROFILE"
        ) from None
    except NoRegionError:
        raise ClientError(
            f"no region for environment {env.name!r}: add it with `kit env add {env.name} --region REGION ...`"
        ) from None
    except AwsError as exc:
        raise ClientError(describe_aws_error(exc, session_id)) from None
    yield from sse_events(response["response"].iter_lines())


def describe_aws_error(exc: Any, session_id: str) -> str:
    info = exc.response.get("Error", {})
    code, message = info.get("Code", "Error"), info.get("Message", "")
    if "session" in message.lower() and code in (
        "ResourceNotFoundException",
        "ValidationException",
        "ConflictException",
    ):
        return (
            f"the conversation's session {session_id} has ended on the service ({code}: {message});"
            " start a new conversation with `kit new` (finished task results still reach it)"
        )
    if code == "AccessDeniedException":
        return f"access denied invoking the agent ({message}): your role needs bedrock-agentcore:InvokeAgentRuntime"
    return f"InvokeAgentRuntime failed with {code}: {message}"


def invoke(env: Environment, session_id: str, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if env.agent_arn is None:
        url = (env.local_url or local_agent_url()).rstrip("/") + "/invocations"
        return _http(url, {SESSION_HEADER: session_id}, payload)
    if env.jwt_token_env:
        token = os.environ.get(env.jwt_token_env)
        if not token:
            raise ClientError(f"environment {env.name!r} uses JWT: set {env.jwt_token_env} to a bearer token")
        headers = {SESSION_HEADER: session_id, AUTHORIZATION_HEADER: f"Bearer {token}"}
        return _http(invoke_url(env.agent_arn, env.region or "us-east-1", env.endpoint), headers, payload)
    return _iam(env, session_id, payload)
