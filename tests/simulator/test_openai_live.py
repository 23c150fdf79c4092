"""The simulated GPT-Live API (`/v1/live/sessions`), driven by a plain WebSocket client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator
import json
from typing import Any

import aiohttp
import pytest

from simulator import audio, openai_live
from simulator.accounts import DEFAULT_OPENAI_KEY
from simulator.server import Simulator

TWILIO_FORMAT = {"type": "audio/pcmu", "rate": 8000}
SESSION: dict[str, Any] = {
    "model": "gpt-live-1",
    "instructions": "You are calling Alice to wake her up.",
    "audio": {"format": TWILIO_FORMAT, "output": {"voice": "marin"}},
}
AUTH = {"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"}
SILENCE_BYTE = b"\xff"


class LiveClient:
    """A raw GPT-Live connection with an event log."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(event))

    async def until(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        """Read until an event of this type arrives; return it."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"connection ended: {message.type}")
                event = json.loads(message.data)
                self.events.append(event)
                if event["type"] == kind:
                    return event

    async def until_closed(self, timeout: float = 5) -> None:
        """Read until the server ends the connection."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    return
                self.events.append(json.loads(message.data))

    async def start(self, session: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send(
            {
                "type": "session.start",
                "event_id": "start_1",
                "session": session or SESSION,
            }
        )
        return await self.until("session.started")

    async def audio(self, data: bytes) -> None:
        """Send μ-law audio as Twilio would: one append per 20 ms frame."""
        for frame in audio.frames(data):
            await self.send(
                {
                    "type": "session.input_audio.append",
                    "audio": base64.b64encode(frame).decode(),
                }
            )

    async def append(self, kind: str, content: str, event_id: str = "a1") -> None:
        await self.send(
            {
                "type": f"session.{kind}.append",
                "event_id": event_id,
                "content": content,
                "delegation_id": None,
            }
        )

    async def marker(self) -> None:
        """Send a bad event and wait for its error: everything sent before it is handled."""
        await self.send({"type": "marker.bogus"})
        await self.until("error")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    def said(self) -> str:
        """The model's words, from the output transcript fragments."""
        return "".join(e["delta"] for e in self.of("session.output_transcript.delta"))

    async def until_said(self, words: str, timeout: float = 10) -> str:
        """Read until the output transcript contains `words`."""
        async with asyncio.timeout(timeout):
            while words not in self.said():
                await self.until("session.output_transcript.delta")
        return self.said()


@pytest.fixture
async def connection(sim: Simulator) -> AsyncGenerator[LiveClient]:
    """A connected socket; no session.start sent yet."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{sim.base_url}/v1/live/sessions", headers=AUTH) as ws,
    ):
        yield LiveClient(ws)


@pytest.fixture
async def live(connection: LiveClient) -> LiveClient:
    """A started session with Twilio's μ-law format."""
    await connection.start()
    return connection


async def recorded(
    sim: Simulator, name: str, timeout: float = 5
) -> list[dict[str, Any]]:
    """Wait until the recorder has an event of this name; return them all."""
    async with asyncio.timeout(timeout):
        while not sim.recorder.events_named(name):
            await asyncio.sleep(0.01)
    return sim.recorder.events_named(name)


async def speech(sim: Simulator, text: str) -> bytes:
    """The sleeper saying `text`, registered so that it can be transcribed.

    Synthetic speech has no leading or trailing silence, so pauses are exactly
    what a test sends.
    """
    voice = audio.synthetic_speech(text)
    sim.speech.register(text, voice)
    return voice


# --- connecting and starting ------------------------------------------------------------


async def test_bad_key_refuses_the_upgrade(sim: Simulator) -> None:
    """A wrong key gets 401 on the upgrade, as for every OpenAI endpoint."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(
                f"{sim.base_url}/v1/live/sessions",
                headers={"Authorization": "Bearer sk-wrong-000000"},
            )
    assert err.value.status == 401


async def test_query_string_refuses_the_upgrade(sim: Simulator) -> None:
    """The model goes in session.start, never in the URL."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(
                f"{sim.base_url}/v1/live/sessions?model=gpt-live-1", headers=AUTH
            )
    assert err.value.status == 400


async def test_session_started_shape(connection: LiveClient) -> None:
    """session.started carries the id, expiry, status and the resolved config."""
    started = await connection.start()
    session = started["session"]
    assert started["client_event_id"] == "start_1"
    assert session["id"].startswith("live_")
    assert isinstance(session["expires_at"], int)
    assert {k: v for k, v in session.items() if k not in ("id", "expires_at")} == {
        "status": "active",
        "model": "gpt-live-1",
        "instructions": SESSION["instructions"],
        "audio": {"format": TWILIO_FORMAT, "output": {"voice": "marin"}},
        "delegation": {"type": "client"},
        "input": [],
        "store": False,
    }


async def test_session_started_is_recorded(sim: Simulator, live: LiveClient) -> None:
    """The recorder keeps the full resolved session for tests."""
    (started,) = sim.recorder.events_named("live_session_started")
    assert started["session"]["audio"]["format"] == TWILIO_FORMAT


@pytest.mark.parametrize(
    ("session", "param"),
    [
        (
            {**SESSION, "turn_detection": {"type": "server_vad"}},
            "session.turn_detection",
        ),
        ({**SESSION, "type": "live"}, "session.type"),
        ({**SESSION, "voice": "marin"}, "session.voice"),
        (
            {**SESSION, "audio": {"input": {"format": TWILIO_FORMAT}}},
            "session.audio.input",
        ),
        (
            {**SESSION, "audio": {"format": {**TWILIO_FORMAT, "channels": 1}}},
            "session.audio.format.channels",
        ),
        (
            {
                **SESSION,
                "audio": {"output": {"voice": "marin", "format": TWILIO_FORMAT}},
            },
            "session.audio.output.format",
        ),
        (
            {**SESSION, "delegation": {"type": "client", "tools": []}},
            "session.delegation.tools",
        ),
        (
            {
                **SESSION,
                "input": [
                    {
                        "type": "message",
                        "role": "developer",
                        "content": [{"type": "input_text", "text": "x"}],
                        "name": "coach",
                    }
                ],
            },
            "session.input[0].name",
        ),
    ],
)
async def test_unknown_session_field_is_refused(
    connection: LiveClient, session: dict[str, Any], param: str
) -> None:
    """The schema is strict: an unknown field anywhere names its path."""
    await connection.send({"type": "session.start", "session": session})
    error = await connection.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (
        "unknown_parameter",
        param,
    )


async def test_refused_start_does_not_start(connection: LiveClient) -> None:
    """After a refused session.start nothing runs: an append is refused too."""
    await connection.send(
        {"type": "session.start", "session": {**SESSION, "tools": []}}
    )
    await connection.until("error")
    await connection.append("instructions", "Greet Alice now.")
    error = await connection.until("error")
    assert error["error"]["code"] == "session_not_started"


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("gpt-realtime-2", "invalid_model"),
        ("gpt-4.1-mini", "invalid_model"),
        ("gpt-live-9", "model_not_found"),
    ],
)
async def test_model_must_be_a_live_model(
    connection: LiveClient, model: str, code: str
) -> None:
    """A Realtime (or any non-Live) model id is refused in session.start."""
    await connection.send(
        {"type": "session.start", "session": {**SESSION, "model": model}}
    )
    error = await connection.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (code, "session.model")


