"""The two OpenAI engines against a scripted WebSocket server.

The races a simulator cannot stage on demand, and what each engine sends.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
import json
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.wakeup_coach import voice_engine
from custom_components.wakeup_coach.live_client import LiveEngine
from custom_components.wakeup_coach.realtime_client import RealtimeEngine
from custom_components.wakeup_coach.voice_engine import EngineError


@dataclass
class Server:
    """One scripted OpenAI WebSocket: what the client sent, and a way to answer."""

    received: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    got: asyncio.Event = field(default_factory=asyncio.Event)
    ready_reply: dict[str, Any] | None = None
    status: int = 101
    # GPT-Live answers session.close with session.closed; one test answers itself.
    answer_close: bool = True

    async def send(self, event: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_json(event)

    async def wait_for(self, kind: str, count: int = 1) -> list[dict[str, Any]]:
        async with asyncio.timeout(5):
            while len(self.of(kind)) < count:
                self.got.clear()
                await self.got.wait()
        return self.of(kind)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.received if event.get("type") == kind]

    def kinds(self) -> list[str]:
        return [event["type"] for event in self.received]


@dataclass
class Listener:
    """Records what an engine reports."""

    said: list[tuple[str, str]] = field(default_factory=list)
    done: list[bool] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    usage: list[Mapping[str, Any]] = field(default_factory=list)
    audio: list[str] = field(default_factory=list)
    sleeper_fragments: int = 0

    async def on_audio(self, payload: str, item_id: str) -> None:
        self.audio.append(payload)

    async def on_speech_started(self) -> None:
        self.said.append(("speech_started", ""))

    def on_coach_speaking(self) -> None:
        self.said.append(("coach_speaking", ""))

    def on_sleeper_speaking(self) -> None:
        self.sleeper_fragments += 1

    def on_sleeper_said(self, text: str) -> None:
        self.said.append(("sleeper", text))

    def on_coach_said(self, text: str) -> None:
        self.said.append(("coach", text))

    def on_coach_done(self, *, prompted: bool) -> None:
        self.done.append(prompted)

    def on_tool_call(self, call_id: str, name: str, arguments: str) -> None:
        self.said.append(("tool", name))

    def on_usage(self, usage: Mapping[str, Any], *, cumulative: bool) -> None:
        self.usage.append(usage)

    def on_engine_closed(self, reason: str) -> None:
        self.closed.append(reason)


@pytest.fixture
async def openai(socket_enabled: None) -> AsyncGenerator[tuple[Server, str]]:
    """A WebSocket server at /v1/realtime and /v1/live/sessions; its base URL."""
    server = Server()

    async def handle(request: web.Request) -> web.StreamResponse:
        if server.status != 101:
            return web.json_response({"error": {"code": "x"}}, status=server.status)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        server.ws = ws
        async for message in ws:
            event = json.loads(message.data)
            server.received.append(event)
            server.got.set()
            if (
                event["type"] in ("session.update", "session.start")
                and len(server.received) == 1
            ):
                await ws.send_json(server.ready_reply or {"type": "ready-not-set"})
            if event["type"] == "session.close" and server.answer_close:
                await ws.send_json(
                    {"type": "session.closed", "reason": "close_requested"}
                )
        return ws

    app = web.Application()
    app.router.add_get("/v1/realtime", handle)
    app.router.add_get("/v1/live/sessions", handle)
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


def realtime(http: aiohttp.ClientSession, base: str) -> RealtimeEngine:
    return RealtimeEngine(
        http, base_url=base, api_key="sk", model="gpt-realtime-2", voice="marin",
        language="en-US",
    )  # fmt: skip


async def connected_realtime(
    openai: tuple[Server, str], http: aiohttp.ClientSession, listener: Listener
) -> tuple[Server, RealtimeEngine]:
    server, base = openai
    server.ready_reply = {"type": "session.updated", "session": {}}
    engine = realtime(http, base)
    await engine.connect(listener, "Wake Alice.")
    return server, engine


async def test_realtime_session_is_ga_and_phone_shaped(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """μ-law both ways, no rate, turn detection that only detects, end_call offered."""
    server, engine = await connected_realtime(openai, http, Listener())
    session = server.received[0]["session"]
    assert session["type"] == "realtime"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["input"]["turn_detection"]["create_response"] is False
    assert [tool["name"] for tool in session["tools"]] == ["end_call"]
    await engine.aclose()


async def test_realtime_one_response_at_a_time(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """A goodbye while a reply is under way cancels it, and is asked once it is over."""
    listener = Listener()
    server, engine = await connected_realtime(openai, http, listener)
    await server.send({"type": "input_audio_buffer.committed", "item_id": "u1"})
    await server.wait_for("response.create")
    await server.send({"type": "response.created", "response": {"id": "r1"}})
    await engine.speak("Say goodbye.")
    await server.wait_for("response.cancel")
    assert len(server.of("response.create")) == 1  # not while r1 runs
    await server.send(
        {"type": "response.done", "response": {"id": "r1", "status": "cancelled"}}
    )
    await server.wait_for("response.create", 2)
    await server.send({"type": "response.created", "response": {"id": "r2"}})
    await server.send(
        {
            "type": "response.done",
            "response": {
                "id": "r2",
                "status": "completed",
                "usage": {"total_tokens": 3},
            },
        }
    )
    async with asyncio.timeout(5):
        while not listener.done:
            await asyncio.sleep(0.01)
    assert listener.done == [True]  # r2 was the one asked for
    assert listener.usage == [{"total_tokens": 3}]
    await engine.aclose()


async def test_realtime_cancel_that_crosses_the_end(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """The reply ended as the cancel left: the goodbye goes once, the moot cancel is no news."""
    listener = Listener()
    server, engine = await connected_realtime(openai, http, listener)
    await engine.speak("Greet.")
    await server.send({"type": "response.created", "response": {"id": "r1"}})
    await engine.speak("Say goodbye.")
    await server.wait_for("response.cancel")
    # The server had already finished r1 when the cancel arrived.
    await server.send(
        {"type": "response.done", "response": {"id": "r1", "status": "completed"}}
    )
    await server.send(
        {"type": "error", "error": {"code": "response_cancel_not_active"}}
    )
    await server.wait_for("response.create", 2)
    await server.send({"type": "response.created", "response": {"id": "r2"}})
    await server.send(
        {"type": "response.done", "response": {"id": "r2", "status": "completed"}}
    )
    async with asyncio.timeout(5):
        while len(listener.done) < 2:
            await asyncio.sleep(0.01)
    assert listener.done == [True, True]  # the greeting, then the goodbye
    assert len(server.of("response.create")) == 2
    assert listener.closed == []
    await engine.aclose()


async def test_realtime_goodbye_asked_while_a_reply_is_being_created(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """A reply asked but not yet created is cancelled as soon as it is."""
    server, engine = await connected_realtime(openai, http, Listener())
    await server.send({"type": "input_audio_buffer.committed", "item_id": "u1"})
    await server.wait_for("response.create")
    await engine.speak("Say goodbye.")
    await server.send({"type": "response.created", "response": {"id": "r1"}})
    await server.wait_for("response.cancel")
    await engine.aclose()


async def test_realtime_cut_reply_keeps_its_words(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """A reply cut short has no transcript 'done': what was said of it is kept."""
    listener = Listener()
    server, engine = await connected_realtime(openai, http, listener)
    await server.send({"type": "response.created", "response": {"id": "r1"}})
    for word in ("Good ", "morning "):
        await server.send(
            {"type": "response.output_audio_transcript.delta", "delta": word}
        )
    await server.send(
        {"type": "response.done", "response": {"id": "r1", "status": "cancelled"}}
    )
    async with asyncio.timeout(5):
        while ("coach", "Good morning…") not in listener.said:
            await asyncio.sleep(0.01)
    assert listener.done == []  # a cut reply is not a finished one
    await engine.aclose()


async def test_realtime_refusal_at_configuration(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """An error instead of session.updated: EngineError, socket closed."""
    server, base = openai
    server.ready_reply = {"type": "error", "error": {"code": "invalid_value"}}
    with pytest.raises(EngineError) as err:
        await realtime(http, base).connect(Listener(), "x")
    assert err.value.reason == "openai_refused"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "openai_auth_failed"),
        (429, "openai_rate_limited"),
        (500, "openai_http_500"),
    ],
)
async def test_realtime_refused_upgrade(
    openai: tuple[Server, str], http: aiohttp.ClientSession, status: int, reason: str
) -> None:
    """The upgrade refused with a status: a stable reason for the fallback event."""
    server, base = openai
    server.status = status
    with pytest.raises(EngineError) as err:
        await realtime(http, base).connect(Listener(), "x")
    assert err.value.reason == reason


async def test_realtime_dropped_by_the_server(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """The server closes without being asked: the listener hears why."""
    listener = Listener()
    server, engine = await connected_realtime(openai, http, listener)
    assert server.ws is not None
    await server.ws.close()
    async with asyncio.timeout(5):
        while not listener.closed:
            await asyncio.sleep(0.01)
    assert listener.closed == ["openai_dropped"]
    await engine.aclose()


def live(http: aiohttp.ClientSession, base: str) -> LiveEngine:
    return LiveEngine(
        http, base_url=base, api_key="sk", model="gpt-live-1", voice="marin",
        language="en-US",
    )  # fmt: skip


async def connected_live(
    openai: tuple[Server, str], http: aiohttp.ClientSession, listener: Listener
) -> tuple[Server, LiveEngine]:
    server, base = openai
    server.ready_reply = {"type": "session.started", "session": {"id": "live_1"}}
    engine = live(http, base)
    await engine.connect(listener, "Wake Alice.")
    return server, engine


def silence(ms: int) -> str:
    return base64.b64encode(b"\xff" * (ms * 8)).decode()


async def test_live_session_start_has_only_documented_fields(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """GPT-Live is strict: model, instructions, one μ-law format at 8 kHz, the voice."""
    server, engine = await connected_live(openai, http, Listener())
    assert server.received[0] == {
        "type": "session.start",
        "session": {
            "model": "gpt-live-1",
            "instructions": "Wake Alice.",
            "audio": {"format": {"type": "audio/pcmu", "rate": 8000}, "output": {"voice": "marin"}},
        },
    }  # fmt: skip
    await engine.speak("Greet Alice now.")
    (append,) = await server.wait_for("session.instructions.append")
    assert append["delegation_id"] is None
    assert append["content"] == "Greet Alice now."
    await engine.aclose()


async def test_live_utterances_end_at_a_pause_in_the_audio(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """Transcript fragments join into one line until the input audio shows a pause."""
    listener = Listener()
    server, engine = await connected_live(openai, http, listener)
    for count, fragment in enumerate(("Five more", " minutes,", " please."), 1):
        await server.send({"type": "session.input_transcript.delta", "delta": fragment})
        async with asyncio.timeout(5):
            while listener.sleeper_fragments < count:
                await asyncio.sleep(0.01)
        await engine.append_audio(silence(1000))  # a gap shorter than a pause
    assert not [said for said in listener.said if said[0] == "sleeper"]
    await engine.append_audio(silence(500))  # 1.5 s since the last fragment
    assert ("sleeper", "Five more minutes, please.") in listener.said
    await engine.aclose()


async def test_live_coach_line_ends_at_a_pause_in_the_track(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """The coach's line is over once the output track carries a pause after its words."""
    listener = Listener()
    server, engine = await connected_live(openai, http, listener)
    await engine.speak("Say goodbye.")
    await server.send(
        {"type": "session.output_transcript.delta", "delta": "Bye, Alice!"}
    )
    for _ in range(20):
        await server.send({"type": "session.output_audio.delta", "delta": silence(100)})
    async with asyncio.timeout(5):
        while not listener.done:
            await asyncio.sleep(0.01)
    assert listener.done == [True]
    assert ("coach", "Bye, Alice!") in listener.said
    await engine.aclose()


