"""`python -m mcp_server [--host H] [--port P]`: serve /mcp and /ping."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from mcp_server.app import build, settle_heap
from mcp_server.logs import configure_logging
from mcp_server.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="mcp_server", description=__doc__)
    parser.add_argument("--host", default=settings.host, help="interface to listen on (env MCP_HOST)")
    parser.add_argument("--port", type=int, default=settings.port, help="port to listen on (env MCP_PORT)")
    args = parser.parse_args(argv)
    settings = settings.model_copy(update={"host": args.host, "port": args.port})
    configure_logging(settings.log_level, static={"environment": settings.environment})
    assembled = build(settings)
    settle_heap()
    # log_config=None: uvicorn keeps the JSON handler instead of installing its text one.
    uvicorn.run(
        assembled.app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
