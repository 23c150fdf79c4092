"""The sideband engines and line of SIP calls, against a scripted OpenAI WebSocket.

tests/test_sip_calls.py runs whole SIP calls through the simulator; here are
what the simulator does not stage on demand: OpenAI out of reach, an audio
event on a sideband, a call that ends before or while its sideband closes, and
the SIP leg as the bridge sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
import json
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.wakeup_coach import live_client, voice_engine
from custom_components.wakeup_coach.models import EngineKind
from custom_components.wakeup_coach.sideband import (
    SLEEPER_PAUSE_SECONDS,
    SidebandLine,
    make_sideband,
)
from custom_components.wakeup_coach.voice_engine import EngineError, VoiceEngine

from .conftest import CLOSED_PORT_URL


@dataclass
class Server:
    """The sidebands OpenAI serves: who attached where, what they sent, a way to answer."""

    attached: list[str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, event: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_json(event)


@dataclass
class Listener:
    """Records what a sideband engine reports to the bridge."""

    audio: list[str] = field(default_factory=list)
    sleeper: list[str] = field(default_factory=list)
    fragments: int = 0

    async def on_audio(self, payload: str, item_id: str) -> None:
        self.audio.append(payload)

    async def on_speech_started(self) -> None:
        pass

    def on_coach_speaking(self) -> None:
        pass

    def on_sleeper_speaking(self) -> None:
        self.fragments += 1

    def on_sleeper_said(self, text: str) -> None:
        self.sleeper.append(text)

    def on_coach_said(self, text: str) -> None:
        pass

    def on_coach_done(self, *, prompted: bool) -> None:
        pass

    def on_tool_call(self, call_id: str, name: str, arguments: str) -> None:
        pass

    def on_usage(self, usage: Mapping[str, Any], *, cumulative: bool) -> None:
        pass

    def on_engine_closed(self, reason: str) -> None:
        pass


@pytest.fixture
async def openai(socket_enabled: None) -> AsyncGenerator[tuple[Server, str]]:
    """OpenAI's two sideband endpoints (answering nothing by themselves); its base URL."""
    server = Server()

    async def attach(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        server.attached.append(request.path_qs)
        server.ws = ws
        server.ready.set()
        async for message in ws:
            server.received.append(json.loads(message.data))
        return ws

    app = web.Application()
    app.router.add_get("/v1/realtime", attach)
    app.router.add_get("/v1/live/sessions/{session_id}/attach", attach)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield server, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def sideband(kind: EngineKind, http: aiohttp.ClientSession, base: str) -> VoiceEngine:
    return make_sideband(
        kind, http, base_url=base, api_key="sk", call_id="rtc_1", model="m",
        voice="marin", language="en-US",
    )  # fmt: skip


@pytest.mark.parametrize("kind", list(EngineKind))
async def test_openai_out_of_reach(
    kind: EngineKind, http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Nothing answers where OpenAI should be: the bridge is told why, in its words."""
    engine = sideband(kind, http, f"{CLOSED_PORT_URL}/v1")
    with pytest.raises(EngineError) as err:
        await engine.connect(Listener(), "x")
    assert err.value.reason == "openai_unreachable"
    await engine.aclose()


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        (EngineKind.REALTIME, "/v1/realtime?call_id=rtc_1"),
        (EngineKind.LIVE, "/v1/live/sessions/rtc_1/attach"),
    ],
)
async def test_attaches_to_the_call_without_configuring_it(
    openai: tuple[Server, str], http: aiohttp.ClientSession, kind: EngineKind, path: str
) -> None:
    """The accept configured the session: the sideband attaches to it and sends nothing."""
    server, base = openai
    engine = sideband(kind, http, base)
    await engine.connect(Listener(), "Wake Alice.")
    async with asyncio.timeout(5):
        await server.ready.wait()
    assert server.attached == [path]
    assert server.received == []
    await engine.aclose()


async def test_realtime_audio_reaches_the_bridge(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """Should OpenAI send the reply's audio on the sideband too, the bridge gets it."""
    server, base = openai
    listener = Listener()
    engine = sideband(EngineKind.REALTIME, http, base)
    await engine.connect(listener, "Wake Alice.")
    async with asyncio.timeout(5):
        await server.ready.wait()
    await server.send(
        {"type": "response.output_audio.delta", "delta": "//8=", "item_id": "i1"}
    )
    async with asyncio.timeout(5):
        while not listener.audio:
            await asyncio.sleep(0.01)
    assert listener.audio == ["//8="]
    await engine.aclose()


@pytest.mark.parametrize("kind", list(EngineKind))
async def test_closed_before_it_attached(
    kind: EngineKind, openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """The call ended before its sideband attached: closing it opens nothing."""
    server, base = openai
    await sideband(kind, http, base).aclose()
    assert server.attached == []


async def test_live_utterance_cut_by_the_close(
    openai: tuple[Server, str],
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Words still awaiting their pause when the sideband closes are not reported late."""
    monkeypatch.setattr(voice_engine, "TIME_SCALE", 100.0)
    # OpenAI takes its time to confirm the close: far longer than the sleeper's pause.
    monkeypatch.setattr(live_client, "CLOSE_WAIT", 0.5)
    assert SLEEPER_PAUSE_SECONDS / 100.0 < 0.05
    server, base = openai
    listener = Listener()
    engine = sideband(EngineKind.LIVE, http, base)
    await engine.connect(listener, "Wake Alice.")
    async with asyncio.timeout(5):
        await server.ready.wait()
    await server.send({"type": "session.input_transcript.delta", "delta": "Five more"})
    async with asyncio.timeout(5):
        while not listener.fragments:
            await asyncio.sleep(0.01)
    await engine.aclose()
    assert [event["type"] for event in server.received] == ["session.close"]
    assert listener.sleeper == []


async def collect(line: SidebandLine) -> list[dict[str, Any]]:
    """Everything the line says to the bridge, until it ends."""
    return [json.loads(message) async for message in line.messages()]


async def test_line_says_stop_when_the_call_ends(socket_enabled: None) -> None:
    """Hung up underneath the bridge: the line starts as a stream would, then says stop."""
    line = SidebandLine(token="tok", call_sid="CA1")
    line.stop()
    async with asyncio.timeout(5):
        events = await collect(line)
    assert [event["event"] for event in events] == ["connected", "start", "stop"]
    start = events[1]["start"]
    assert (start["callSid"], start["customParameters"]) == ("CA1", {"token": "tok"})
    assert events[2]["streamSid"] == line.stream_sid


async def test_line_plays_marks_and_nothing_else(socket_enabled: None) -> None:
    """A mark is played at once; media (there is no audio path) changes nothing."""
    line = SidebandLine(token="tok", call_sid="CA1")
    reader = asyncio.create_task(collect(line))
    await line.send(
        json.dumps({"event": "media", "media": {"payload": "//8="}}).encode()
    )
    await line.send(json.dumps({"event": "mark", "mark": {"name": "reply-1"}}).encode())
    await line.close()
    async with asyncio.timeout(5):
        received = await reader
    assert [event["event"] for event in received] == ["connected", "start", "mark"]
    assert received[2]["mark"] == {"name": "reply-1"}
