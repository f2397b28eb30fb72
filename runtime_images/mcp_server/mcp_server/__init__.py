"""MCP server with a durable task engine, for AgentCore Runtime (MCP protocol, port 8000)."""
