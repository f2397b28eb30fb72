"""`python -m agent`: serve the agent on HOST:PORT (default 0.0.0.0:8080)."""

from __future__ import annotations

import sys

from agent.settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from agent.app import app

    app.run(host=settings.host, port=settings.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
