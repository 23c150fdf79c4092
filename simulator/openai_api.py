"""OpenAI's HTTP API: the model list and chat completions, plus what the WebSocket APIs share.

Shared with the Realtime and GPT-Live servers: the model lists, OpenAI's JSON error
bodies (also what an injected fault answers, WebSocket upgrades included), the
bearer check, and the strict-schema walk that finds the first unknown field.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import coach_brain

if TYPE_CHECKING:
    from .server import Simulator

LIVE_MODELS = ("gpt-live-1", "gpt-live-1.1")
# Reasoning models think in completion tokens before they write a word.
REASONING_MODELS = ("gpt-5-mini", "o4-mini")
# Completion tokens the reasoning models spend thinking, by reasoning effort.
THINKING_TOKENS = {"minimal": 100, "low": 400, "medium": 1500, "high": 4000}
MODELS = (
    "gpt-4.1-mini",
    "gpt-4o-mini",
    *REASONING_MODELS,
    "gpt-realtime",
    "gpt-realtime-2",
    "gpt-realtime-mini",
    *LIVE_MODELS,
)
# A strict request schema: each key maps to None (any value), the schema of an
# object, or a one-element list holding the schema of each item of an array.
Schema = dict[str, Any]


def openai_error_text(
    message: str, error_type: str, code: str | None, param: str | None = None
) -> str:
    """An error body in OpenAI's JSON shape."""
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": error_type,
                "param": param,
                "code": code,
            }
        }
    )


def openai_error(
    status: int,
    message: str,
    error_type: str,
    code: str | None,
    param: str | None = None,
) -> web.Response:
    """An error response in OpenAI's JSON shape."""
    return web.Response(
        text=openai_error_text(message, error_type, code, param),
        status=status,
        content_type="application/json",
    )


# What OpenAI answers for each status a scenario may inject: (message, type, code).
_FAULT_BODIES: dict[int, tuple[str, str, str | None]] = {
    400: ("Simulated failure: invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided: sk-***.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: (
        "Simulated failure: you do not have access to this resource.",
        "invalid_request_error",
        None,
    ),
    404: (
        "Simulated failure: the model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    429: (
        "Rate limit reached (simulated). Please try again later.",
        "requests",
        "rate_limit_exceeded",
    ),
}


def fault_response(status: int) -> web.Response:
    """The error OpenAI answers with this status; for an injected fault.

    A WebSocket upgrade refused by OpenAI gets the same JSON body as any request.
    """
    message, error_type, code = _FAULT_BODIES.get(
        status,
        (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
    )
    return openai_error(status, message, error_type, code)


def model_not_found(model: object) -> web.Response:
    """OpenAI's 404 for a model that does not exist."""
    return openai_error(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    )


class EventError(Exception):
    """A client event a WebSocket server refuses: it becomes an `error` event."""

    def __init__(
        self, code: str | None, message: str, param: str | None = None
    ) -> None:
        """What the `error` event carries."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def unknown_parameter(param: str) -> EventError:
    """A field the strict schema does not know."""
    return EventError("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def invalid_value(param: str, message: str, code: str = "invalid_value") -> EventError:
    """A field whose value is not allowed."""
    return EventError(code, message, param)


def missing_parameter(param: str) -> EventError:
    """A required field that is absent."""
    return EventError(
        "missing_required_parameter", f"Missing required parameter: '{param}'.", param
    )


def first_unknown_field(value: Any, schema: Schema, path: str) -> str | None:
    """The path of the first field `schema` does not know, e.g. "session.audio.input".

    Only the shape is walked; values of the wrong type are left to the caller.
    """
    if not isinstance(value, dict):
        return None
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in schema:
            return where
        sub = schema[key]
        if isinstance(sub, dict):
            found = first_unknown_field(item, sub, where)
        elif isinstance(sub, list) and isinstance(item, list):
            found = next(
                (
                    deeper
                    for index, element in enumerate(item)
                    if (
                        deeper := first_unknown_field(
                            element, sub[0], f"{where}[{index}]"
                        )
                    )
                ),
                None,
            )
        else:
            found = None
        if found:
            return found
    return None


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
    project = request.headers.get("OpenAI-Project")
    if project is not None and project != sim.world.openai_project:
        # The key belongs to one project; naming another is refused (the exact
        # wording and code of the real refusal are unverified).
        raise web.HTTPUnauthorized(
            text=openai_error_text(
                "OpenAI-Project header should match project for API key.",
                "invalid_request_error",
                "mismatched_project",
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
        if model in LIVE_MODELS:
            return openai_error(
                400,
                f"The model `{model}` is a GPT-Live model: use /v1/live/sessions.",
                "invalid_request_error",
                "invalid_model",
                "model",
            )
        if not isinstance(messages, list) or not messages:
            return openai_error(
                400,
                "'messages' must be a non-empty array.",
                "invalid_request_error",
                None,
            )
        effort = body.get("reasoning_effort")
        if effort is not None and model not in REASONING_MODELS:
            return openai_error(
                400,
                "Unrecognized request argument supplied: reasoning_effort",
                "invalid_request_error",
                None,
                "reasoning_effort",
            )
        if "max_tokens" in body and model in REASONING_MODELS:
            return openai_error(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this model."
                " Use 'max_completion_tokens' instead.",
                "invalid_request_error",
                "unsupported_parameter",
                "max_tokens",
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
        text, finish = answer.text, "stop"
        if model in REASONING_MODELS:
            # What the budget leaves after thinking; too little, and nothing is written.
            budget = int(body.get("max_completion_tokens") or 16384)
            if budget - THINKING_TOKENS.get(str(effort or "medium"), 1500) < 50:
                text, finish = "", "length"
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
                            "content": text,
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": finish,
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
