"""`python -m agent`: serve the agent on HOST:PORT (default 0.0.0.0:8080)."""

from __future__ import annotations

from agent.app import app
from agent.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    app.run(host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