async def test_model_is_required(connection: LiveClient) -> None:
    """session.start without a model is refused."""
    session = {k: v for k, v in SESSION.items() if k != "model"}
    await connection.send({"type": "session.start", "session": session})
    error = await connection.until("error")
    assert error["error"]["param"] == "session.model"


async def test_live_model_starts_with_gpt_live_1_1(connection: LiveClient) -> None:
    """Both Live models are accepted."""
    started = await connection.start({**SESSION, "model": "gpt-live-1.1"})
    assert started["session"]["model"] == "gpt-live-1.1"


@pytest.mark.parametrize(
    "audio_format",
    [
        {"type": "audio/pcmu"},
        {"type": "audio/pcmu", "rate": 16000},
        {"type": "audio/pcm", "rate": 8000},
        {"type": "g711_ulaw", "rate": 8000},
        "audio/pcmu",
    ],
)
async def test_audio_format_must_be_documented(
    connection: LiveClient, audio_format: Any
) -> None:
    """Only pcmu/pcma at 8000 and pcm at 16000/24000 are formats."""
    session = {**SESSION, "audio": {"format": audio_format}}
    await connection.send({"type": "session.start", "session": session})
    error = await connection.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (
        "invalid_value",
        "session.audio.format",
    )


async def test_second_start_is_an_error(live: LiveClient) -> None:
    """session.start is sent once."""
    await live.send({"type": "session.start", "session": SESSION})
    error = await live.until("error")
    assert error["error"]["code"] == "session_already_started"


async def test_anything_before_start_is_an_error(connection: LiveClient) -> None:
    """The first message must be session.start."""
    await connection.send(
        {
            "type": "session.input_audio.append",
            "audio": base64.b64encode(b"\xff").decode(),
        }
    )
    error = await connection.until("error")
    assert error["error"]["code"] == "session_not_started"


async def test_unknown_event_lists_the_client_events(live: LiveClient) -> None:
    """An event that does not exist gets an error listing the valid ones."""
    await live.send({"type": "input_audio_buffer.append", "event_id": "e9"})
    error = await live.until("error")
    assert "'session.instructions.append'" in error["error"]["message"]


async def test_error_echoes_the_client_event_id(live: LiveClient) -> None:
    """Errors name the event they answer."""
    await live.send({"type": "no.such.event", "event_id": "e9"})
    error = await live.until("error")
    assert error["error"]["client_event_id"] == "e9"


async def test_unknown_event_field_is_refused(live: LiveClient) -> None:
    """Client events are strict too."""
    await live.send({"type": "session.input_audio.append", "audio": "", "format": "x"})
    error = await live.until("error")
    assert error["error"]["param"] == "format"


async def test_invalid_base64_is_an_error(live: LiveClient) -> None:
    """Input audio must be base64."""
    await live.send({"type": "session.input_audio.append", "audio": "%%%"})
    error = await live.until("error")
    assert error["error"]["param"] == "audio"


