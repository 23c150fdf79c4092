"""The realtime benchmark's floor: the least a Twilio <-> OpenAI bridge can do.

A view on Home Assistant's own HTTP server, beside the integration's stream view,
using the same aiohttp primitives the integration uses (orjson, send_frame, HA's
shared client session): it parses each JSON message and rewraps the payload into
the other side's envelope (Twilio media -> OpenAI append, OpenAI delta -> Twilio
media) and does nothing else: no signature, token or frame checks, no marks, no
barge-in, no transcripts. At connect it sends the one message a session needs
(Realtime: session.update asking the server to create and interrupt responses
itself, and response.create for the first reply; GPT-Live: session.start).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import ClassVar

from aiohttp import WSMsgType, web
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
import orjson

TEXT = WSMsgType.TEXT
MAX_FRAME_BYTES = 256 * 1024
MAX_OPENAI_BYTES = 4 * 1024 * 1024


class FloorView(HomeAssistantView):
    """GET (WebSocket) /api/bench/floor/{engine}."""

    url = "/api/bench/floor/{engine}"
    name = "api:bench:floor"
    requires_auth = False
    active: ClassVar[int] = 0

    def __init__(self, openai_ws_base: str, api_key: str) -> None:
        self.openai_ws_base = openai_ws_base
        self.api_key = api_key

    async def get(self, request: web.Request, engine: str) -> web.StreamResponse:
        """Bridge one stream until Twilio stops it."""
        hass = request.app[KEY_HASS]
        ws = web.WebSocketResponse(
            max_msg_size=MAX_FRAME_BYTES, compress=False, autoping=True
        )
        await ws.prepare(request)
        live = engine == "live"
        openai = await async_get_clientsession(hass).ws_connect(
            self.openai_ws_base
            + ("/live/sessions" if live else "/realtime?model=gpt-realtime"),
            headers={"Authorization": f"Bearer {self.api_key}"},
            max_msg_size=MAX_OPENAI_BYTES,
            autoping=True,
        )
        FloorView.active += 1
        loads, dumps = orjson.loads, orjson.dumps
        if live:
            append_type, delta_type = (
                "session.input_audio.append",
                "session.output_audio.delta",
            )
            await openai.send_frame(
                dumps(
                    {
                        "type": "session.start",
                        "session": {
                            "model": "gpt-live-1",
                            "audio": {"format": {"type": "audio/pcmu", "rate": 8000}},
                        },
                    }
                ),
                TEXT,
            )
        else:
            append_type, delta_type = (
                "input_audio_buffer.append",
                "response.output_audio.delta",
            )
            await openai.send_frame(
                dumps(
                    {
                        "type": "session.update",
                        "session": {
                            "type": "realtime",
                            "audio": {
                                "input": {
                                    "format": {"type": "audio/pcmu"},
                                    "turn_detection": {
                                        "type": "server_vad",
                                        "create_response": True,
                                        "interrupt_response": True,
                                    },
                                },
                                "output": {"format": {"type": "audio/pcmu"}},
                            },
                        },
                    }
                ),
                TEXT,
            )
            await openai.send_frame(dumps({"type": "response.create"}), TEXT)
        stream_sid: list[str] = []

        async def to_twilio() -> None:
            async for message in openai:
                if message.type is not TEXT:
                    break
                event = loads(message.data)
                if event.get("type") == delta_type and stream_sid:
                    await ws.send_frame(
                        dumps(
                            {
                                "event": "media",
                                "streamSid": stream_sid[0],
                                "media": {"payload": event["delta"]},
                            }
                        ),
                        TEXT,
                    )

        reader = asyncio.create_task(to_twilio())
        try:
            async for message in ws:
                if message.type is not TEXT:
                    break
                event = loads(message.data)
                kind = event.get("event")
                if kind == "media":
                    await openai.send_frame(
                        dumps(
                            {"type": append_type, "audio": event["media"]["payload"]}
                        ),
                        TEXT,
                    )
                elif kind == "start":
                    stream_sid.append(event["streamSid"])
                elif kind == "stop":
                    break
        finally:
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader
            await openai.close()
            if not ws.closed:
                await ws.close()
            FloorView.active -= 1
        return ws
