"""The OpenAI Realtime API (GA protocol) as a VoiceEngine, over an aiohttp WebSocket.

GA shapes only (`session.type: realtime`, `audio/pcmu` both ways, no beta
header): the beta protocol has been switched off. Server VAD detects the
sleeper's turns; the app creates every response, one at a time: a reply when a
turn ends, and the greeting, goodbyes and nudges as `response.create` with the
session's instructions plus what to say now. Barge-in cancels the reply and
truncates it at the audio the sleeper heard. The model may call `end_call`,
which the bridge grants or refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from enum import StrEnum
import logging
from typing import Any

import aiohttp
import orjson

from .engine_socket import EngineSocket
from .models import EngineKind
from .voice_engine import EngineListener, ws_url

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
                    # The app creates (and cancels) responses itself, one at a time.
                    "create_response": False,
                    "interrupt_response": False,
                },
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": voice},
        },
        "tools": [END_CALL_TOOL],
        "tool_choice": "auto",
    }


class _Turn(StrEnum):
    """Where the one response a session may have at a time stands."""

    IDLE = "idle"
    CREATING = "creating"  # response.create sent, response.created not seen yet
    ACTIVE = "active"
    CANCELLING = "cancelling"


class RealtimeEngine(EngineSocket):
    """One Realtime API session.

    The app creates every response itself (turn detection only detects): one at
    a time, so a goodbye or a nudge waits for, or cancels, the reply under way
    instead of colliding with it.
    """

    kind = EngineKind.REALTIME
    client_barge_in = True
    _append_event = b'{"type":"input_audio_buffer.append","audio":"'

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
        super().__init__(
            http, url=ws_url(base_url, f"/realtime?model={model}"), api_key=api_key
        )
        self._model = model
        self._voice = voice
        self._language = language
        self._turn = _Turn.IDLE
        self._cancel_when_created = False
        # The response to create once the current one is over, and whether it was asked for.
        self._pending: tuple[dict[str, Any], bool] | None = None
        self._creating_prompted = False
        self._prompted = False  # the active response is the one asked for last
        # The coach's words so far in the current reply (a cut reply has no "done").
        self._coach_words: list[str] = []
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "input_audio_buffer.committed": self._sleeper_turn_ended,
            "response.created": self._response_created,
            "response.done": self._response_done,
            "response.output_audio_transcript.delta": self._coach_transcript_delta,
            "response.output_audio_transcript.done": self._coach_transcript,
            "conversation.item.input_audio_transcription.completed": self._sleeper_transcript,
            "response.output_item.done": self._output_item_done,
            "error": self._error,
        }

    # --- connecting -------------------------------------------------------------

    async def connect(self, listener: EngineListener, instructions: str) -> None:
        """Open the socket and configure the session; raises EngineError."""
        await self._open(
            listener,
            {
                "type": "session.update",
                "session": session_config(
                    model=self._model,
                    voice=self._voice,
                    language=self._language,
                    instructions=instructions,
                ),
            },
            acknowledged="session.updated",
            task_name="wakeup_coach realtime",
        )

    # --- sending ----------------------------------------------------------------

    async def speak(self, instruction: str) -> None:
        """A reply now: what to say, as a system message, then a response."""
        await self._system_message(instruction)
        await self._respond({"type": "response.create"}, prompted=True, replace=True)

    async def _system_message(self, text: str) -> None:
        await self._send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": text}],
                },
            }
        )

    async def _respond(
        self, create: dict[str, Any], *, prompted: bool, replace: bool
    ) -> None:
        """Create a response now, or once the current one is over (cancelled if `replace`)."""
        if self._turn is _Turn.IDLE:
            await self._create(create, prompted=prompted)
            return
        if self._pending is not None and self._pending[1] and not prompted:
            return  # an ordinary reply never displaces one that was asked for
        self._pending = (create, prompted)
        if not replace:
            return
        if self._turn is _Turn.ACTIVE:
            self._turn = _Turn.CANCELLING
            await self._send({"type": "response.cancel"})
        elif self._turn is _Turn.CREATING:
            self._cancel_when_created = True

    async def _create(self, create: dict[str, Any], *, prompted: bool) -> None:
        self._turn = _Turn.CREATING
        self._creating_prompted = prompted
        await self._send(create)

    async def advise(
        self, note: str, *, instructions: str | None = None, respond: bool = False
    ) -> None:
        """New standing instructions and a system note; a reply if asked and none is under way."""
        if instructions is not None:
            await self._send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "instructions": instructions},
                }
            )
        await self._system_message(note)
        if respond:
            await self._respond(
                {"type": "response.create"}, prompted=False, replace=False
            )

    async def interrupt(self, item_id: str, audio_end_ms: int) -> None:
        """Stop the reply and cut it where the sleeper stopped hearing it."""
        if self._turn is _Turn.ACTIVE:
            self._turn = _Turn.CANCELLING
            await self._send({"type": "response.cancel"})
        elif self._turn is _Turn.CREATING:
            self._cancel_when_created = True
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
            await self._respond(
                {"type": "response.create"}, prompted=False, replace=False
            )

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

    async def _sleeper_turn_ended(self, event: dict[str, Any]) -> None:
        """The sleeper finished a turn: the coach answers (unless it is already asked to speak)."""
        await self._respond({"type": "response.create"}, prompted=False, replace=False)

    async def _response_created(self, event: dict[str, Any]) -> None:
        assert self._listener is not None  # noqa: S101
        self._listener.on_coach_speaking()
        self._prompted = self._creating_prompted
        if self._cancel_when_created:
            self._cancel_when_created = False
            self._turn = _Turn.CANCELLING
            await self._send({"type": "response.cancel"})
        else:
            self._turn = _Turn.ACTIVE

    async def _response_done(self, event: dict[str, Any]) -> None:
        listener = self._listener
        assert listener is not None  # noqa: S101
        response = event.get("response") or {}
        self._turn = _Turn.IDLE
        if isinstance(usage := response.get("usage"), Mapping):
            listener.on_usage(usage, cumulative=False)
        prompted, self._prompted = self._prompted, False
        if self._coach_words:
            # Cut short (barge-in, a goodbye): keep what was said of it.
            listener.on_coach_said("".join(self._coach_words).strip() + "…")
            self._coach_words.clear()
        if response.get("status") == "completed":
            listener.on_coach_done(prompted=prompted)
        await self._next()

    async def _next(self) -> None:
        if self._pending is not None and self._turn is _Turn.IDLE:
            (create, prompted), self._pending = self._pending, None
            await self._create(create, prompted=prompted)

    def _coach_transcript_delta(self, event: dict[str, Any]) -> None:
        self._coach_words.append(str(event.get("delta") or ""))

    def _coach_transcript(self, event: dict[str, Any]) -> None:
        self._coach_words.clear()
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