async def test_refuse_next_sends_an_error_and_closes(
    sim: Simulator, connection: LiveClient
) -> None:
    """A scenario can make the next start fail like an account without access."""
    sim.live.refuse_next = "model_not_found"
    await connection.send({"type": "session.start", "session": SESSION})
    error = await connection.until("error")
    await connection.until_closed()
    assert (error["error"]["code"], connection.ws.close_code) == (
        "model_not_found",
        1008,
    )


# --- appends and the timeline --------------------------------------------------------


async def test_ack_waits_while_no_input_audio(live: LiveClient) -> None:
    """Without input audio the timeline stands still: no ack in 15 simulated seconds."""
    await live.append("instructions", "Greet Alice now.")
    await live.until("session.usage.updated")
    assert not live.of("session.instructions.appended")


async def test_ack_comes_once_input_audio_flows(live: LiveClient) -> None:
    """Input audio carries the timeline past the append: then it is acknowledged."""
    await live.append("instructions", "Greet Alice now.", event_id="greet")
    await live.until("session.usage.updated")
    await live.audio(audio.silence(200))
    ack = await live.until("session.instructions.appended")
    assert (ack["client_event_id"], ack["start_ms"]) == ("greet", 0)


async def test_appends_are_placed_one_after_another(live: LiveClient) -> None:
    """Each append starts where the one before it ends, in timeline ms."""
    await live.append("thinking", "Alice's alarm was at 6:30.", event_id="t1")
    await live.append("thinking", "She loves coffee.", event_id="t2")
    await live.audio(audio.silence(400))
    await live.until("session.thinking.appended")
    second = await live.until("session.thinking.appended")
    first = live.of("session.thinking.appended")[0]
    assert second["start_ms"] == first["end_ms"] > first["start_ms"]


async def test_placed_append_is_recorded(sim: Simulator, live: LiveClient) -> None:
    """The recorder names each placed append's kind and content."""
    await live.append("commentary", "Alice's alarm was at 6:30.")
    await live.audio(audio.silence(200))
    await live.until("session.commentary.appended")
    placed = sim.recorder.events_named("live_append_placed")
    assert [(p["kind"], p["content"]) for p in placed] == [
        ("commentary", "Alice's alarm was at 6:30.")
    ]


@pytest.mark.parametrize(
    ("event", "param"),
    [
        ({"content": "Greet Alice."}, "delegation_id"),
        ({"delegation_id": None}, "content"),
        ({"content": 42, "delegation_id": None}, "content"),
        ({"content": "x" * 2001, "delegation_id": None}, "content"),
        ({"content": "Greet Alice.", "delegation_id": "del_unknown"}, "delegation_id"),
    ],
)
async def test_bad_append_is_refused(
    live: LiveClient, event: dict[str, Any], param: str
) -> None:
    """The content (a string of at most ~500 tokens) and delegation_id are required."""
    await live.send({"type": "session.instructions.append", **event})
    error = await live.until("error")
    assert error["error"]["param"] == param


# --- what the model says --------------------------------------------------------------


async def test_greeting_on_an_instructions_append(live: LiveClient) -> None:
    """An appended instruction to greet makes the model greet the sleeper by name."""
    await live.append("instructions", "Greet Alice now, then pause and listen.")
    await live.audio(audio.silence(200))
    said = await live.until_said("?")
    assert said == "Good morning, Alice! It's time to wake up. How did you sleep?"


async def test_spoken_audio_is_transcribable(sim: Simulator, live: LiveClient) -> None:
    """The coach's audio is registered, so the simulated phone can transcribe it."""
    await live.append("instructions", "Greet Alice now.")
    await live.audio(audio.silence(200))
    said = await live.until_said("sleep?")
    spoken = b"".join(
        base64.b64decode(e["delta"]) for e in live.of("session.output_audio.delta")
    )
    assert sim.speech.transcribe(spoken) == said


@pytest.mark.parametrize(
    ("kind", "content", "line"),
    [
        (
            "instructions",
            "Alice is confirmed out of bed. Congratulate her in one sentence.",
            "Well done, Alice, you're up and out of bed! I'm proud of you.",
        ),
        (
            "instructions",
            "Say goodbye now and end the call.",
            "Have a wonderful day, Alice. Goodbye!",
        ),
        (
            "instructions",
            "Alice has been silent for a while. Check that she is awake.",
            "Are you still there, Alice? Come on, it's time to get up!",
        ),
        (
            "commentary",
            "Greet the caller immediately.",
            "Good morning, Alice! It's time to wake up. How did you sleep?",
        ),
        ("commentary", "It is raining outside.", "It is raining outside."),
    ],
)
async def test_append_chooses_the_line(
    sim: Simulator, live: LiveClient, kind: str, content: str, line: str
) -> None:
    """Instructions and commentary make the model speak a line that fits them."""
    await live.append(kind, content)
    await live.audio(audio.silence(300))
    await live.until("session.output_transcript.delta")
    assert [e["text"] for e in sim.recorder.events_named("live_line")] == [line]


async def test_thinking_append_never_speaks(live: LiveClient) -> None:
    """A thinking append is silent context: no speech follows it."""
    await live.append("thinking", "Greet Alice now and say good morning.")
    await live.audio(audio.silence(300))
    await live.until("session.thinking.appended")
    await live.until("session.usage.updated")
    assert not live.of("session.output_transcript.delta")


