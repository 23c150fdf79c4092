"""The OpenAI Realtime API (GA protocol) as a VoiceEngine, over an aiohttp WebSocket.

GA shapes only (`session.type: realtime`, `audio/pcmu` both ways, no beta
header): the beta protocol has been switched off. The app drives the turns it
needs to: the greeting, goodbyes and nudges are `response.create` with the
session's instructions plus what to say now; barge-in truncates the reply at
the audio the sleeper heard; the model may call `end_call`, which the bridge
grants or refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import suppress
import logging
from typing import Any

import aiohttp
import orjson

from .models import EngineKind
from .voice_engine import (
    CONNECT_TIMEOUT,
    MAX_MESSAGE_BYTES,
    EngineError,
    EngineListener,
    http_reason,
    ws_url,
)

LOGGER = logging.getLogger(__package__)

TRANSCRIPTION_MODEL = "gpt-transcribe"
END_CALL_TOOL = {
    "type": "function",
    "name": "end_call",
    "description": (
        "End the wake-up call. Call it when the sleeper wants to hang up or says "
        "goodbye. Home Assistant decides: if they have proven being up you will be "
        "asked to say goodbye; otherwise you are told what is still missing."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "description": "Why the call should end."}
        },
        "required": ["reason"],
    },
}
# Errors that only say a client event was moot (a race with the server): no news.
BENIGN_ERRORS = {
    "response_cancel_not_active",
    "conversation_already_has_active_response",
}


def session_config(
    *, model: str, voice: str, language: str, instructions: str
) -> dict[str, Any]:
    """The GA session for a phone call: μ-law both ways, server VAD, transcripts, end_call."""
    return {
        "type": "realtime",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": instructions,
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "transcription": {
                    "model": TRANSCRIPTION_MODEL,
                    "language": language.split("-", maxsplit=1)[0].lower(),
                },
                # Every field set: a partial object gets oversensitive defaults.
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 600,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": voice},
        },
        "tools": [END_CALL_TOOL],
        "tool_choice": "auto",
    }


class RealtimeEngine:
    """One Realtime API session."""

    kind = EngineKind.REALTIME
    client_barge_in = True

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        model: str,
        voice: str,
        language: str,
    ) -> None:
        """Nothing is sent until `connect`."""
        self._http = http
        self._url = ws_url(base_url, f"/realtime?model={model}")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._model = model
        self._voice = voice
        self._language = language
        self._instructions = ""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._listener: EngineListener | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._active_response: str | None = None
        # What to say once the active response has been cancelled.
        self._pending: dict[str, Any] | None = None
        # Set when our response.create is sent; the next response is the one asked for.
        self._prompt_sent = False
        self._prompted_response: str | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "response.created": self._response_created,
            "response.done": self._response_done,
            "response.output_audio_transcript.done": self._coach_transcript,
            "conversation.item.input_audio_transcription.completed": self._sleeper_transcript,
            "response.output_item.done": self._output_item_done,
            "error": self._error,
        }

    # --- connecting -------------------------------------------------------------

    async def connect(self, listener: EngineListener, instructions: str) -> None:
        """Open the socket and configure the session; raises EngineError."""
        self._listener = listener
        self._instructions = instructions
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                self._ws = await self._http.ws_connect(
                    self._url,
                    headers=self._headers,
                    max_msg_size=MAX_MESSAGE_BYTES,
                    autoping=True,
                )
                await self._send(
                    {
                        "type": "session.update",
                        "session": session_config(
                            model=self._model,
                            voice=self._voice,
                            language=self._language,
                            instructions=instructions,
                        ),
                    }
                )
                await self._until_configured(self._ws)
        except aiohttp.WSServerHandshakeError as err:
            await self.aclose()
            raise EngineError(http_reason(err.status)) from err
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            await self.aclose()
            raise EngineError("openai_unreachable", type(err).__name__) from err
        except EngineError:
            await self.aclose()
            raise
        self._reader = asyncio.create_task(self._read(), name="wakeup_coach realtime")

    @staticmethod
    async def _until_configured(ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise EngineError(
                    "openai_closed", f"{message.type.name} {message.extra or ''}"
                )
            event = orjson.loads(message.data)
            kind = event.get("type") if isinstance(event, dict) else None
            if kind == "session.updated":
                return
            if kind == "error":
                error = event.get("error") or {}
                raise EngineError(
                    "openai_refused", f"{error.get('code')}: {error.get('message')}"
                )

    # --- sending ----------------------------------------------------------------

    async def _send(self, event: dict[str, Any]) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.send_frame(orjson.dumps(event), aiohttp.WSMsgType.TEXT)

    async def append_audio(self, payload: str) -> None:
        """Caller audio, as Twilio sent it."""
        await self._send({"type": "input_audio_buffer.append", "audio": payload})

    async def speak(self, instruction: str) -> None:
        """A reply now, with the session's instructions and what to say."""
        create = {
            "type": "response.create",
            "response": {"instructions": f"{self._instructions}\n\nNow: {instruction}"},
        }
        if self._active_response:
            # One response at a time: cancel the current one, then ask.
            self._pending = create
            await self._send({"type": "response.cancel"})
            return
        await self._create(create)

    async def _create(self, create: dict[str, Any]) -> None:
        self._prompt_sent = True
        await self._send(create)

    async def advise(
        self, note: str, *, instructions: str | None = None, respond: bool = False
    ) -> None:
        """New standing instructions and a system note; a reply if asked and none is under way."""
        if instructions is not None:
            self._instructions = instructions
            await self._send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "instructions": instructions},
                }
            )
        await self._send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": note}],
                },
            }
        )
        if respond and not self._active_response and self._pending is None:
            await self._send({"type": "response.create"})

    async def interrupt(self, item_id: str, audio_end_ms: int) -> None:
        """Stop the reply and cut it where the sleeper stopped hearing it."""
        if self._active_response:
            await self._send({"type": "response.cancel"})
        await self._send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": max(0, audio_end_ms),
            }
        )

    async def answer_tool(self, call_id: str, output: str, *, respond: bool) -> None:
        """The function's result, and a reply about it if asked."""
        await self._send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": output,
                },
            }
        )
        if respond:
            create: dict[str, Any] = {"type": "response.create"}
            if self._active_response:
                self._pending = create
            else:
                await self._send(create)

    # --- receiving ----------------------------------------------------------------

    async def _read(self) -> None:
        ws, listener = self._ws, self._listener
        assert ws is not None  # noqa: S101
        assert listener is not None  # noqa: S101
        handlers = self._handlers
        reason = "openai_dropped"
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                try:
                    event = orjson.loads(message.data)
                    kind = event["type"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
                # The hot path: most events are audio.
                if kind == "response.output_audio.delta":
                    await listener.on_audio(
                        event.get("delta", ""), event.get("item_id", "")
                    )
                elif kind == "input_audio_buffer.speech_started":
                    await listener.on_speech_started()
                elif handler := handlers.get(kind):
                    result = handler(event)
                    if asyncio.iscoroutine(result):
                        await result
        except Exception:
            LOGGER.exception("Error in the Realtime API session")
            reason = "bridge_error"
        finally:
            if not self._closing:
                LOGGER.warning(
                    "The Realtime API session ended unexpectedly (%s)", ws.close_code
                )
                listener.on_engine_closed(reason)

    def _response_created(self, event: dict[str, Any]) -> None:
        response_id = (event.get("response") or {}).get("id") or "?"
        self._active_response = response_id
        if self._prompt_sent:
            self._prompt_sent = False
            self._prompted_response = response_id

    async def _response_done(self, event: dict[str, Any]) -> None:
        listener = self._listener
        assert listener is not None  # noqa: S101
        response = event.get("response") or {}
        response_id = response.get("id")
        self._active_response = None
        if isinstance(usage := response.get("usage"), Mapping):
            listener.on_usage(usage, cumulative=False)
        if self._pending is not None:
            create, self._pending = self._pending, None
            await self._create(create)
            return
        if response.get("status") == "completed":
            prompted = (
                response_id is not None and response_id == self._prompted_response
            )
            listener.on_coach_done(prompted=prompted)

    def _coach_transcript(self, event: dict[str, Any]) -> None:
        if text := str(event.get("transcript") or "").strip():
            assert self._listener is not None  # noqa: S101
            self._listener.on_coach_said(text)

    def _sleeper_transcript(self, event: dict[str, Any]) -> None:
        assert self._listener is not None  # noqa: S101
        if text := str(event.get("transcript") or "").strip():
            self._listener.on_sleeper_said(text)

    def _output_item_done(self, event: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if item.get("type") == "function_call" and item.get("status") == "completed":
            assert self._listener is not None  # noqa: S101
            self._listener.on_tool_call(
                str(item.get("call_id", "")),
                str(item.get("name", "")),
                str(item.get("arguments", "")),
            )

    def _error(self, event: dict[str, Any]) -> None:
        error = event.get("error") or {}
        code = error.get("code")
        level = logging.DEBUG if code in BENIGN_ERRORS else logging.WARNING
        LOGGER.log(
            level, "The Realtime API reported %s: %s", code, error.get("message")
        )

    # --- closing ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the socket and stop reading."""
        self._closing = True
        if self._ws is not None and not self._ws.closed:
            with suppress(aiohttp.ClientError, OSError):
                await self._ws.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
