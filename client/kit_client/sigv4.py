"""SigV4 for httpx2 requests to an AgentCore runtime (IAM inbound auth), with your own AWS credentials.

The same approach as the agent's connection to the MCP runtime: botocore signs a copy of each
request, body included, and the signature headers are put on the real one.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import httpx2
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from kit_client.state import ClientError

SERVICE = "bedrock-agentcore"
# A proxy on the way may rewrite these; a signature over them would break.
_UNSIGNED = frozenset({"connection", "user-agent", "accept-encoding", "content-length"})


class SigV4HttpxAuth(httpx2.Auth):
    requires_request_body = True

    def __init__(self, credentials: Callable[[], ReadOnlyCredentials], region: str) -> None:
        self._credentials = credentials
        self._region = region

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _UNSIGNED}
        signed = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=headers)
        SigV4Auth(self._credentials(), SERVICE, self._region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


def signer(region: str, what: str) -> SigV4HttpxAuth:
    """Your credentials (refreshed by botocore as they near expiry); a ClientError saying how to get some."""
    import boto3

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise ClientError(
            f"no AWS credentials found to sign requests to {what}:"
            " run `aws configure` or `aws sso login`, or set AWS_PROFILE"
        )
    return SigV4HttpxAuth(credentials.get_frozen_credentials, region)