async def test_silent_until_told(live: LiveClient) -> None:
    """After session.started the model waits: 15 s of output is all silence."""
    await live.until("session.usage.updated")
    chunks = [
        base64.b64decode(e["delta"]) for e in live.of("session.output_audio.delta")
    ]
    assert set(b"".join(chunks)) == set(SILENCE_BYTE)


async def test_caller_speech_passes_through_and_is_transcribed(
    sim: Simulator, live: LiveClient
) -> None:
    """μ-law passed through untouched is recognised, in word-group fragments."""
    line = "Five more minutes please, I am so tired"
    await live.audio(await speech(sim, line) + audio.silence(800))
    await live.marker()
    heard = "".join(e["delta"] for e in live.of("session.input_transcript.delta"))
    assert heard == line


async def _caller_spans(sim: Simulator, live: LiveClient) -> list[int]:
    """start_ms/end_ms of each input transcript fragment, after 1 s of silence."""
    await live.audio(audio.silence(1000))
    await live.audio(await speech(sim, "Five more minutes please, I am so tired"))
    await live.audio(audio.silence(800))
    await live.marker()
    fragments = live.of("session.input_transcript.delta")
    return [ms for e in fragments for ms in (e["start_ms"], e["end_ms"])]


async def test_input_transcript_is_on_the_timeline(
    sim: Simulator, live: LiveClient
) -> None:
    """Fragments are timed on the session timeline: after the silence before them."""
    spans = await _caller_spans(sim, live)
    assert spans[0] >= 1000


async def test_input_transcript_fragments_are_in_order(
    sim: Simulator, live: LiveClient
) -> None:
    """Each fragment starts where the one before it ended, or later."""
    spans = await _caller_spans(sim, live)
    assert spans == sorted(spans)


async def test_caller_utterance_gets_a_reply(sim: Simulator, live: LiveClient) -> None:
    """Speech followed by ~600 ms of silence is a turn the model answers."""
    await live.audio(await speech(sim, "five more minutes") + audio.silence(800))
    said = await live.until_said("?")
    assert said.startswith("No more snoozing!")


async def test_no_reply_before_the_pause(sim: Simulator, live: LiveClient) -> None:
    """The turn ends only after ~600 ms of silence: 400 ms is not enough."""
    await live.audio(await speech(sim, "five more minutes") + audio.silence(400))
    await live.marker()
    assert not sim.recorder.events_named("live_heard")


async def test_goodbye_allowed_once_confirmed_up(
    sim: Simulator, connection: LiveClient
) -> None:
    """Once an append confirms the sleeper up, 'goodbye' is no longer refused."""
    await connection.start(
        {**SESSION, "instructions": "Wake Alice. She has not yet proven she is up."}
    )
    await connection.append("thinking", "Alice is confirmed out of bed.")
    await connection.audio(await speech(sim, "Thanks, goodbye!") + audio.silence(800))
    said = await connection.until_said("day")
    assert "Have a wonderful day" in said


# --- the output track and barge-in -------------------------------------------------------


async def test_output_is_paced_in_real_time(live: LiveClient) -> None:
    """15 simulated seconds bring ~150 deltas of 100 ms: paced, not a burst."""
    await live.until("session.usage.updated")
    assert 140 <= len(live.of("session.output_audio.delta")) <= 160


async def test_output_deltas_are_100_ms(live: LiveClient) -> None:
    """Each output delta is 100 ms of μ-law: 800 bytes."""
    await live.until("session.output_audio.delta")
    await live.until("session.output_audio.delta")
    sizes = {
        len(base64.b64decode(e["delta"])) for e in live.of("session.output_audio.delta")
    }
    assert sizes == {800}


async def test_barge_in_stops_the_line(sim: Simulator, live: LiveClient) -> None:
    """Caller speech while the model talks ends its line: only silence follows."""
    long_line = " ".join(
        ["Remember to drink a glass of water and open the curtains."] * 4
    )
    await live.append("commentary", long_line)
    await live.audio(audio.silence(300))
    await live.until("session.output_transcript.delta")
    await live.audio(await speech(sim, "Stop, stop, I am up."))
    await live.marker()
    after = len(live.events)
    for _ in range(5):
        await live.until("session.output_audio.delta")
    chunks = [
        base64.b64decode(e["delta"])
        for e in live.events[after:]
        if e["type"] == "session.output_audio.delta"
    ]
    assert set(b"".join(chunks)) == set(SILENCE_BYTE)


async def test_barge_in_is_recorded(sim: Simulator, live: LiveClient) -> None:
    """The recorder notes the cut line and how much of it went out."""
    long_line = " ".join(
        ["Remember to drink a glass of water and open the curtains."] * 4
    )
    await live.append("commentary", long_line)
    await live.audio(audio.silence(300))
    await live.until("session.output_transcript.delta")
    await live.audio(await speech(sim, "Stop, stop, I am up."))
    await live.marker()
    (cut,) = sim.recorder.events_named("live_barge_in")
    assert cut["text"] == long_line


