"""The MCP server's caller-context headers, as kit_contracts/context.py defines them.

The client is installed on its own, without kit_contracts: these are copies, and
tests/client/test_headers.py checks that they stay equal to the contract.
"""

CUSTOM_HEADER_PREFIX = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-"
ACTOR_ID_HEADER = CUSTOM_HEADER_PREFIX + "Actor-Id"
SESSION_ID_HEADER = CUSTOM_HEADER_PREFIX + "Session-Id"
# Set by the platform from InvokeAgentRuntime's runtimeUserId; sending it needs
# bedrock-agentcore:InvokeAgentRuntimeForUser.
RUNTIME_USER_ID_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-User-Id"
RUNTIME_SESSION_ID_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
AUTHORIZATION_HEADER = "Authorization"
