"""OpenAI's GPT-Live as a VoiceEngine, over an aiohttp WebSocket.

GPT-Live is full duplex: the server decides when the coach talks and handles
interruptions itself, so the app never clears, truncates or cancels. The app
steers with `session.instructions.append` (instructions are fixed at start),
and learns what was said from transcript fragments that have no turn
boundaries: a pause ends an utterance. The session's schema is strict, so only
documented fields are sent. The timeline only moves while input audio flows,
which Twilio's stream does continuously, silence included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
import itertools
import logging

import aiohttp
import orjson

from . import voice_engine
from .engine_socket import APPEND_END, EngineSocket
from .models import EngineKind
from .voice_engine import EngineListener, ws_url

LOGGER = logging.getLogger(__package__)

AUDIO_FORMAT = {"type": "audio/pcmu", "rate": 8000}
# A pause this long ends an utterance (the protocol has no turn events; transcript
# fragments come a second or so apart while someone talks). Pauses are
# measured in audio, not wall-clock time: input audio flows continuously from
# Twilio, and GPT-Live's output track carries silence between lines.
SLEEPER_GAP_MS = 1500
COACH_GAP_MS = 1500
# For a server that sends no audio while the coach is quiet: a wall-clock backstop.
COACH_QUIET_SECONDS = 2.5
# After session.close the server finishes its work; wait this long for session.closed.
CLOSE_WAIT = 5.0


def _audio_ms(payload: str) -> int:
    """Milliseconds of base64 μ-law audio (8 bytes a millisecond), without decoding it."""
    return (len(payload) * 3 >> 2) >> 3


class LiveEngine(EngineSocket):
    """One GPT-Live session on the primary WebSocket."""

    kind = EngineKind.LIVE
    client_barge_in = False
    _append_event = b'{"type":"session.input_audio.append","audio":"'

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
        super().__init__(http, url=ws_url(base_url, "/live/sessions"), api_key=api_key)
        self._model = model
        self._voice = voice
        self._closed = asyncio.Event()
        self._ids = itertools.count(1)
        self._coach: list[str] = []
        self._sleeper: list[str] = []
        # Audio since the last transcript fragment of each side.
        self._coach_quiet_ms = 0
        self._sleeper_quiet_ms = 0
        self._coach_backstop: asyncio.TimerHandle | None = None
        # Set once an instruction was appended: the next line is the one asked for.
        self._prompted = False

    # --- connecting -------------------------------------------------------------

    async def connect(self, listener: EngineListener, instructions: str) -> None:
        """Open the socket and start the session; raises EngineError."""
        await self._open(
            listener,
            {
                "type": "session.start",
                "session": {
                    "model": self._model,
                    "instructions": instructions,
                    "audio": {
                        "format": AUDIO_FORMAT,
                        "output": {"voice": self._voice},
                    },
                },
            },
            acknowledged="session.started",
            task_name="wakeup_coach live",
        )

    # --- sending ----------------------------------------------------------------

    async def append_audio(self, payload: str) -> None:
        """Caller audio, as Twilio sent it; its length is also the clock of pauses.

        Spliced as EngineSocket.append_audio does it; repeated rather than awaited
        through super(), which would add a coroutine to every frame.
        """
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.send_frame(
                self._append_event + payload.encode() + APPEND_END,
                aiohttp.WSMsgType.TEXT,
            )
        if self._sleeper:
            self._sleeper_quiet_ms += _audio_ms(payload)
            if self._sleeper_quiet_ms >= SLEEPER_GAP_MS:
                self._sleeper_finished()

    async def _append(self, content: str) -> None:
        await self._send(
            {
                "type": "session.instructions.append",
                "event_id": f"wuc_{next(self._ids)}",
                "delegation_id": None,
                "content": content,
            }
        )

    async def speak(self, instruction: str) -> None:
        """Trusted instructions; worded as an order, they make the coach speak."""
        self._prompted = True
        await self._append(instruction)

    async def advise(
        self, note: str, *, instructions: str | None = None, respond: bool = False
    ) -> None:
        """Instructions are fixed at start: what changed is appended."""
        await self._append(note)

    async def interrupt(self, item_id: str, audio_end_ms: int) -> None:
        """The server handles interruptions itself."""

    async def answer_tool(self, call_id: str, output: str, *, respond: bool) -> None:
        """The live model has no tools of its own (none are declared)."""

    # --- receiving ----------------------------------------------------------------

    async def _read(self) -> None:
        ws, listener = self._ws, self._listener
        assert ws is not None  # noqa: S101
        assert listener is not None  # noqa: S101
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
                if kind == "session.output_audio.delta":
                    delta = event.get("delta", "")
                    await listener.on_audio(delta, "")
                    if self._coach:
                        self._coach_quiet_ms += _audio_ms(delta)
                        if self._coach_quiet_ms >= COACH_GAP_MS:
                            self._coach_finished()
                elif kind == "session.output_transcript.delta":
                    if not self._coach:
                        listener.on_coach_speaking()
                    self._coach.append(str(event.get("delta") or ""))
                    self._coach_quiet_ms = 0
                    self._arm_backstop()
                elif kind == "session.input_transcript.delta":
                    listener.on_sleeper_speaking()
                    self._sleeper.append(str(event.get("delta") or ""))
                    self._sleeper_quiet_ms = 0
                elif kind in ("session.usage.updated", "session.closed"):
                    if isinstance(usage := event.get("usage"), Mapping):
                        listener.on_usage(usage, cumulative=True)
                    if kind == "session.closed":
                        reason = f"openai_closed_{event.get('reason') or 'unknown'}"
                        self._closed.set()
                elif kind == "error":
                    error = event.get("error") or {}
                    # Not every error ends the session (moderation may only cut a line).
                    LOGGER.warning(
                        "GPT-Live reported %s: %s",
                        error.get("code"),
                        error.get("message"),
                    )
        except Exception:
            LOGGER.exception("Error in the GPT-Live session")
            reason = "bridge_error"
        finally:
            self._closed.set()
            self._clear()
            if not self._closing:
                LOGGER.warning("The GPT-Live session ended unexpectedly (%s)", reason)
                listener.on_engine_closed(reason)

    def _arm_backstop(self) -> None:
        if self._coach_backstop is not None:
            self._coach_backstop.cancel()
        self._coach_backstop = asyncio.get_running_loop().call_later(
            COACH_QUIET_SECONDS / voice_engine.TIME_SCALE, self._coach_finished
        )

    def _coach_finished(self) -> None:
        if self._coach_backstop is not None:
            self._coach_backstop.cancel()
            self._coach_backstop = None
        text = "".join(self._coach).strip()
        self._coach.clear()
        if text and self._listener is not None:
            self._listener.on_coach_said(text)
            prompted, self._prompted = self._prompted, False
            self._listener.on_coach_done(prompted=prompted)

    def _sleeper_finished(self) -> None:
        text = "".join(self._sleeper).strip()
        self._sleeper.clear()
        if text and self._listener is not None:
            self._listener.on_sleeper_said(text)

    def _clear(self) -> None:
        if self._coach_backstop is not None:
            self._coach_backstop.cancel()
            self._coach_backstop = None
        self._coach.clear()
        self._sleeper.clear()

    # --- closing ------------------------------------------------------------------

    async def aclose(self) -> None:
        """session.close, a short wait for session.closed (usage), then close the socket."""
        if self._closing:
            return
        self._closing = True
        ws = self._ws
        if ws is not None and not ws.closed:
            with suppress(aiohttp.ClientError, OSError):
                await self._send({"type": "session.close"})
            if self._reader is not None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), CLOSE_WAIT)
        await super().aclose()
        self._clear()