async def test_instructions_append_waits_for_the_caller(
    sim: Simulator, live: LiveClient
) -> None:
    """An append taking effect while the caller talks is spoken after their turn."""
    voice = await speech(sim, "Hello? Who is this calling me at this hour?")
    await live.audio(voice[:4000])
    await live.append("instructions", "Greet Alice now.")
    await live.audio(voice[4000:])
    await live.until("session.instructions.appended")
    await live.audio(audio.silence(800))
    said = await live.until_said("sleep?")
    assert said.startswith("Good morning, Alice!")


# --- other client events ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["response.create", "response.item.create"])
async def test_response_events_need_responses_delegation(
    live: LiveClient, kind: str
) -> None:
    """The voice model has no tools: response.* only works with Responses delegation."""
    event: dict[str, Any] = {"type": kind}
    if kind == "response.item.create":
        event["item"] = {"type": "function_call_output", "call_id": "c", "output": "{}"}
    await live.send(event)
    error = await live.until("error")
    assert error["error"]["message"] == f"{kind} requires Responses delegation."


async def test_mute_is_acknowledged(live: LiveClient) -> None:
    """session.input_audio.mute gets session.input_audio.muted."""
    await live.send({"type": "session.input_audio.mute", "event_id": "m1"})
    muted = await live.until("session.input_audio.muted")
    assert muted["client_event_id"] == "m1"


async def test_instructions_cannot_be_updated(live: LiveClient) -> None:
    """Instructions are fixed at start: session.update may not change them."""
    await live.send({"type": "session.update", "session": {"instructions": "x"}})
    error = await live.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (
        "immutable_field_update",
        "session.instructions",
    )


async def test_fixture_plays_and_reports_done(live: LiveClient) -> None:
    """A fixture clip plays on the track; played follows once it has gone out."""
    clip = bytes(2 * 2400)  # 100 ms of PCM16 at 24 kHz
    await live.send(
        {
            "type": "session.output_audio.fixture.play",
            "audio": base64.b64encode(clip).decode(),
        }
    )
    await live.until("session.output_audio.fixture.playing")
    played = await live.until("session.output_audio.fixture.played")
    assert played["type"] == "session.output_audio.fixture.played"


