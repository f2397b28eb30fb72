"""The agent's model, chosen by MODEL_PROVIDER: Amazon Bedrock, an OpenAI-compatible server, or Ollama.

Each is Strands' own provider class (`BedrockModel`, `OpenAIModel`, `OllamaModel`). The openai
and ollama libraries are imported by the first prompt that uses them, not when the agent starts:
the runtime's cold start (Bedrock when deployed) pays for neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.settings import Settings

if TYPE_CHECKING:
    from strands.models import Model

# Ollama's own default; spelled out so that OLLAMA_HOST, which the settings do not declare, cannot
# silently point the agent elsewhere.
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# The openai client refuses to start without a key; local OpenAI-compatible servers (llama.cpp,
# vLLM, LM Studio, Ollama's /v1) started without one ignore whatever is sent.
KEYLESS = "unused"


def build_model(settings: Settings) -> Model:
    """The Strands model for MODEL_PROVIDER, pointed at MODEL_BASE_URL with MODEL_API_KEY."""
    key = settings.model_api_key.get_secret_value() if settings.model_api_key is not None else None
    if settings.model_provider == "openai":
        from strands.models.openai import OpenAIModel

        # Both passed explicitly, so OPENAI_BASE_URL and OPENAI_API_KEY cannot override the settings.
        client_args = {"base_url": settings.model_base_url or OPENAI_DEFAULT_BASE_URL, "api_key": key or KEYLESS}
        return OpenAIModel(client_args=client_args, model_id=str(settings.model_id))
    if settings.model_provider == "ollama":
        from strands.models.ollama import OllamaModel

        # A bearer token for an Ollama behind an authenticating proxy, or ollama.com.
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return OllamaModel(
            settings.model_base_url or OLLAMA_DEFAULT_HOST,
            ollama_client_args={"headers": headers},
            model_id=str(settings.model_id),
        )
    from strands.models.bedrock import BedrockModel

    return BedrockModel(
        model_id=settings.model_id,
        region_name=settings.region,
        endpoint_url=settings.model_base_url,
        api_key=key,
    )


def where(settings: Settings) -> str:
    """The model's server in words, for messages: never the key."""
    if settings.model_provider == "openai":
        return f"the OpenAI-compatible server at {settings.model_base_url or OPENAI_DEFAULT_BASE_URL}"
    if settings.model_provider == "ollama":
        return f"Ollama at {settings.model_base_url or OLLAMA_DEFAULT_HOST}"
    return "Amazon Bedrock" + (f" at {settings.model_base_url}" if settings.model_base_url else "")


def describe_model_failure(exc: BaseException, settings: Settings) -> str | None:
    """One sentence for a failure of an OpenAI-compatible or Ollama server; None for anything else.

    The client libraries' own messages ("Connection error.") name neither the server nor the
    setting to change.
    """
    while type(exc).__name__ == "EventLoopException" and exc.__cause__ is not None:
        exc = exc.__cause__
    model = f"{settings.model_id!r} on {where(settings)}"
    if settings.model_provider == "openai":
        import openai

        if isinstance(exc, openai.APIConnectionError):
            return f"{where(settings)} could not be reached: is it running? (MODEL_BASE_URL; {exc})"
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return f"{where(settings)} refused the key (MODEL_API_KEY): HTTP {exc.status_code}"
        if isinstance(exc, openai.NotFoundError):
            return f"the model {model} was not found (MODEL_ID, MODEL_BASE_URL): {exc.message}"
        if isinstance(exc, openai.APIStatusError):
            return f"the model {model} failed with HTTP {exc.status_code}: {exc.message}"
    if settings.model_provider == "ollama":
        import httpx
        import ollama

        # A refused connection: the ollama client's builtin ConnectionError, or httpx's own from a stream.
        if isinstance(exc, ConnectionError | httpx.ConnectError):
            return f"{where(settings)} could not be reached: is `ollama serve` running? (MODEL_BASE_URL)"
        if isinstance(exc, ollama.ResponseError):
            hint = f" (pull it with `ollama pull {settings.model_id}`)" if exc.status_code == 404 else ""
            return f"the model {model} failed with HTTP {exc.status_code}: {exc.error}{hint}"
    return None
