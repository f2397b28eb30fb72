"""Where a result too large for a task item goes: an encrypted bucket when deployed, a folder locally.

A DynamoDB item holds at most 400 KB (arguments, progress and questions included), so a result
over INLINE_MAX_BYTES is written here and the task keeps a resource link to it with its size
and checksum; `read_task_result` serves it back in parts, to its owner only. Objects are keyed
by a digest of the owner and the task id, and expire with the bucket's lifecycle (the task TTL).
Blocking calls (boto3, files): the engine runs them in a worker thread.
"""

from __future__ import annotations

import abc
import hashlib
import time
from pathlib import Path
from typing import Any

from mcp_server.aws_clients import LazyClient
from mcp_server.store.quotas import LARGE_RESULT_META

# Results larger than this (as JSON) leave the task item.
INLINE_MAX_BYTES = 200_000
# A read serves at most this much at a time.
MAX_READ_BYTES = 262_144


def blob_key(owner: str, task_id: str) -> str:
    # Actor ids may hold '/' and ':': a digest keeps one flat, unguessable prefix per owner.
    return f"results/{hashlib.sha256(owner.encode()).hexdigest()[:24]}/{task_id}.json"


def scratch_key(owner: str, task_id: str, name: str) -> str:
    """A task's own scratch file (ctx.store_bytes), kept beside its result and expiring with it."""
    return blob_key(owner, task_id).removesuffix(".json") + f".scratch/{name}"


class ResultBlobs(abc.ABC):
    """Files kept by key: a task's large result (blob_key) and its scratch files (scratch_key)."""

    @abc.abstractmethod
    def put_key(self, key: str, data: bytes) -> str:
        """Store the file; return where it is (for operators and logs)."""

    @abc.abstractmethod
    def read_key(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        """Up to `length` bytes from `offset` (all by default); FileNotFoundError if there is no such file."""

    def put(self, owner: str, task_id: str, data: bytes) -> str:
        return self.put_key(blob_key(owner, task_id), data)

    def read(self, owner: str, task_id: str, offset: int, length: int) -> bytes:
        return self.read_key(blob_key(owner, task_id), offset, length)

    def purge(self, older_than: float) -> int:
        """Delete files written before `older_than` (the bucket's lifecycle does this when deployed)."""
        return 0


class FolderBlobs(ResultBlobs):
    def __init__(self, root: Path) -> None:
        self.root = root

    def put_key(self, key: str, data: bytes) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # a reader never sees half a file
        return str(path)

    def read_key(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        with (self.root / key).open("rb") as file:
            file.seek(offset)
            return file.read(-1 if length is None else length)

    def purge(self, older_than: float) -> int:
        removed = 0
        for path in self.root.glob("results/**/*"):
            if path.is_file() and path.stat().st_mtime < older_than:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


class S3Blobs(ResultBlobs):
    def __init__(self, bucket: str, region: str | None = None, client: Any = None) -> None:
        self.bucket = bucket
        self._s3 = LazyClient("s3", region, client)

    def put_key(self, key: str, data: bytes) -> str:
        # The bucket's default encryption (the kit key) applies; the checksum is verified by S3.
        self._s3().put_object(Bucket=self.bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256")
        return f"s3://{self.bucket}/{key}"

    def read_key(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        from botocore.exceptions import ClientError

        span = f"bytes={offset}-" + ("" if length is None else str(offset + length - 1))
        try:
            response = self._s3().get_object(Bucket=self.bucket, Key=key, Range=span)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            # Without s3:ListBucket (the runtime role has none) a missing object answers AccessDenied.
            if code in ("NoSuchKey", "404", "AccessDenied"):
                raise FileNotFoundError(key) from None
            if code == "InvalidRange":
                return b""
            raise
        return bytes(response["Body"].read())


def link_result(task_id: str, tool: str, data: bytes, location: str) -> dict[str, Any]:
    """The CallToolResult a task keeps in place of a large result: a link with size and checksum."""
    size, digest = len(data), hashlib.sha256(data).hexdigest()
    return {
        "content": [
            {
                "type": "resource_link",
                "uri": f"task-result://{task_id}",
                "name": f"{tool} result",
                "mimeType": "application/json",
                "size": size,
                "description": f"sha256 {digest}",
            },
            {
                "type": "text",
                "text": (
                    f"The {tool} result is {size} bytes (JSON, sha256 {digest}): too large to return inline. "
                    f"Read it in parts with read_task_result (task_id {task_id!r}, offset 0, then each next_offset)."
                ),
            },
        ],
        "_meta": {LARGE_RESULT_META: {"bytes": size, "sha256": digest, "location": location, "at": time.time()}},
    }


def large_result(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The large-result details of a stored result, if it is a link to one."""
    meta = (result or {}).get("_meta") or {}
    found = meta.get(LARGE_RESULT_META)
    return found if isinstance(found, dict) else None
