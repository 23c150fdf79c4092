"""The chat client: one overall deadline per reply, whatever the server does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import json

from aiohttp import web
from homeassistant.core import HomeAssistant
import pytest

from custom_components.wakeup_coach.openai_client import (
    ChatUnavailableError,
    async_chat_reply,
    async_create_openai_client,
)

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4.1-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Up you get!"},
            "finish_reason": "stop",
        }
    ],
}


@pytest.fixture
async def trickling_server(socket_enabled: None) -> AsyncGenerator[str]:
    """A server that answers at once, then sends its body a few bytes every 0.2 s.

    Each read arrives well within any per-read timeout; the whole answer takes
    seconds, longer than Twilio would wait for the turn.
    """

    async def completions(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        body = json.dumps(COMPLETION).encode()
        for start in range(0, len(body), 16):
            await response.write(body[start : start + 16])
            await asyncio.sleep(0.2)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def test_a_trickling_answer_misses_the_deadline(
    hass: HomeAssistant, trickling_server: str
) -> None:
    """The deadline covers the whole reply, not each read: a slow model cannot stall the turn."""
    client = await async_create_openai_client(hass, "sk-test", trickling_server)
    with pytest.raises(ChatUnavailableError, match="no answer in time"):
        await async_chat_reply(
            client,
            "gpt-4.1-mini",
            [{"role": "user", "content": "hi"}],
            time_limit=0.5,
        )
