"""The simulated Twilio Media Streams client, against a stand-in stream endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from aiohttp import web

from simulator import audio
from simulator.media_stream import (
    QUIET_MS,
    STALL_FRAMES,
    MediaStreamSession,
    StallDetector,
)
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

from .conftest import SLEEPER, FakeIntegration, place, twiml


def connect(app: FakeIntegration, path: str = "/stream", query: str = "") -> str:
    """TwiML connecting the call to a stream on the stand-in app."""
    url = app.url(path).replace("http://", "ws://") + query
    return (
        f'<Connect action="/after"><Stream url="{url}">'
        '<Parameter name="token" value="one-time"/></Stream></Connect>'
    )


class StreamServer:
    """A stand-in for the integration's stream view; `behaviour` runs once started."""

    def __init__(self, app: FakeIntegration, behaviour: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        self.signature: str | None = None
        self.behaviour = behaviour
        app.handlers["/stream"] = self.handle

    async def handle(
        self, request: web.Request, form: dict[str, str]
    ) -> web.WebSocketResponse:
        self.signature = request.headers.get("X-Twilio-Signature")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        started = asyncio.Event()

        async def read() -> None:
            async for message in ws:
                data = json.loads(message.data)
                self.messages.append(data)
                if data["event"] == "start":
                    started.set()

        reader = asyncio.create_task(read())
        await started.wait()
        await self.behaviour(ws, self)
        await ws.close()
        reader.cancel()
        return ws

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == name]

    @property
    def stream_sid(self) -> str:
        return self.events("start")[0]["streamSid"]


async def setup(
    sim: Simulator, app: FakeIntegration, behaviour: Any, query: str = ""
) -> StreamServer:
    server = StreamServer(app, behaviour)
    sim.network.scripts[SLEEPER] = SCRIPTS["silent"]
    app.handlers |= {
        "/voice": lambda r, f: _twiml(connect(app, query=query)),
        "/after": lambda r, f: _twiml("<Say>After the stream.</Say>"),
        "/status": _ok,
    }
    return server


async def test_protocol_shapes_and_pacing(sim: Simulator, app: FakeIntegration) -> None:
    """connected, start (with parameters), 20 ms media frames at real-time pace, then the action URL."""

    async def listen(ws: web.WebSocketResponse, server: StreamServer) -> None:
        await asyncio.sleep(sim.clock.real(2.0))

    server = await setup(sim, app, listen, query="?dropped=1")
    record = await place(sim, app)

    assert server.messages[0] == {
        "event": "connected",
        "protocol": "Call",
        "version": "1.0.0",
    }
    start = server.events("start")[0]
    assert start["start"]["customParameters"] == {"token": "one-time"}
    assert start["start"]["callSid"] == record.sid
    assert start["start"]["mediaFormat"] == {
        "encoding": "audio/x-mulaw",
        "sampleRate": 8000,
        "channels": 1,
    }
    media = server.events("media")
    assert all(
        len(base64.b64decode(m["media"]["payload"])) == audio.FRAME_BYTES for m in media
    )
    assert [int(m["media"]["timestamp"]) for m in media[:3]] == [0, 20, 40]
    # 2 s of simulated time is 100 frames; allow for scheduling at either end.
    assert 80 <= len(media) <= 130
    sequence = [int(m["sequenceNumber"]) for m in server.messages[1:]]
    assert sequence == sorted(sequence)
    # The signature covers the URL without its query string, which Twilio drops.
    url = app.url("/stream").replace("http://", "ws://")
    assert server.signature == app.validator.compute_signature(url, {})
    assert sim.recorder.events_named("stream_query_dropped")
    assert record.said("coach")[-1] == "After the stream."


async def test_marks_after_playback_and_clear(
    sim: Simulator, app: FakeIntegration
) -> None:
    """A mark comes back once the audio before it has played; clear drops audio and returns marks."""
    timings: dict[str, float] = {}

    async def play(ws: web.WebSocketResponse, server: StreamServer) -> None:
        sid = server.stream_sid
        speech = await sim.coach_voice.speak("Good morning, time to get up now.")
        sim.speech.register("Good morning, time to get up now.", speech)
        payload = base64.b64encode(speech).decode()
        sent = sim.clock.now()
        await ws.send_json(
            {"event": "media", "streamSid": sid, "media": {"payload": payload}}
        )
        await ws.send_json(
            {"event": "mark", "streamSid": sid, "mark": {"name": "first"}}
        )
        while not server.events("mark"):
            await asyncio.sleep(0.005)
        timings["played"] = sim.clock.now() - sent
        timings["audio"] = audio.duration_ms(speech) / 1000
        # Queue a lot, then clear at once: the pending mark must come back at once.
        await ws.send_json(
            {"event": "media", "streamSid": sid, "media": {"payload": payload * 5}}
        )
        await ws.send_json(
            {"event": "mark", "streamSid": sid, "mark": {"name": "second"}}
        )
        await ws.send_json({"event": "clear", "streamSid": sid})
        cleared = sim.clock.now()
        while len(server.events("mark")) < 2:
            await asyncio.sleep(0.005)
        timings["clear"] = sim.clock.now() - cleared

    server = await setup(sim, app, play)
    record = await place(sim, app)
    assert [m["mark"]["name"] for m in server.events("mark")] == ["first", "second"]
    assert timings["played"] >= timings["audio"] * 0.9
    # Playing the cleared audio would take five times the speech; the mark came back well before.
    assert timings["clear"] < timings["audio"]
    assert sim.recorder.events_named("stream_clear")
    assert record.said("coach")[0] == "Good morning, time to get up now."


