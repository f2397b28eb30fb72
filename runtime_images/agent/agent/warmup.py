"""The first invocation's imports, loaded in a background thread once the server starts.

Every AgentCore session is a fresh microVM, so the agent's start-up is paid per session. `/ping`
needs only the app; what an invocation needs besides (the mcp client and its Streamable HTTP
transport, the model provider's library, the memory session manager) is imported here, on a
thread the app's lifespan starts, so the server answers `/ping` without waiting for it and the
first prompt does not pay for it either. Modules the configuration does not use are not loaded.

An invocation waits for this to finish before it starts (`finished`): its own imports are then
lookups, and two threads never import the same packages at once (interleaved imports of
packages with circular imports can hand one thread a half-initialized module). A failure here is
only logged: the invocation imports the same module again and reports the error to its caller.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time

from agent.settings import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

PROVIDER_MODULES = {
    "bedrock": "strands.models.bedrock",
    "openai": "strands.models.openai",
    "ollama": "strands.models.ollama",
}

_thread: threading.Thread | None = None


def modules(settings: Settings) -> list[str]:
    """What an invocation under these settings imports that serving /ping does not."""
    names = [PROVIDER_MODULES[settings.model_provider]]
    if settings.mcp_runtime_url:
        names.append("agent.mcp_connection")
    if settings.memory_id:
        names.append("bedrock_agentcore.memory.integrations.strands.session_manager")
    else:
        names.append("strands.session.file_session_manager")
    return names


def warm(settings: Settings) -> None:
    started = time.perf_counter()
    for name in modules(settings):
        try:
            importlib.import_module(name)
        except Exception:
            logger.warning("warming up %s failed; the first invocation will import it again", name, exc_info=True)
    logger.debug("invocation modules loaded", extra={"duration_ms": round((time.perf_counter() - started) * 1000)})


def _run() -> None:
    try:
        settings = load_settings()
    except SettingsError:
        return  # each invocation reports the configuration error to its caller
    warm(settings)


def start() -> None:
    """Load the invocation's modules on a daemon thread (once per process)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_run, name="agent-warmup", daemon=True)
        _thread.start()


async def finished() -> None:
    """Return once the warm-up is over (at once if none was started)."""
    thread = _thread
    if thread is not None and thread.is_alive():
        await asyncio.to_thread(thread.join)
