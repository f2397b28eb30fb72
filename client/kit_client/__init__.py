"""Command-line client for the kit's agent, deployed (InvokeAgentRuntime) or local."""