async def test_other_format_is_noted_once(
    sim: Simulator, connection: LiveClient
) -> None:
    """The simulated phone sends μ-law; a session in PCM is noted as a mismatch."""
    await connection.start(
        {**SESSION, "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}
    )
    await connection.audio(audio.silence(100))
    await connection.marker()
    assert len(sim.recorder.events_named("live_input_format_mismatch")) == 1


async def test_pcm_session_sends_pcm_deltas(connection: LiveClient) -> None:
    """A PCM 24 kHz session gets 100 ms of PCM16 per delta: 4800 bytes."""
    await connection.start(
        {**SESSION, "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}
    )
    delta = await connection.until("session.output_audio.delta")
    assert len(base64.b64decode(delta["delta"])) == 4800


# --- usage, closing and failures --------------------------------------------------------


async def test_usage_is_cumulative(live: LiveClient) -> None:
    """session.usage.updated comes every ~15 s with the total seconds so far."""
    first = await live.until("session.usage.updated")
    second = await live.until("session.usage.updated")
    assert (int(first["usage"]["seconds"]), int(second["usage"]["seconds"])) == (15, 30)


async def test_close_sends_session_closed(live: LiveClient) -> None:
    """session.close gets session.closed with the reason, the session and usage."""
    await live.send({"type": "session.close"})
    closed = await live.until("session.closed")
    assert (closed["reason"], closed["session"]["status"]) == (
        "close_requested",
        "closed",
    )
    assert closed["usage"]["seconds"] > 0


async def test_close_then_the_server_closes_the_socket(
    sim: Simulator, live: LiveClient
) -> None:
    """After session.closed the server ends the connection normally."""
    await live.send({"type": "session.close"})
    await live.until("session.closed")
    await live.until_closed()
    assert live.ws.close_code == 1000


async def test_close_reports_pending_appends(live: LiveClient) -> None:
    """An append still waiting for the timeline gets an error when the session closes."""
    await live.append("instructions", "Greet Alice now.", event_id="late")
    await live.send({"type": "session.close"})
    error = await live.until("error")
    assert error["error"]["client_event_id"] == "late"


async def test_close_is_recorded(sim: Simulator, live: LiveClient) -> None:
    """The recorder notes why the session closed."""
    await live.send({"type": "session.close"})
    await live.until_closed()
    assert await recorded(sim, "live_closed") == [{"reason": "close_requested"}]


async def test_client_disconnect_cleans_up(sim: Simulator, live: LiveClient) -> None:
    """A client that just goes away leaves no session and no task behind."""
    await live.append("instructions", "Greet Alice now.")
    await live.audio(audio.silence(200))
    await live.until("session.output_transcript.delta")
    await live.ws.close()
    await recorded(sim, "live_closed")
    assert (
        sim.live.sessions,
        [t for t in asyncio.all_tasks() if t.get_name().startswith("live ")],
    ) == ([], [])


async def test_errors_do_not_close_the_socket(live: LiveClient) -> None:
    """An error leaves the session usable."""
    await live.send({"type": "no.such.event"})
    await live.until("error")
    await live.append("thinking", "Still here.")
    await live.audio(audio.silence(200))
    ack = await live.until("session.thinking.appended")
    assert ack["client_event_id"] == "a1"


async def test_drop_after_cuts_the_connection(
    sim: Simulator, connection: LiveClient
) -> None:
    """drop_after aborts the next session: abnormal close, no session.closed."""
    sim.live.drop_after = 1.0
    await connection.start()
    await connection.until_closed()
    assert (connection.ws.close_code, connection.of("session.closed")) == (1006, [])


async def test_drop_after_is_used_once(sim: Simulator, connection: LiveClient) -> None:
    """The knob applies to the next session only, and the drop is recorded."""
    sim.live.drop_after = 0.5
    await connection.start()
    await connection.until_closed()
    assert (sim.live.drop_after, sim.recorder.events_named("live_dropped")) == (
        None,
        [{"after": 0.5}],
    )


@pytest.mark.parametrize("status", [401, 404, 429, 500])
async def test_fault_refuses_the_upgrade(sim: Simulator, status: int) -> None:
    """An injected fault answers the upgrade with its status instead of 101."""
    sim.fail("openai", "/v1/live/sessions", status=status)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(f"{sim.base_url}/v1/live/sessions", headers=AUTH)
    assert err.value.status == status


async def test_stop_leaves_no_session_tasks(sim: Simulator, live: LiveClient) -> None:
    """Stopping the simulator mid-session ends every task the session started."""
    await live.append("instructions", "Greet Alice now.")
    await live.audio(audio.silence(200))
    await live.until("session.output_transcript.delta")
    await sim.stop()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("live ")]


async def test_client_disconnect_is_recorded(sim: Simulator, live: LiveClient) -> None:
    """The recorder tells a client's disconnect from a requested close."""
    await live.ws.close()
    assert await recorded(sim, "live_closed") == [{"reason": "client_disconnected"}]


# --- the rest of the schema, formats and delegation modes --------------------------------


def _message(role: str, part: str = "input_text", text: Any = "x") -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": part, "text": text}]}


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ("gpt-live-1", "invalid_type", "session"),
        ({**SESSION, "instructions": 7}, "invalid_type", "session.instructions"),
        (
            {**SESSION, "instructions": "x" * 70000},
            "string_above_max_length",
            "session.instructions",
        ),
        ({**SESSION, "store": "yes"}, "invalid_type", "session.store"),
        ({**SESSION, "audio": "pcmu"}, "invalid_value", "session.audio"),
        (
            {**SESSION, "audio": {"format": TWILIO_FORMAT, "output": "marin"}},
            "invalid_value",
            "session.audio.output",
        ),
        (
            {
                **SESSION,
                "audio": {"format": TWILIO_FORMAT, "output": {"voice": "nova"}},
            },
            "invalid_value",
            "session.audio.output.voice",
        ),
        ({**SESSION, "delegation": "client"}, "invalid_value", "session.delegation"),
        (
            {**SESSION, "delegation": {"type": "server"}},
            "invalid_value",
            "session.delegation.type",
        ),
        (
            {**SESSION, "delegation": {"type": "responses", "responses": {}}},
            "missing_required_parameter",
            "session.delegation.responses.model",
        ),
        ({**SESSION, "input": "hello"}, "invalid_value", "session.input"),
        (
            {**SESSION, "input": [_message("developer")] * 129},
            "array_above_max_length",
            "session.input",
        ),
        (
            {**SESSION, "input": [{"type": "item_reference"}]},
            "invalid_value",
            "session.input[0].type",
        ),
        (
            {**SESSION, "input": [_message("system")]},
            "invalid_value",
            "session.input[0].role",
        ),
        (
            {**SESSION, "input": [{**_message("user"), "content": []}]},
            "invalid_value",
            "session.input[0].content",
        ),
        (
            {**SESSION, "input": [_message("assistant", "input_text")]},
            "invalid_value",
            "session.input[0].content[0].type",
        ),
        (
            {**SESSION, "input": [_message("user", text=None)]},
            "invalid_type",
            "session.input[0].content[0].text",
        ),
    ],
)
async def test_invalid_session_value_is_refused(
    connection: LiveClient, session: Any, code: str, param: str
) -> None:
    """Values are checked too: each refusal names its code and field."""
    await connection.send({"type": "session.start", "session": session})
    error = await connection.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (code, param)


async def test_session_is_required(connection: LiveClient) -> None:
    """session.start without a session is refused."""
    await connection.send({"type": "session.start"})
    error = await connection.until("error")
    assert error["error"]["param"] == "session"


async def test_custom_voice_and_history_are_accepted(connection: LiveClient) -> None:
    """A custom voice {id} and a startup history come back resolved."""
    history = [
        _message("developer"),
        _message("user"),
        _message("assistant", "output_text"),
    ]
    started = await connection.start(
        {
            **SESSION,
            "audio": {"format": TWILIO_FORMAT, "output": {"voice": {"id": "voice_1"}}},
            "input": history,
            "store": True,
        }
    )
    assert (started["session"]["audio"]["output"], started["session"]["input"]) == (
        {"voice": {"id": "voice_1"}},
        history,
    )


