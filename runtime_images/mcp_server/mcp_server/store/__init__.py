"""Durable task stores: one interface, an embedded SQLite default and DynamoDB for deployments."""

from mcp_server.store.base import LeaseLost, NewTask, TaskRecord, TaskStore

__all__ = ["LeaseLost", "NewTask", "TaskRecord", "TaskStore"]
