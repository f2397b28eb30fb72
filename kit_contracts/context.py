"""Who is calling, and how the agent tells the MCP server: header names and identity sources.

The actor is taken from what the platform authenticated, never from a header a caller can
write (IDENTITY_SOURCES). The custom headers carry only the caller's context: the results
session, and the actor as the caller believes it to be (refused when it differs from the
authenticated one). AgentCore Runtime forwards only allowlisted headers, and custom ones
must start with CUSTOM_HEADER_PREFIX; the CDK allowlists CONTEXT_HEADERS on the MCP runtime.
"""

CUSTOM_HEADER_PREFIX = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-"
ACTOR_ID_HEADER = CUSTOM_HEADER_PREFIX + "Actor-Id"
SESSION_ID_HEADER = CUSTOM_HEADER_PREFIX + "Session-Id"
# No longer read: the memory is the environment's. A request that names another is refused.
MEMORY_ID_HEADER = CUSTOM_HEADER_PREFIX + "Memory-Id"
CONTEXT_HEADERS = (ACTOR_ID_HEADER, SESSION_ID_HEADER)
# The results session when a caller names none (the agent's RESULTS_SESSION_ID default): a client
# that sends no Session-Id (MCP Inspector, a plain MCP client) still has its results found.
DEFAULT_RESULTS_SESSION_ID = "task-results"

# Set by the platform from InvokeAgentRuntime's runtimeUserId, which only principals allowed
# bedrock-agentcore:InvokeAgentRuntimeForUser may set.
RUNTIME_USER_ID_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-User-Id"
AUTHORIZATION_HEADER = "Authorization"

# Where the MCP server takes the actor from (its CALLER_IDENTITY setting):
# jwt: a claim of the bearer token the runtime's JWT authorizer validated;
# runtime-user-id: RUNTIME_USER_ID_HEADER (IAM auth, the agent the only principal allowed to set it);
# local: ACTOR_ID_HEADER, for a server on loopback in local mode only.
IDENTITY_JWT = "jwt"
IDENTITY_RUNTIME_USER = "runtime-user-id"
IDENTITY_LOCAL = "local"
IDENTITY_SOURCES = (IDENTITY_JWT, IDENTITY_RUNTIME_USER, IDENTITY_LOCAL)

# The platform's own session header (not part of the caller context).
RUNTIME_SESSION_ID_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"

# AgentCore Memory's own patterns, so a value accepted here is accepted by CreateEvent.
ACTOR_ID_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9\-_/]*(?::[a-zA-Z0-9\-_/]+)*[a-zA-Z0-9\-_/]*"
SESSION_ID_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9\-_]*"
ACTOR_ID_MAX = 255
SESSION_ID_MAX = 100
