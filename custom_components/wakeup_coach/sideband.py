"""The sideband: Home Assistant's own WebSocket to the OpenAI session of a SIP call.

On a SIP call the audio runs between Twilio and OpenAI. Home Assistant opens one
WebSocket outwards, to `/realtime?call_id=…` or `/live/sessions/{id}/attach`, and
hears what an engine hears on a Media Stream call, minus the audio: turns,
transcripts, tool calls, usage. The engines are the Media Stream ones with what a
sideband changes:

- nothing configures the session on connect: accepting the call did;
- Realtime: a reply counts as done once the sleeper has heard it, which OpenAI
  tells with `output_audio_buffer.stopped` (it plays the audio itself);
- GPT-Live: no input audio passes Home Assistant to time the sleeper's pauses, so
  a pause in the transcript fragments ends an utterance.

`SidebandLine` is the SIP leg as the bridge (realtime_bridge.Bridge) sees it: a
Media Stream that carries no audio, whose marks are heard at once (the engine
only reports a reply done once it has played) and which the bridge closes when
the coach is done. The coach policy, goodbye, proof, nudges, time limit and usage
recording are the bridge's, shared with Media Stream calls.

No Home Assistant imports.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
import secrets
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from . import voice_engine
from .live_client import LiveEngine
from .models import EngineKind
from .realtime_client import RealtimeEngine
from .voice_engine import EngineListener, VoiceEngine, ws_url

# A reply whose playback never reports its end still counts as heard after this long.
PLAYBACK_BACKSTOP_SECONDS = 30.0
# A pause this long in the sleeper's transcript fragments ends an utterance. Longer
# than on the primary socket, where audio measures pauses: here only the clock
# does, and a late fragment must not cut a sentence in two. It only delays the
# coach policy's decision; GPT-Live answers the sleeper by itself.
SLEEPER_PAUSE_SECONDS = 2.5
# Marks waiting for the bridge: one per reply, so a handful at most.
MAX_PENDING_MARKS = 64


class _Relay:
    """An EngineListener that passes everything on; the sideband engines adjust a part."""

    def __init__(self, listener: EngineListener) -> None:
        self._listener = listener

    async def on_audio(self, payload: str, item_id: str) -> None:
        await self._listener.on_audio(payload, item_id)

    async def on_speech_started(self) -> None:
        await self._listener.on_speech_started()

    def on_coach_speaking(self) -> None:
        self._listener.on_coach_speaking()

    def on_sleeper_speaking(self) -> None:
        self._listener.on_sleeper_speaking()

    def on_sleeper_said(self, text: str) -> None:
        self._listener.on_sleeper_said(text)

    def on_coach_said(self, text: str) -> None:
        self._listener.on_coach_said(text)

    def on_coach_done(self, *, prompted: bool) -> None:
        self._listener.on_coach_done(prompted=prompted)

    def on_tool_call(self, call_id: str, name: str, arguments: str) -> None:
        self._listener.on_tool_call(call_id, name, arguments)

    def on_usage(self, usage: Mapping[str, Any], *, cumulative: bool) -> None:
        self._listener.on_usage(usage, cumulative=cumulative)

    def on_engine_closed(self, reason: str) -> None:
        self._listener.on_engine_closed(reason)


class _HeardRelay(_Relay):
    """Holds the end of a reply back until OpenAI has played it to the sleeper."""

    def __init__(self, listener: EngineListener) -> None:
        super().__init__(listener)
        self._playing = False
        self._held: bool | None = None  # a reply ended while playing: was it prompted?
        self._backstop: asyncio.TimerHandle | None = None

    def on_coach_done(self, *, prompted: bool) -> None:
        if not self._playing:
            self._listener.on_coach_done(prompted=prompted)
            return
        self._held = prompted or bool(self._held)
        if self._backstop is None:
            self._backstop = asyncio.get_running_loop().call_later(
                PLAYBACK_BACKSTOP_SECONDS / voice_engine.TIME_SCALE, self.played
            )

    def playing(self) -> None:
        """OpenAI started playing a reply."""
        self._playing = True

    def played(self) -> None:
        """OpenAI finished (or dropped) what it was playing."""
        self._playing = False
        if self._backstop is not None:
            self._backstop.cancel()
            self._backstop = None
        if self._held is not None:
            prompted, self._held = self._held, None
            self._listener.on_coach_done(prompted=prompted)

    def cancel(self) -> None:
        if self._backstop is not None:
            self._backstop.cancel()
            self._backstop = None


class RealtimeSideband(RealtimeEngine):
    """The Realtime API session of an accepted SIP call, steered over its sideband."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        call_id: str,
        model: str,
        voice: str,
        language: str,
    ) -> None:
        """Nothing is sent until `connect`."""
        super().__init__(
            http,
            base_url=base_url,
            api_key=api_key,
            model=model,
            voice=voice,
            language=language,
        )
        self._url = ws_url(base_url, f"/realtime?call_id={quote(call_id, safe='')}")
        self._relay: _HeardRelay | None = None
        self._handlers.update(
            {
                "output_audio_buffer.started": self._playback_started,
                "output_audio_buffer.stopped": self._playback_ended,
                "output_audio_buffer.cleared": self._playback_ended,
            }
        )

    async def connect(self, listener: EngineListener, instructions: str) -> None:
        """Attach to the session the accept configured; raises EngineError."""
        self._relay = _HeardRelay(listener)
        await self._open(self._relay, task_name="wakeup_coach realtime sideband")

    def _playback_started(self, event: dict[str, Any]) -> None:
        if self._relay is not None:
            self._relay.playing()

    def _playback_ended(self, event: dict[str, Any]) -> None:
        if self._relay is not None:
            self._relay.played()

    async def aclose(self) -> None:
        """Stop the playback clock, close the socket and stop reading."""
        if self._relay is not None:
            self._relay.cancel()
        await super().aclose()