@pytest.mark.parametrize(
    ("raw", "code"),
    [("not json", "invalid_json"), ("[1, 2]", "invalid_json")],
)
async def test_malformed_message_is_an_error(
    live: LiveClient, raw: str, code: str
) -> None:
    """Client messages must be JSON objects."""
    await live.ws.send_str(raw)
    error = await live.until("error")
    assert error["error"]["code"] == code


async def test_binary_frame_is_an_error(live: LiveClient) -> None:
    """The protocol is JSON text frames only."""
    await live.ws.send_bytes(b"\xff" * 160)
    error = await live.until("error")
    assert error["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("update", "code", "param"),
    [
        ({"model": "gpt-live-1.1"}, "immutable_field_update", "session.model"),
        (
            {"delegation": {"type": "responses", "responses": {"model": "gpt-5"}}},
            "immutable_field_update",
            "session.delegation.type",
        ),
        ({"voice": "cedar"}, "unknown_parameter", "session.voice"),
        (None, "missing_required_parameter", "session"),
    ],
)
async def test_bad_session_update_is_refused(
    live: LiveClient, update: Any, code: str, param: str
) -> None:
    """Only the delegation settings (same type) and triggers may change mid-session."""
    await live.send({"type": "session.update", "session": update})
    error = await live.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (code, param)


async def test_session_update_of_the_delegation(live: LiveClient) -> None:
    """A delegation update of the same type is acknowledged with session.updated."""
    await live.send(
        {
            "type": "session.update",
            "event_id": "u1",
            "session": {
                "delegation": {"type": "client", "acknowledgement_delay_ms": 5}
            },
        }
    )
    updated = await live.until("session.updated")
    assert updated["session"]["delegation"] == {
        "type": "client",
        "acknowledgement_delay_ms": 5,
    }


async def test_responses_delegation_accepts_response_events(
    connection: LiveClient,
) -> None:
    """With Responses delegation, response.create is accepted (nothing is pending)."""
    await connection.start(
        {
            **SESSION,
            "delegation": {"type": "responses", "responses": {"model": "gpt-5"}},
        }
    )
    await connection.send({"type": "response.create"})
    await connection.marker()
    assert [e["error"]["message"] for e in connection.of("error")] == [
        "Invalid value: 'marker.bogus'. Supported values are: "
        + ", ".join(f"'{name}'" for name in openai_live.CLIENT_EVENTS)
        + "."
    ]


async def test_decisions_need_decisions_delegation(live: LiveClient) -> None:
    """decision.* events need Decisions delegation."""
    await live.send({"type": "decision.create", "event_id": "d1"})
    error = await live.until("error")
    assert error["error"]["message"] == "decision.create requires Decisions delegation."


async def test_decisions_delegation_accepts_decisions(connection: LiveClient) -> None:
    """With Decisions delegation, decision.create is accepted."""
    await connection.start(
        {**SESSION, "delegation": {"type": "decisions", "decisions": {"model": "x"}}}
    )
    await connection.send({"type": "decision.create", "event_id": "d1"})
    await connection.marker()
    assert len(connection.of("error")) == 1


async def test_unmute_is_acknowledged(live: LiveClient) -> None:
    """session.input_audio.unmute gets session.input_audio.unmuted."""
    await live.send({"type": "session.input_audio.unmute"})
    unmuted = await live.until("session.input_audio.unmuted")
    assert "client_event_id" not in unmuted


async def test_muted_input_is_not_heard(sim: Simulator, live: LiveClient) -> None:
    """While muted, the model hears silence: no utterance."""
    await live.send({"type": "session.input_audio.mute"})
    await live.audio(await speech(sim, "five more minutes") + audio.silence(800))
    await live.marker()
    assert not sim.recorder.events_named("live_heard")


async def test_pcma_session_speaks_a_law(connection: LiveClient) -> None:
    """An A-law session's silence is A-law silence (0xD5)."""
    await connection.start(
        {**SESSION, "audio": {"format": {"type": "audio/pcma", "rate": 8000}}}
    )
    delta = await connection.until("session.output_audio.delta")
    assert set(base64.b64decode(delta["delta"])) == {0xD5}


async def test_pcma_session_hears_a_law_speech(
    sim: Simulator, connection: LiveClient
) -> None:
    """A-law speech is detected (though only μ-law can be transcribed)."""
    await connection.start(
        {**SESSION, "audio": {"format": {"type": "audio/pcma", "rate": 8000}}}
    )
    voice = audio.ulaw_decode(await speech(sim, "five more minutes"))
    await connection.audio(audio.alaw_encode(voice) + bytes([0xD5]) * 8 * 800)
    await connection.marker()
    assert sim.recorder.events_named("live_heard")[0]["text"] == ""


async def test_pcma_session_speaks_the_line_in_a_law(connection: LiveClient) -> None:
    """The coach's line goes out A-law encoded."""
    await connection.start(
        {**SESSION, "audio": {"format": {"type": "audio/pcma", "rate": 8000}}}
    )
    await connection.append("instructions", "Greet Alice now.")
    await connection.audio(bytes([0xD5]) * 8 * 200)
    await connection.until("session.output_transcript.delta")
    spoken = b"".join(
        base64.b64decode(e["delta"])
        for e in connection.of("session.output_audio.delta")
    )
    assert set(spoken) - {0xD5}


