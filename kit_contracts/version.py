"""The kit's version: what the MCP server reports as its serverInfo.version, and the client's."""

KIT_VERSION = "0.1.0"
