"""Caller context headers: property tests against AgentCore Memory's own id patterns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp_server import constants as c
from mcp_server.caller import CallerContextError, caller_from_headers

# The service's patterns (botocore's bedrock-agentcore CreateEvent shapes).
ACTOR = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9-_/]*(?::[a-zA-Z0-9-_/]+)*[a-zA-Z0-9-_/]*")
SESSION = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9-_]*")


@given(actor=st.text(max_size=300), session=st.text(max_size=120))
def test_accepted_headers_are_valid_memory_ids_and_rejected_ones_name_the_header(actor: str, session: str) -> None:
    headers = {c.ACTOR_ID_HEADER: actor, c.SESSION_ID_HEADER: session}
    try:
        caller = caller_from_headers(headers, None)
    except CallerContextError as exc:
        assert str(exc).startswith(("missing header X-Amzn-", "malformed header X-Amzn-"))
        assert ": expected " in str(exc)
        return
    assert ACTOR.fullmatch(caller.actor_id) and len(caller.actor_id) <= 255
    assert SESSION.fullmatch(caller.session_id) and len(caller.session_id) <= 100


@given(actor=st.from_regex(ACTOR, fullmatch=True).filter(lambda s: len(s) <= 255))
def test_every_valid_actor_id_is_accepted(actor: str) -> None:
    caller = caller_from_headers({c.ACTOR_ID_HEADER.lower(): actor, c.SESSION_ID_HEADER: "s1"}, "mem-AbCdE12345")
    assert caller.actor_id == actor and caller.memory_id == "mem-AbCdE12345"


def test_the_memory_is_the_environments_and_a_header_naming_another_is_refused() -> None:
    # Was: the header overrode the configured memory, so a caller chose where results were written.
    base = {c.ACTOR_ID_HEADER: "alice", c.SESSION_ID_HEADER: "s1"}
    assert caller_from_headers(base, "mem-AbCdE12345").memory_id == "mem-AbCdE12345"
    assert caller_from_headers({**base, c.MEMORY_ID_HEADER: "mem-AbCdE12345"}, "mem-AbCdE12345").memory_id == (
        "mem-AbCdE12345"
    )
    with pytest.raises(CallerContextError, match="refused header X-Amzn-Bedrock-AgentCore-Runtime-Custom-Memory-Id"):
        caller_from_headers({**base, c.MEMORY_ID_HEADER: "other-ZyXwV98765"}, "mem-AbCdE12345")


def test_shared_contracts_import_only_the_standard_library_and_pydantic() -> None:
    # kit_contracts is built into both images, the Lambdas (whose layer has pydantic, not the
    # mcp SDK) and the CDK app: it may depend on nothing the others lack.
    import ast
    import sys

    import kit_contracts

    allowed = set(sys.stdlib_module_names) | {"pydantic", "annotated_types", "kit_contracts", "__future__"}
    for path in Path(kit_contracts.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
