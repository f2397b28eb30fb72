"""`python -m agent`: serve the agent on HOST:PORT (default 0.0.0.0:8080)."""

from __future__ import annotations

import sys

from agent.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from agent.app import app
    from agent.logs import configure_logging

    # After the app exists: it installs its own log handler, which this replaces.
    configure_logging()
    # log_config=None: uvicorn keeps the JSON handler instead of installing its text one.
    app.run(host=settings.host, port=settings.port, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
