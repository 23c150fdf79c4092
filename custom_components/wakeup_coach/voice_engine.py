"""The two OpenAI live-voice protocols behind one small interface.

OpenAI has two: the Realtime API (GA: the app drives turns, has client-side
tools and truncation) and GPT-Live (full duplex: the server decides turns and
handles interruption). The bridge talks to either through VoiceEngine and hears
back through EngineListener; each protocol lives in its own module. Audio is
always base64 μ-law at 8 kHz, passed through untouched.

No Home Assistant imports: the engines run on any aiohttp session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from .models import EngineKind

# A session.started/updated echoes the instructions back (up to ~16k tokens).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Opening the socket and having the session configured.
CONNECT_TIMEOUT = 10.0
# The live-call clocks (silence, goodbye, time limit) run this many times faster
# than the wall clock: 1 on a real call; tests set the simulator's speed, so calls
# run in simulated time throughout.
TIME_SCALE = 1.0


class EngineError(Exception):
    """The engine could not start: the call continues turn-based.

    `reason` is short and stable (it goes into the `fallback` event).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        """Keep the reason, and what OpenAI said."""
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def http_reason(status: int) -> str:
    """Why OpenAI refused a WebSocket upgrade, from its HTTP status."""
    return {
        401: "openai_auth_failed",
        403: "openai_forbidden",
        404: "openai_model_not_found",
        429: "openai_rate_limited",
    }.get(status, f"openai_http_{status}")


def ws_url(base_url: str, path: str) -> str:
    """The WebSocket URL of an API path under the (http) base URL."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base + path


class EngineListener(Protocol):
    """What the engine tells the bridge. Only the audio path is awaited."""

    async def on_audio(self, payload: str, item_id: str) -> None:
        """Model audio (base64 μ-law); `item_id` names the reply it belongs to."""

    async def on_speech_started(self) -> None:
        """The sleeper started talking (Realtime's VAD): interrupt the coach."""

    def on_coach_speaking(self) -> None:
        """The coach started a reply."""

    def on_sleeper_speaking(self) -> None:
        """The sleeper is saying something (before the words are known)."""

    def on_sleeper_said(self, text: str) -> None:
        """A finished utterance of the sleeper."""

    def on_coach_said(self, text: str) -> None:
        """A finished line of the coach (its transcript)."""

    def on_coach_done(self, *, prompted: bool) -> None:
        """The coach finished a reply; `prompted` if it was the reply asked for last."""

    def on_tool_call(self, call_id: str, name: str, arguments: str) -> None:
        """The model called a function (Realtime only)."""

    def on_usage(self, usage: Mapping[str, Any], *, cumulative: bool) -> None:
        """What the model used so far (cumulative) or for one reply."""

    def on_engine_closed(self, reason: str) -> None:
        """OpenAI ended the session, or the connection broke, without being asked."""


class VoiceEngine(Protocol):
    """One OpenAI live-voice session."""

    kind: EngineKind
    # Whether the app must stop the coach when the sleeper talks over it.
    client_barge_in: bool

    async def connect(self, listener: EngineListener, instructions: str) -> None:
        """Open and configure the session; raises EngineError."""

    async def append_audio(self, payload: str) -> None:
        """Caller audio (base64 μ-law)."""

    async def speak(self, instruction: str) -> None:
        """Have the coach say something now (greeting, goodbye, a nudge)."""

    async def advise(
        self, note: str, *, instructions: str | None = None, respond: bool = False
    ) -> None:
        """Tell the model something (new standing rules if given); `respond` invites a reply."""

    async def interrupt(self, item_id: str, audio_end_ms: int) -> None:
        """The sleeper talked over a reply heard up to `audio_end_ms` (Realtime only)."""

    async def answer_tool(self, call_id: str, output: str, *, respond: bool) -> None:
        """The result of a function call; `respond` lets the model speak about it."""

    async def aclose(self) -> None:
        """End the session and close the connection (idempotent)."""


def make_engine(
    kind: EngineKind,
    http: aiohttp.ClientSession,
    *,
    base_url: str,
    api_key: str,
    model: str,
    voice: str,
    language: str,
) -> VoiceEngine:
    """A new, unconnected engine of the given kind."""
    # Imported here: each protocol module imports this one for its types.
    from .live_client import LiveEngine  # noqa: PLC0415
    from .realtime_client import RealtimeEngine  # noqa: PLC0415

    engine_class = LiveEngine if kind is EngineKind.LIVE else RealtimeEngine
    return engine_class(
        http,
        base_url=base_url,
        api_key=api_key,
        model=model,
        voice=voice,
        language=language,
    )
