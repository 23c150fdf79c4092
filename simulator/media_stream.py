"""Twilio Media Streams, the Twilio side: the WebSocket client that <Connect><Stream> opens.

It sends connected/start, then 20 ms μ-law frames at real-time pace (the sleeper's
voice, silence in between), plays the audio the integration sends back at the
same pace, echoes marks once the audio before them has played (or been cleared),
and sends stop when the call ends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
import json
import math
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from . import audio
from .phone_network import CallEnded
from .sleepers import HangUp, Say, Silence

if TYPE_CHECKING:
    from .phone_network import SimulatedCall
    from .server import Simulator
    from .twiml import Stream

# The sleeper answers once the coach has been quiet this long (simulated ms).
QUIET_MS = 700
# How long a barge-in sleeper lets the coach talk before talking over it.
BARGE_IN_AFTER_MS = 800
# How long a silent turn lasts before the sleeper waits for the coach again.
SILENT_TURN_S = 8.0
# Frames beyond one pass's batch the clock loop may owe, after a stall of the event
# loop, before an empty queue stops counting as the coach being quiet. On a fast
# clock a stall of a few real milliseconds on a loaded machine is hundreds of
# simulated ones in which Home Assistant could not send audio either: a pause no
# real call has.
STALL_FRAMES = 5


class StallDetector:
    """Tells a stall of the event loop from a loop that stays behind.

    A stall is a one-off. A loop that stays behind (a slow machine, coverage
    tracing) is slow, not stalled: excusing all its frames would leave the coach
    never quiet, and the sleeper waiting for its turn forever.
    """

    def __init__(self, batch: int) -> None:
        """`batch`: the frames a pass owes when the loop keeps time."""
        self._limit = batch + STALL_FRAMES
        self._behind = False

    def stalled(self, owed: int) -> bool:
        """Whether a pass that owes `owed` frames follows a stall."""
        behind = owed > self._limit
        stalled = behind and not self._behind
        self._behind = behind
        return stalled


@dataclass
class _Mark:
    name: str


class MediaStreamSession:
    """One stream of one call."""

    def __init__(self, sim: Simulator, call: SimulatedCall, stream: Stream) -> None:
        """Prepare the stream; `run` opens it."""
        self.sim = sim
        self.call = call
        self.stream = stream
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._sequence = 0
        self._chunk = 0
        self._mouth = bytearray()  # what the sleeper is about to say
        self._playback: deque[bytes | _Mark] = (
            deque()
        )  # what the coach sent, not yet played
        self._played_speech_ms = 0  # coach speech heard so far, in all
        self._utterance_speech_ms = (
            0  # coach speech heard since the coach last fell silent
        )
        self._quiet_ms = 0  # how long the coach has been silent
        self._coach_audio = (
            bytearray()
        )  # audio of the current coach utterance, for the transcript
        self._protocol_errors: set[int] = set()
        self._closed = asyncio.Event()

    # --- protocol -----------------------------------------------------------------

    def _event(self, name: str, **details: Any) -> None:
        self.sim.recorder.event(
            name, sid=self.call.record.sid, stream=self.stream_sid, **details
        )

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None  # noqa: S101
        if not self.ws.closed:
            await self.ws.send_json(message)

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def _protocol_error(self, code: int, detail: str) -> None:
        """Twilio logs each kind of protocol error once per stream and carries on."""
        if code not in self._protocol_errors:
            self._protocol_errors.add(code)
            self._event("stream_protocol_error", code=code, detail=detail)

    def _handle(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            self._protocol_error(31951, "not JSON")
            return
        event = message.get("event") if isinstance(message, dict) else None
        if event not in ("media", "mark", "clear"):
            self._protocol_error(31951, f"unknown event {event!r}")
            return
        if message.get("streamSid") != self.stream_sid:
            self._protocol_error(31951, "wrong or missing streamSid")
            return
        if event == "media":
            media = message.get("media")
            try:
                payload = base64.b64decode(media["payload"], validate=True)
            except (TypeError, KeyError, binascii.Error):
                self._protocol_error(31951, "media without a valid payload")
                return
            if payload[:4] == b"RIFF":
                self._protocol_error(31951, "media payload carries a WAV header")
            self._playback.append(payload)
        elif event == "mark":
            mark = message.get("mark")
            if not isinstance(mark, dict) or not isinstance(mark.get("name"), str):
                self._protocol_error(31951, "mark without mark.name")
                return
            self._playback.append(_Mark(mark["name"]))
        else:
            self._event("stream_clear", queued_ms=self._queued_ms())
            marks = [item for item in self._playback if isinstance(item, _Mark)]
            self._playback.clear()
            self._end_coach_utterance()
            for mark in marks:
                self._echo_mark_soon(mark)

    def _queued_speech(self) -> bool:
        """Whether speech is still queued.

        A model that streams one continuous track (GPT-Live) always has a little
        silence on its way, which nobody waits for.
        """
        return any(
            audio.is_speech(frame)
            for item in self._playback
            if isinstance(item, bytes)
            for frame in audio.frames(item)
        )

    def _queued_ms(self) -> int:
        return sum(audio.duration_ms(i) for i in self._playback if isinstance(i, bytes))

    def _echo_mark_soon(self, mark: _Mark) -> None:
        self.sim.spawn(
            self._send(
                {
                    "event": "mark",
                    "sequenceNumber": self._next_sequence(),
                    "streamSid": self.stream_sid,
                    "mark": {"name": mark.name},
                }
            )
        )

    # --- the three loops ----------------------------------------------------------

    async def _reader(self) -> None:
        assert self.ws is not None  # noqa: S101
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self._handle(message.data)
            elif message.type is aiohttp.WSMsgType.BINARY:
                self._protocol_error(31950, "binary frame")
            else:
                break
        self._closed.set()

    async def _clock_loop(self) -> None:
        """Every 20 ms of simulated time: send a frame of the sleeper, play one of the coach."""
        clock = self.sim.clock
        tick = audio.FRAME_MS / 1000
        pause = max(0.002, clock.real(tick))
        # Frames one pass owes when the loop keeps time: several on a fast clock.
        batch = math.ceil(pause / clock.real(tick))
        stalls = StallDetector(batch)
        frames_done = 0
        start = clock.now()
        while not self._closed.is_set():
            due = int((clock.now() - start) / tick) + 1
            stalled = stalls.stalled(due - frames_done)
            while frames_done < due and not self._closed.is_set():
                frames_done += 1
                await self._send_frame()
                self._play_frame(stalled=stalled)
            # Batching keeps the real-time cost bounded on a fast clock.
            await asyncio.sleep(pause)

    async def _send_frame(self) -> None:
        frame = bytes(self._mouth[: audio.FRAME_BYTES])
        del self._mouth[: audio.FRAME_BYTES]
        if len(frame) < audio.FRAME_BYTES:
            frame += audio.silence(audio.FRAME_MS)[len(frame) :]
        self._chunk += 1
        await self._send(
            {
                "event": "media",
                "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str((self._chunk - 1) * audio.FRAME_MS),
                    "payload": base64.b64encode(frame).decode(),
                },
            }
        )

    def _play_frame(self, *, stalled: bool = False) -> None:
        """Play 20 ms of queued coach audio; echo marks that are reached.

        Catching up after a stall, a frame with nothing queued is no evidence of
        a pause: it does not count towards the coach's quiet.
        """
        while self._playback and isinstance(self._playback[0], _Mark):
            mark = self._playback.popleft()
            assert isinstance(mark, _Mark)  # noqa: S101
            self._echo_mark_soon(mark)
        remaining = audio.FRAME_BYTES
        played = bytearray()
        while remaining and self._playback and isinstance(self._playback[0], bytes):
            chunk = self._playback.popleft()
            assert isinstance(chunk, bytes)  # noqa: S101
            played += chunk[:remaining]
            if len(chunk) > remaining:
                self._playback.appendleft(chunk[remaining:])
            remaining = audio.FRAME_BYTES - len(played)
        if played and audio.is_speech(bytes(played)):
            self._played_speech_ms += audio.FRAME_MS
            self._utterance_speech_ms += audio.FRAME_MS
            self._quiet_ms = 0
            self._coach_audio += played
        elif played or not stalled:
            self._quiet_ms += audio.FRAME_MS
            if self._quiet_ms >= QUIET_MS:
                self._end_coach_utterance()

    def _end_coach_utterance(self) -> None:
        if self._coach_audio:
            text = self.sim.speech.transcribe(bytes(self._coach_audio))
            self.call.record.transcript.append(
                ("coach", text or "(unrecognised audio)")
            )
            self._coach_audio.clear()
        self._utterance_speech_ms = 0

    async def _sleeper(self) -> None:
        """The scripted sleeper: waits for the coach, then says its next line."""
        clock = self.sim.clock
        while not self._closed.is_set():
            line = self.call.next_line()
            if isinstance(line, Say) and line.barge_in:
                await self._until(
                    lambda: self._utterance_speech_ms >= BARGE_IN_AFTER_MS
                )
            else:
                await self._until(
                    lambda: (
                        self._played_speech_ms > 0
                        and self._quiet_ms >= QUIET_MS
                        and not self._queued_speech()
                    )
                )
                await clock.sleep(self.call.record.script.think_seconds)
            if isinstance(line, HangUp):
                self.call.record.ended_by = "sleeper"
                self._event("sleeper_hung_up")
                self._closed.set()
                return
            if isinstance(line, Silence):
                await clock.sleep(SILENT_TURN_S)
                continue
            if line.proof:
                await self.call.prove()
            voice = await self.sim.sleeper_voice.speak(line.text)
            self.sim.speech.register(line.text, voice)
            self.call.record.transcript.append(("sleeper", line.text))
            self._mouth += voice
            # Wait until it has been said before listening for the coach again.
            await self._until(lambda: not self._mouth)
            self._played_speech_ms = 0

    async def _until(self, condition: Any) -> None:
        while not condition():
            if self._closed.is_set():
                raise asyncio.CancelledError
            await asyncio.sleep(max(0.002, self.sim.clock.real(audio.FRAME_MS / 1000)))

    # --- lifecycle ----------------------------------------------------------------

    async def run(self) -> None:
        """Open the stream and run it until either side ends it."""
        parts = urlsplit(self.stream.url)
        if parts.query:
            # Twilio drops the query string of a <Stream> URL.
            self._event("stream_query_dropped", query=parts.query)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        if parts.scheme != "wss" and not self.sim.allow_insecure_streams:
            self._event("stream_error", code=31922, detail="only wss:// is supported")
            return
        if (blackhole := self.sim.media_streams.unreachable_for) is not None:
            # A proxy or router that swallows the connection: nothing answers, and
            # Twilio gives up on its own after a while.
            self.sim.media_streams.unreachable_for = None
            await self.sim.clock.sleep(blackhole)
            self._event("stream_error", code=31901, detail="connection timed out")
            return
        headers = {"X-Twilio-Signature": self.call.signature(url, {})}
        try:
            self.ws = await self.sim.session.ws_connect(
                url,
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=self.sim.clock.real(5)),
                autoping=True,
            )
        except aiohttp.WSServerHandshakeError as err:
            self._event(
                "stream_error", code=31920, detail=f"handshake answered {err.status}"
            )
            return
        except (aiohttp.ClientError, TimeoutError) as err:
            self._event("stream_error", code=31901, detail=type(err).__name__)
            return
        self.call.record.stream_sids.append(self.stream_sid)
        self._event("stream_started", url=url)
        loops: list[asyncio.Task[None]] = []
        try:
            await self._send(
                {"event": "connected", "protocol": "Call", "version": "1.0.0"}
            )
            await self._send(self._start_message())
            loops = [
                asyncio.create_task(self._reader()),
                asyncio.create_task(self._clock_loop()),
                asyncio.create_task(self._sleeper()),
            ]
            await self._closed.wait()
        finally:
            for task in loops:
                task.cancel()
            for task in loops:
                with suppress(
                    asyncio.CancelledError, aiohttp.ClientError, ConnectionError
                ):
                    await task
            self._end_coach_utterance()
            await self._close()
        if self.call.record.ended_by == "sleeper":
            raise CallEnded

    def _start_message(self) -> dict[str, Any]:
        record = self.call.record
        return {
            "event": "start",
            "sequenceNumber": self._next_sequence(),
            "streamSid": self.stream_sid,
            "start": {
                "streamSid": self.stream_sid,
                "accountSid": record.account_sid,
                "callSid": record.sid,
                "tracks": ["inbound"],
                "customParameters": dict(self.stream.parameters),
                "mediaFormat": {
                    "encoding": "audio/x-mulaw",
                    "sampleRate": 8000,
                    "channels": 1,
                },
            },
        }

    async def _close(self) -> None:
        if self.ws is None or self.ws.closed:
            self._event("stream_stopped", by="integration")
            return
        with suppress(aiohttp.ClientError, ConnectionError):
            await self._send(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_sequence(),
                    "streamSid": self.stream_sid,
                    "stop": {
                        "accountSid": self.call.record.account_sid,
                        "callSid": self.call.record.sid,
                    },
                }
            )
            await self.ws.close()
        self._event("stream_stopped", by="twilio")


class MediaStreams:
    """Runs the streams of every call.

    `unreachable_for`: the next stream's WebSocket gets no answer at all, as behind
    a proxy that swallows it; Twilio gives up after this many simulated seconds
    (31901) and goes on with the <Connect action>. Used once.
    """

    def __init__(self, sim: Simulator) -> None:
        """Nothing runs until a call connects a stream."""
        self.sim = sim
        self.unreachable_for: float | None = None

    async def run(self, call: SimulatedCall, stream: Stream) -> None:
        """Run one stream to its end."""
        await MediaStreamSession(self.sim, call, stream).run()
