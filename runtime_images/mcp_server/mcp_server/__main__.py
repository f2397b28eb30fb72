"""`python -m mcp_server [--host H] [--port P]`: serve /mcp and /ping."""

from __future__ import annotations

import gc
import sys

if __name__ == "__main__":
    # Start-up builds some 150,000 objects that live as long as the process (the mcp SDK's
    # modules and schemas, the app): collecting while they are made finds almost nothing.
    # settle_heap() freezes them; the collector is back on before serving.
    gc.disable()

import argparse

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
    gc.enable()
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