async def test_protocol_errors_are_recorded(
    sim: Simulator, app: FakeIntegration
) -> None:
    """Wrong messages are noted once per kind, as Twilio's debugger does, and the stream goes on."""

    async def misbehave(ws: web.WebSocketResponse, server: StreamServer) -> None:
        sid = server.stream_sid
        await ws.send_str("not json")
        await ws.send_json({"event": "mark", "streamSid": sid})
        await ws.send_json(
            {"event": "media", "streamSid": "MZwrong", "media": {"payload": ""}}
        )
        await ws.send_json({"event": "dance", "streamSid": sid})
        await ws.send_bytes(b"\x00\x01")
        await asyncio.sleep(sim.clock.real(1))

    await setup(sim, app, misbehave)
    await place(sim, app)
    codes = [e["code"] for e in sim.recorder.events_named("stream_protocol_error")]
    assert codes == [31951, 31950]


async def test_stop_when_call_ends(sim: Simulator, app: FakeIntegration) -> None:
    """The stream ends with stop when the call ends under it (a sleeper hang-up)."""
    got_stop = asyncio.Event()

    async def coach(ws: web.WebSocketResponse, s: StreamServer) -> None:
        # Prompt every 6 s until the stream stops: the sleeper answers a prompt, then
        # hangs up on the next one, whenever that comes.
        speech = await sim.coach_voice.speak("Hello there, wake up.")
        while not s.events("stop"):
            await ws.send_json(
                {
                    "event": "media",
                    "streamSid": s.stream_sid,
                    "media": {"payload": base64.b64encode(speech).decode()},
                }
            )
            await asyncio.sleep(sim.clock.real(6))
        got_stop.set()

    server = await setup(sim, app, coach)
    sim.network.scripts[SLEEPER] = SCRIPTS["hangs_up"]
    record = await place(sim, app)
    await asyncio.wait_for(got_stop.wait(), 5)
    assert server.events("stop")[0]["stop"]["callSid"] == record.sid
    assert record.ended_by == "sleeper"


async def test_rejected_handshake(sim: Simulator, app: FakeIntegration) -> None:
    """A stream the integration refuses is error 31920; the call continues with the action."""
    await setup(sim, app, None)
    app.handlers["/stream"] = lambda r, f: _forbidden()
    record = await place(sim, app)
    assert sim.recorder.events_named("stream_error")[0]["code"] == 31920
    assert record.said("coach")[-1] == "After the stream."


async def _ok(request: web.Request, form: dict[str, str]) -> web.Response:
    return web.Response()


async def _forbidden() -> web.Response:
    return web.Response(status=403)


async def _twiml(body: str) -> web.Response:
    return twiml(body)


async def test_catching_up_after_a_stall_is_no_pause(sim: Simulator) -> None:
    """Frames owed after an event-loop stall, with nothing queued, are not the coach's quiet.

    Silence the coach did send still is.
    """
    session = MediaStreamSession(sim, None, None)  # type: ignore[arg-type]
    for _ in range(2 * QUIET_MS // audio.FRAME_MS):
        session._play_frame(stalled=True)
    assert session._quiet_ms == 0
    session._play_frame()
    assert session._quiet_ms == audio.FRAME_MS
    session._playback.append(audio.silence(audio.FRAME_MS))
    session._play_frame(stalled=True)
    assert session._quiet_ms == 2 * audio.FRAME_MS


def test_a_stall_is_a_one_off() -> None:
    """A pass far behind follows a stall; the passes after it, still behind, do not."""
    stalls = StallDetector(batch=2)
    owed = [2, 2 + STALL_FRAMES, 50, 40, 30, 2, 60, 3]
    assert [stalls.stalled(n) for n in owed] == [
        False, False, True, False, False, False, True, False
    ]  # fmt: skip
