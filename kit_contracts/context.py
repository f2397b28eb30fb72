"""Names of the headers that carry the caller's context from the agent to the MCP server.

AgentCore Runtime forwards only allowlisted headers, and custom ones must start with
CUSTOM_HEADER_PREFIX; the CDK allowlists exactly CONTEXT_HEADERS on the MCP runtime.
"""

CUSTOM_HEADER_PREFIX = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-"
ACTOR_ID_HEADER = CUSTOM_HEADER_PREFIX + "Actor-Id"
SESSION_ID_HEADER = CUSTOM_HEADER_PREFIX + "Session-Id"
MEMORY_ID_HEADER = CUSTOM_HEADER_PREFIX + "Memory-Id"
CONTEXT_HEADERS = (ACTOR_ID_HEADER, SESSION_ID_HEADER, MEMORY_ID_HEADER)

# The platform's own session header (not part of the caller context).
RUNTIME_SESSION_ID_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"

# AgentCore Memory's own patterns, so a value accepted here is accepted by CreateEvent.
ACTOR_ID_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9\-_/]*(?::[a-zA-Z0-9\-_/]+)*[a-zA-Z0-9\-_/]*"
SESSION_ID_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9\-_]*"
ACTOR_ID_MAX = 255
SESSION_ID_MAX = 100