async def test_pcm16_session(connection: LiveClient) -> None:
    """A PCM 16 kHz session takes even-sized chunks only."""
    await connection.start(
        {**SESSION, "audio": {"format": {"type": "audio/pcm", "rate": 16000}}}
    )
    await connection.send(
        {
            "type": "session.input_audio.append",
            "audio": base64.b64encode(b"\0" * 3).decode(),
        }
    )
    error = await connection.until("error")
    assert error["error"]["param"] == "audio"


async def test_pcm16_session_speaks_pcm(connection: LiveClient) -> None:
    """A PCM 16 kHz line is sent as PCM16 (3200 bytes per 100 ms)."""
    await connection.start(
        {**SESSION, "audio": {"format": {"type": "audio/pcm", "rate": 16000}}}
    )
    await connection.append("instructions", "Greet Alice now.")
    await connection.audio(bytes(32 * 200))
    await connection.until("session.output_transcript.delta")
    sizes = {
        len(base64.b64decode(e["delta"]))
        for e in connection.of("session.output_audio.delta")
    }
    assert sizes == {3200}


async def test_session_expires(sim: Simulator, connection: LiveClient) -> None:
    """At the duration limit the server closes the session: reason expired."""
    sim.live.max_session_seconds = 2.0
    await connection.start()
    closed = await connection.until("session.closed")
    assert closed["reason"] == "expired"


async def test_refuse_next_with_another_code(
    sim: Simulator, connection: LiveClient
) -> None:
    """Any code can be refused with; unknown ones get a generic message."""
    sim.live.refuse_next = "org_suspended"
    await connection.send({"type": "session.start", "session": SESSION})
    error = await connection.until("error")
    assert error["error"] == {
        "type": "invalid_request_error",
        "code": "org_suspended",
        "message": "The session could not be started.",
    }


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({}, "missing_required_parameter"),
        ({"audio": "%%%"}, "invalid_value"),
        ({"audio": base64.b64encode(b"\0" * 3).decode()}, "invalid_value"),
    ],
)
async def test_bad_fixture_is_refused(
    live: LiveClient, event: dict[str, Any], code: str
) -> None:
    """A fixture is base64 PCM16 (an even byte count)."""
    await live.send({"type": "session.output_audio.fixture.play", **event})
    error = await live.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (code, "audio")


async def test_one_fixture_at_a_time(live: LiveClient) -> None:
    """A second fixture while one plays is refused."""
    clip = base64.b64encode(bytes(2 * 24000)).decode()
    await live.send({"type": "session.output_audio.fixture.play", "audio": clip})
    await live.send({"type": "session.output_audio.fixture.play", "audio": clip})
    error = await live.until("error")
    assert error["error"]["code"] == "fixture_already_playing"


async def test_no_instructions_during_a_fixture(live: LiveClient) -> None:
    """Instructions cannot be appended while a fixture plays."""
    clip = base64.b64encode(bytes(2 * 24000)).decode()
    await live.send({"type": "session.output_audio.fixture.play", "audio": clip})
    await live.append("instructions", "Greet Alice now.")
    error = await live.until("error")
    assert error["error"]["code"] == "fixture_playing"


async def test_fixture_interrupts_the_line(sim: Simulator, live: LiveClient) -> None:
    """A fixture cuts the model's line short."""
    long_line = " ".join(
        ["Remember to drink a glass of water and open the curtains."] * 4
    )
    await live.append("commentary", long_line)
    await live.audio(audio.silence(300))
    await live.until("session.output_transcript.delta")
    clip = base64.b64encode(bytes(2 * 2400)).decode()
    await live.send({"type": "session.output_audio.fixture.play", "audio": clip})
    await live.until("session.output_audio.fixture.playing")
    (replaced,) = sim.recorder.events_named("live_line_replaced")
    assert replaced["text"] == long_line


async def test_instructions_interrupt_the_line(
    sim: Simulator, live: LiveClient
) -> None:
    """An instructions append takes over from the line being spoken."""
    long_line = " ".join(
        ["Remember to drink a glass of water and open the curtains."] * 4
    )
    await live.append("commentary", long_line)
    await live.audio(audio.silence(300))
    await live.until("session.output_transcript.delta")
    await live.append("instructions", "Say goodbye now.", event_id="bye")
    await live.audio(audio.silence(200))
    await live.until_said("Goodbye!")
    assert [e["text"] for e in sim.recorder.events_named("live_line_replaced")] == [
        long_line
    ]


async def test_commentary_waits_for_the_line(sim: Simulator, live: LiveClient) -> None:
    """A commentary's line follows the line being spoken, whole."""
    await live.append("instructions", "Greet Alice now.")
    await live.audio(audio.silence(200))
    await live.until("session.output_transcript.delta")
    await live.append("commentary", "It is raining outside.", event_id="c1")
    await live.audio(audio.silence(200))
    said = await live.until_said("outside.")
    assert said == (
        "Good morning, Alice! It's time to wake up. How did you sleep?"
        "It is raining outside."
    )