class _PauseRelay(_Relay):
    """Ends the sleeper's utterance when their transcript fragments pause."""

    def __init__(self, listener: EngineListener, engine: LiveSideband) -> None:
        super().__init__(listener)
        self._engine = engine

    def on_sleeper_speaking(self) -> None:
        super().on_sleeper_speaking()
        self._engine.sleeper_heard()


class LiveSideband(LiveEngine):
    """The GPT-Live session of an accepted SIP call, steered over its sideband."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        session_id: str,
        model: str,
        voice: str,
        language: str,
    ) -> None:
        """Nothing is sent until `connect`."""
        super().__init__(
            http,
            base_url=base_url,
            api_key=api_key,
            model=model,
            voice=voice,
            language=language,
        )
        self._url = ws_url(
            base_url, f"/live/sessions/{quote(session_id, safe='')}/attach"
        )
        self._pause: asyncio.TimerHandle | None = None

    async def connect(self, listener: EngineListener, instructions: str) -> None:
        """Attach to the session the accept started (no session.start); raises EngineError."""
        await self._open(
            _PauseRelay(listener, self), task_name="wakeup_coach live sideband"
        )

    def sleeper_heard(self) -> None:
        """A fragment of the sleeper's words: the utterance ends when they pause."""
        if self._pause is not None:
            self._pause.cancel()
        self._pause = asyncio.get_running_loop().call_later(
            SLEEPER_PAUSE_SECONDS / voice_engine.TIME_SCALE, self._paused
        )

    def _paused(self) -> None:
        self._pause = None
        self._sleeper_finished()

    async def aclose(self) -> None:
        """Stop the pause clock; session.close, wait for session.closed, close."""
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        await super().aclose()


def make_sideband(
    kind: EngineKind,
    http: aiohttp.ClientSession,
    *,
    base_url: str,
    api_key: str,
    call_id: str,
    model: str,
    voice: str,
    language: str,
) -> VoiceEngine:
    """The sideband engine of an accepted SIP call (`call_id`: the call or session id)."""
    if kind is EngineKind.LIVE:
        return LiveSideband(
            http,
            base_url=base_url,
            api_key=api_key,
            session_id=call_id,
            model=model,
            voice=voice,
            language=language,
        )
    return RealtimeSideband(
        http,
        base_url=base_url,
        api_key=api_key,
        call_id=call_id,
        model=model,
        voice=voice,
        language=language,
    )


class SidebandLine:
    """The SIP leg as the bridge sees it: a Media Stream with no audio on it.

    It starts at once with the call's token and CallSid, echoes every mark as
    played, ends when the bridge closes it (the coach is done, or OpenAI failed),
    and sends `stop` when the call ended without the bridge.
    """

    def __init__(self, *, token: str, call_sid: str | None) -> None:
        """A line for one bridge run."""
        self._token = token
        self._call_sid = call_sid
        self.stream_sid = "SIP" + secrets.token_hex(16)
        self._pending: deque[str] = deque(maxlen=MAX_PENDING_MARKS)
        self._wake = asyncio.Event()
        self.closed = False  # the bridge closed it
        self._stopped = False  # the call ended underneath it

    async def messages(self) -> AsyncIterator[str | bytes]:
        """Say `connected` and `start`, then each mark, until the line closes or stops."""
        yield orjson.dumps(
            {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        ).decode()
        yield orjson.dumps(
            {
                "event": "start",
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "callSid": self._call_sid,
                    "tracks": ["inbound"],
                    "customParameters": {"token": self._token},
                },
            }
        ).decode()
        while True:
            while self._pending:
                yield self._pending.popleft()
            if self._stopped:
                yield orjson.dumps(
                    {"event": "stop", "streamSid": self.stream_sid}
                ).decode()
                return
            if self.closed:
                return
            self._wake.clear()
            await self._wake.wait()

    async def send(self, data: bytes) -> None:
        """What the bridge sends Twilio: a mark is played at once; nothing else occurs."""
        message = orjson.loads(data)
        if message.get("event") == "mark":
            self._pending.append(
                orjson.dumps(
                    {
                        "event": "mark",
                        "streamSid": self.stream_sid,
                        "mark": message.get("mark"),
                    }
                ).decode()
            )
            self._wake.set()

    async def close(self) -> None:
        """The bridge is done with the call (the coach finished, or OpenAI failed)."""
        self.closed = True
        self._wake.set()

    def stop(self) -> None:
        """The call ended (hung up, unloaded): the bridge stops."""
        self._stopped = True
        self._wake.set()
