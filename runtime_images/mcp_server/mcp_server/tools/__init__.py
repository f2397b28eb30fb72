"""Example engine tools shipped with the image."""

from mcp_server.settings import Settings
from mcp_server.tooling import ToolSpec
from mcp_server.tools.csv_summary import csv_summary_tool
from mcp_server.tools.dedup import dedup_tool
from mcp_server.tools.incident import incident_tool
from mcp_server.tools.model_training import model_training


def example_tools(settings: Settings) -> list[ToolSpec]:
    return [
        csv_summary_tool(settings.dataset_root),
        dedup_tool(settings.dataset_root),
        model_training,
        incident_tool(settings.dataset_root),
    ]