async def test_live_coach_line_backstop_without_a_track(
    openai: tuple[Server, str],
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that sends no silence: the line still ends, on a wall-clock backstop."""
    monkeypatch.setattr(voice_engine, "TIME_SCALE", 100.0)
    listener = Listener()
    server, engine = await connected_live(openai, http, listener)
    await server.send({"type": "session.output_transcript.delta", "delta": "Hello!"})
    async with asyncio.timeout(5):
        while not listener.done:
            await asyncio.sleep(0.01)
    assert listener.done == [False]
    await engine.aclose()


async def test_live_close_waits_for_session_closed(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """session.close, then the final usage from session.closed, then the socket closes."""
    listener = Listener()
    server, engine = await connected_live(openai, http, listener)
    server.answer_close = False

    async def answer() -> None:
        await server.wait_for("session.close")
        await server.send(
            {
                "type": "session.closed",
                "reason": "close_requested",
                "usage": {"seconds": 42},
            }
        )

    task = asyncio.create_task(answer())
    await engine.aclose()
    await task
    assert listener.usage == [{"seconds": 42}]
    assert listener.closed == []  # asked for: not a drop


async def test_live_refused_at_start(
    openai: tuple[Server, str], http: aiohttp.ClientSession
) -> None:
    """An error instead of session.started (no access to GPT-Live): EngineError."""
    server, base = openai
    server.ready_reply = {"type": "error", "error": {"code": "model_not_found"}}
    with pytest.raises(EngineError) as err:
        await live(http, base).connect(Listener(), "x")
    assert err.value.reason == "openai_refused"
    assert "model_not_found" in str(err.value)
