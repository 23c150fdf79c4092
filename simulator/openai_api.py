"""OpenAI's HTTP API: the model list (chat completions are added with the coach)."""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import coach_brain

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


def model_not_found(model: object) -> web.Response:
    """OpenAI's 404 for a model that does not exist."""
    return openai_error(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
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


def _content_text(content: Any) -> str:
    """Text of a chat message's content, a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict)
        )
    return ""


def routes(sim: Simulator) -> list[web.RouteDef]:
    """The model list and chat completions."""

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

    async def chat_completions(request: web.Request) -> web.Response:
        authenticate(sim, request)
        try:
            body = await request.json()
        except ValueError:
            return openai_error(
                400,
                "We could not parse the JSON body of your request.",
                "invalid_request_error",
                None,
            )
        model = body.get("model")
        messages = body.get("messages")
        if model not in MODELS:
            return model_not_found(model)
        if not isinstance(messages, list) or not messages:
            return openai_error(
                400,
                "'messages' must be a non-empty array.",
                "invalid_request_error",
                None,
            )
        sim.chat_requests.append(body)
        instructions = "\n".join(
            _content_text(m.get("content"))
            for m in messages
            if m.get("role") in ("system", "developer")
        )
        conversation = [
            (m["role"], _content_text(m.get("content")))
            for m in messages
            if m.get("role") in ("user", "assistant")
        ]
        answer = coach_brain.reply(instructions, conversation)
        return web.json_response(
            {
                "id": f"chatcmpl-{secrets.token_hex(12)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": answer.text,
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 50,
                    "completion_tokens": 20,
                    "total_tokens": 70,
                },
            }
        )

    return [
        web.get("/v1/models", list_models),
        web.post("/v1/chat/completions", chat_completions),
    ]
