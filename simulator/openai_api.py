"""OpenAI's HTTP API: the model list (chat completions are added with the coach)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .server import Simulator

MODELS = (
    "gpt-4.1-mini",
    "gpt-4o-mini",
    "gpt-realtime",
    "gpt-realtime-2",
    "gpt-realtime-mini",
)


def openai_error_text(message: str, error_type: str, code: str | None) -> str:
    """An error body in OpenAI's JSON shape."""
    return json.dumps(
        {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    )


def openai_error(
    status: int, message: str, error_type: str, code: str | None
) -> web.Response:
    """An error response in OpenAI's JSON shape."""
    return web.Response(
        text=openai_error_text(message, error_type, code),
        status=status,
        content_type="application/json",
    )


def authenticate(sim: Simulator, request: web.Request) -> str:
    """Check the bearer key; OpenAI answers 401 invalid_api_key otherwise."""
    header = request.headers.get("Authorization", "")
    key = header.removeprefix("Bearer ").strip()
    if not header.startswith("Bearer ") or key not in sim.world.openai_keys:
        shown = f"{key[:3]}***{key[-4:]}" if len(key) > 7 else "***"
        raise web.HTTPUnauthorized(
            text=openai_error_text(
                f"Incorrect API key provided: {shown}.",
                "invalid_request_error",
                "invalid_api_key",
            ),
            content_type="application/json",
        )
    return key


def routes(sim: Simulator) -> list[web.RouteDef]:
    """The model list."""

    async def list_models(request: web.Request) -> web.Response:
        authenticate(sim, request)
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": model,
                        "object": "model",
                        "created": 1700000000,
                        "owned_by": "system",
                    }
                    for model in MODELS
                ],
            }
        )

    return [web.get("/v1/models", list_models)]
