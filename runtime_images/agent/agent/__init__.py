"""The Strands agent served by AgentCore Runtime (HTTP protocol, port 8080)."""
