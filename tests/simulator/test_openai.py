"""The simulated OpenAI: models, chat completions, and the Realtime API (GA only)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator
import json
from typing import Any

import aiohttp
import openai
import pytest

from simulator import audio
from simulator.accounts import DEFAULT_OPENAI_KEY
from simulator.openai_realtime import BETA_CLOSE_CODE
from simulator.server import Simulator

GA_SESSION = {
    "type": "realtime",
    "instructions": "You are calling Alice to wake her up.",
    "tools": [
        {"type": "function", "name": "end_call", "parameters": {"type": "object"}}
    ],
    "audio": {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-mini-transcribe"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
    },
}


@pytest.fixture
async def client(sim: Simulator) -> AsyncGenerator[openai.AsyncOpenAI]:
    """The real OpenAI SDK, pointed at the simulator."""
    async with openai.AsyncOpenAI(
        api_key=DEFAULT_OPENAI_KEY, base_url=sim.openai_base_url, max_retries=0
    ) as sdk:
        yield sdk


async def test_models_and_bad_key(sim: Simulator, client: openai.AsyncOpenAI) -> None:
    """The SDK lists models; a wrong key is AuthenticationError."""
    models = await client.models.list()
    assert "gpt-realtime-2" in [model.id for model in models.data]
    with pytest.raises(openai.AuthenticationError):
        await client.with_options(api_key="sk-wrong-000000").models.list()


async def test_chat_completion_is_context_aware(
    sim: Simulator, client: openai.AsyncOpenAI
) -> None:
    """The reply uses the name from the instructions and reacts to the last user turn."""
    chat = client.chat.completions
    first = await chat.create(
        model="gpt-4.1-mini",
        messages=[
            {"role": "system", "content": "You are calling Alice to wake her up."}
        ],
    )
    assert first.choices[0].message.content is not None
    assert "Alice" in first.choices[0].message.content
    snooze = await chat.create(
        model="gpt-4.1-mini",
        messages=[
            {"role": "system", "content": "Wake the sleeper."},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "five more minutes"},
        ],
    )
    assert "snoozing" in (snooze.choices[0].message.content or "")
    assert len(sim.chat_requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, openai.RateLimitError), (500, openai.InternalServerError)],
)
async def test_chat_faults(
    sim: Simulator, client: openai.AsyncOpenAI, status: int, error: type[Exception]
) -> None:
    """A scenario can make the next completion fail like OpenAI does."""
    sim.fail("openai", "chat/completions", status=status)
    with pytest.raises(error):
        await client.chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}]
        )


async def test_unknown_model(client: openai.AsyncOpenAI) -> None:
    """A model that does not exist is a 404 NotFoundError."""
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="gpt-0", messages=[{"role": "user", "content": "hi"}]
        )


class Realtime:
    """A raw GA Realtime connection with an event log."""

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
                    raise AssertionError(
                        f"connection ended: {message.type} {message.extra}"
                    )
                event = json.loads(message.data)
                self.events.append(event)
                if event["type"] == kind:
                    return event

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]


@pytest.fixture
async def realtime(sim: Simulator) -> AsyncGenerator[Realtime]:
    """A GA connection, session configured for Twilio audio."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{sim.base_url}/v1/realtime?model=gpt-realtime-2",
            headers={"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"},
        ) as ws,
    ):
        connection = Realtime(ws)
        await connection.until("session.created")
        await connection.send({"type": "session.update", "session": GA_SESSION})
        updated = await connection.until("session.updated")
        assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        yield connection


async def test_realtime_refuses_beta_header(sim: Simulator) -> None:
    """OpenAI-Beta: realtime=v1 gets beta_api_shape_disabled and close code 4000."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{sim.base_url}/v1/realtime?model=gpt-realtime-2",
            headers={
                "Authorization": f"Bearer {DEFAULT_OPENAI_KEY}",
                "OpenAI-Beta": "realtime=v1",
            },
        ) as ws,
    ):
        error = json.loads((await ws.receive()).data)
        assert error["error"]["code"] == "beta_api_shape_disabled"
        closing = await ws.receive()
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == BETA_CLOSE_CODE


async def test_realtime_refuses_beta_session_shape(sim: Simulator) -> None:
    """A beta-shaped session.update (flat audio formats) is refused the same way."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{sim.base_url}/v1/realtime?model=gpt-realtime-2",
            headers={"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"},
        ) as ws,
    ):
        connection = Realtime(ws)
        await connection.until("session.created")
        await connection.send(
            {"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}}
        )
        error = await connection.until("error")
        assert error["error"]["code"] == "beta_api_shape_disabled"
        await ws.receive()
        assert ws.close_code == BETA_CLOSE_CODE


async def test_realtime_rejects_bad_key(sim: Simulator) -> None:
    """The upgrade itself is refused with 401."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(
                f"{sim.base_url}/v1/realtime?model=gpt-realtime-2",
                headers={"Authorization": "Bearer sk-wrong-000000"},
            )
        assert err.value.status == 401


async def test_realtime_session_type_required(realtime: Realtime) -> None:
    """GA sessions must say type=realtime; the error keeps the connection open."""
    await realtime.send(
        {"type": "session.update", "event_id": "ev1", "session": {"instructions": "x"}}
    )
    error = await realtime.until("error")
    assert error["error"]["code"] == "missing_required_parameter"
    assert error["error"]["event_id"] == "ev1"
    await realtime.send({"type": "session.update", "session": {"type": "realtime"}})
    await realtime.until("session.updated")


async def test_realtime_greeting_streams_ulaw(
    sim: Simulator, realtime: Realtime
) -> None:
    """response.create streams μ-law audio deltas and a transcript, then response.done."""
    await realtime.send({"type": "response.create"})
    done = await realtime.until("response.done")
    assert done["response"]["status"] == "completed"
    deltas = [e for e in realtime.events if e["type"] == "response.output_audio.delta"]
    speech = b"".join(base64.b64decode(e["delta"]) for e in deltas)
    transcript = next(
        e
        for e in realtime.events
        if e["type"] == "response.output_audio_transcript.done"
    )
    assert "Alice" in transcript["transcript"]
    assert sim.speech.transcribe(speech) == transcript["transcript"]
    assert "response.audio.delta" not in realtime.types()  # the beta name


async def test_realtime_vad_transcription_and_tool(
    sim: Simulator, realtime: Realtime
) -> None:
    """Speech in the input is detected and transcribed; a goodbye calls the declared tool."""
    line = "Thanks, goodbye!"
    voice = await sim.sleeper_voice.speak(line)
    sim.speech.register(line, voice)
    for frame in audio.frames(voice + audio.silence(800)):
        await realtime.send(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(frame).decode(),
            }
        )
    await realtime.until("input_audio_buffer.speech_started")
    await realtime.until("input_audio_buffer.speech_stopped")
    transcription = await realtime.until(
        "conversation.item.input_audio_transcription.completed"
    )
    assert transcription["transcript"] == line
    call = await realtime.until("response.function_call_arguments.done")
    assert call["name"] == "end_call"


async def test_realtime_barge_in_cancels_and_truncate_rules(
    sim: Simulator, realtime: Realtime
) -> None:
    """Speech during a response cancels it; truncation is checked against the audio sent."""
    # Ready before the response starts: it streams faster than real time, and
    # synthesising now could outlast it.
    voice = audio.synthetic_speech("Stop, stop.")
    await realtime.send({"type": "response.create"})
    delta = await realtime.until("response.output_audio.delta")
    item_id = delta["item_id"]
    for frame in audio.frames(voice)[:10]:
        await realtime.send(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(frame).decode(),
            }
        )
    await realtime.until("input_audio_buffer.speech_started")
    cancelled = await realtime.until("response.done")
    assert cancelled["response"]["status"] == "cancelled"

    await realtime.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 10**6,
        }
    )
    too_long = await realtime.until("error")
    assert "is already shorter than" in too_long["error"]["message"]
    await realtime.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 50,
        }
    )
    truncated = await realtime.until("conversation.item.truncated")
    assert truncated["audio_end_ms"] == 50
    await realtime.send(
        {
            "type": "conversation.item.truncate",
            "item_id": "item_unknown",
            "content_index": 0,
            "audio_end_ms": 0,
        }
    )
    assert (await realtime.until("error"))["error"][
        "code"
    ] == "unsupported_content_type"


async def test_realtime_cancel_without_response(realtime: Realtime) -> None:
    """response.cancel with nothing running is an error, as with the real API."""
    await realtime.send({"type": "response.cancel"})
    error = await realtime.until("error")
    assert error["error"]["code"] == "response_cancel_not_active"
    await realtime.send({"type": "no.such.event"})
    assert (await realtime.until("error"))["error"]["code"] == "invalid_value"


async def test_realtime_idle_timeout_reprompts(
    sim: Simulator, realtime: Realtime
) -> None:
    """With idle_timeout_ms, silence after a reply makes the model speak again."""
    await realtime.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {
                        "turn_detection": {
                            "type": "server_vad",
                            "idle_timeout_ms": 2000,
                        }
                    }
                },
            },
        }
    )
    await realtime.until("session.updated")
    await realtime.send({"type": "response.create"})
    await realtime.until("response.done")
    await realtime.until("input_audio_buffer.timeout_triggered")
    again = await realtime.until("response.done")
    assert again["response"]["status"] == "completed"


async def test_realtime_one_response_at_a_time(realtime: Realtime) -> None:
    """A second response.create while one runs is refused."""
    await realtime.send({"type": "response.create"})
    await realtime.until("response.created")
    await realtime.send({"type": "response.create"})
    error = await realtime.until("error")
    assert error["error"]["code"] == "conversation_already_has_active_response"


async def test_realtime_manual_turns_and_items(
    sim: Simulator, realtime: Realtime
) -> None:
    """Manual commit, clear, user text items and a wrong audio format are handled."""
    await realtime.send({"type": "input_audio_buffer.clear"})
    await realtime.until("input_audio_buffer.cleared")
    await realtime.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "five more minutes"}],
            },
        }
    )
    await realtime.until("conversation.item.done")
    await realtime.send({"type": "conversation.item.create", "item": {"type": "bogus"}})
    assert (await realtime.until("error"))["error"]["param"] == "item"
    await realtime.send({"type": "input_audio_buffer.append", "audio": "%%%"})
    assert (await realtime.until("error"))["error"]["param"] == "audio"
    await realtime.send({"type": "input_audio_buffer.commit"})
    await realtime.until("input_audio_buffer.committed")
    await realtime.send(
        {"type": "response.create", "response": {"instructions": "Be brief."}}
    )
    transcript = await realtime.until("response.output_audio_transcript.done")
    assert "snoozing" in transcript["transcript"]
    await realtime.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}},
            },
        }
    )
    await realtime.until("session.updated")
    await realtime.send(
        {
            "type": "input_audio_buffer.append",
            "audio": base64.b64encode(audio.silence(20)).decode(),
        }
    )
    await realtime.send({"type": "not json"})
    await realtime.until("error")
    assert sim.recorder.events_named("realtime_input_format_mismatch")


# --- strict GA session.update -------------------------------------------------------------


@pytest.mark.parametrize(
    ("session", "param"),
    [
        (
            {"audio": {"input": {"format": {"type": "audio/pcmu", "rate": 8000}}}},
            "session.audio.input.format.rate",
        ),
        (
            {"audio": {"output": {"format": {"type": "audio/pcma", "rate": 8000}}}},
            "session.audio.output.format.rate",
        ),
        ({"audio": {"format": {"type": "audio/pcmu"}}}, "session.audio.format"),
        ({"audio": {"input": {"vad": {}}}}, "session.audio.input.vad"),
        (
            {"audio": {"input": {"transcription": {"model": "whisper-1", "temp": 0}}}},
            "session.audio.input.transcription.temp",
        ),
        (
            {
                "audio": {
                    "input": {
                        "turn_detection": {"type": "server_vad", "eagerness": "low"}
                    }
                }
            },
            "session.audio.input.turn_detection.eagerness",
        ),
        ({"audio": {"output": {"volume": 1}}}, "session.audio.output.volume"),
        (
            {"tools": [{"type": "function", "name": "end_call", "strict": True}]},
            "session.tools[0].strict",
        ),
        ({"delegation": {"type": "client"}}, "session.delegation"),
        ({"tracing": {"workflow": "x"}}, "session.tracing.workflow"),
    ],
)
async def test_realtime_unknown_field_is_refused(
    realtime: Realtime, session: dict[str, Any], param: str
) -> None:
    """session.update is strict: an unknown field at any depth names its path."""
    await realtime.send(
        {"type": "session.update", "session": {"type": "realtime", **session}}
    )
    error = await realtime.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (
        "unknown_parameter",
        param,
    )


async def test_realtime_refused_update_is_not_applied(realtime: Realtime) -> None:
    """A refused update changes nothing, not even its valid fields."""
    await realtime.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "instructions": "changed", "speed": 2},
        }
    )
    await realtime.until("error")
    await realtime.send({"type": "session.update", "session": {"type": "realtime"}})
    updated = await realtime.until("session.updated")
    assert updated["session"]["instructions"] == GA_SESSION["instructions"]


async def test_realtime_pcm_rate_must_be_24000(realtime: Realtime) -> None:
    """audio/pcm takes a rate, and only 24000."""
    await realtime.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}},
            },
        }
    )
    error = await realtime.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (
        "invalid_value",
        "session.audio.output.format.rate",
    )


async def test_realtime_unknown_voice_is_refused(realtime: Realtime) -> None:
    """A voice outside the built-in list (or a custom {id}) is refused."""
    await realtime.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"output": {"voice": "Google.en-US-Chirp3-HD-Aoede"}},
            },
        }
    )
    error = await realtime.until("error")
    assert error["error"]["param"] == "session.audio.output.voice"


async def test_realtime_errors_are_recorded(sim: Simulator, realtime: Realtime) -> None:
    """Every error sent is in the recorder, for integration tests."""
    await realtime.send(
        {"type": "session.update", "session": {"type": "realtime", "voices": "x"}}
    )
    await realtime.until("error")
    assert sim.recorder.events_named("realtime_error") == [
        {
            "code": "unknown_parameter",
            "param": "session.voices",
            "message": "Unknown parameter: 'session.voices'.",
        }
    ]


# --- GPT-Live models are not Realtime models -------------------------------------------


async def test_realtime_refuses_a_live_model_on_the_url(sim: Simulator) -> None:
    """A GPT-Live model id on /v1/realtime is refused before the upgrade."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(
                f"{sim.base_url}/v1/realtime?model=gpt-live-1",
                headers={"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"},
            )
    assert err.value.status == 400


async def test_realtime_refuses_a_live_model_in_the_session(
    realtime: Realtime,
) -> None:
    """A GPT-Live model id in session.update is invalid_model."""
    await realtime.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "model": "gpt-live-1"},
        }
    )
    error = await realtime.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (
        "invalid_model",
        "session.model",
    )


async def test_chat_refuses_a_live_model(client: openai.AsyncOpenAI) -> None:
    """GPT-Live models only speak on /v1/live/sessions."""
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="gpt-live-1", messages=[{"role": "user", "content": "hi"}]
        )


async def test_models_list_has_the_live_models(client: openai.AsyncOpenAI) -> None:
    """Both GPT-Live models are listed, as for an account with access."""
    models = [model.id async for model in client.models.list()]
    assert {"gpt-live-1", "gpt-live-1.1"} <= set(models)


# --- failures: faults on the upgrade, refusals and drops ---------------------------------


@pytest.mark.parametrize("status", [401, 404, 429, 500])
async def test_realtime_fault_refuses_the_upgrade(sim: Simulator, status: int) -> None:
    """An injected fault answers the upgrade with its status instead of 101."""
    sim.fail("openai", "/v1/realtime", status=status)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await session.ws_connect(
                f"{sim.base_url}/v1/realtime?model=gpt-realtime-2",
                headers={"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"},
            )
    assert err.value.status == status


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (401, "invalid_request_error", "invalid_api_key"),
        (429, "requests", "rate_limit_exceeded"),
        (500, "server_error", None),
    ],
)
async def test_fault_on_upgrade_has_openai_error_body(
    sim: Simulator, status: int, error_type: str, code: str | None
) -> None:
    """The refused upgrade carries OpenAI's JSON error body."""
    sim.fail("openai", "/v1/realtime", status=status)
    headers = {
        "Authorization": f"Bearer {DEFAULT_OPENAI_KEY}",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{sim.base_url}/v1/realtime?model=gpt-realtime-2", headers=headers
        ) as response,
    ):
        body = await response.json()
    assert (body["error"]["type"], body["error"]["code"]) == (error_type, code)


async def test_realtime_refuse_next_errors_then_closes(sim: Simulator) -> None:
    """refuse_next answers the next connection with an error, then closes it."""
    sim.realtime.refuse_next = "insufficient_quota"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{sim.base_url}/v1/realtime?model=gpt-realtime-2",
            headers={"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"},
        ) as ws,
    ):
        error = json.loads((await ws.receive()).data)
        closing = await ws.receive()
    assert (error["error"]["code"], closing.type, ws.close_code) == (
        "insufficient_quota",
        aiohttp.WSMsgType.CLOSE,
        1008,
    )


async def _dropped(sim: Simulator, after: float) -> aiohttp.ClientWebSocketResponse:
    """A configured connection that `drop_after` cuts; read until it ends."""
    sim.realtime.drop_after = after
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{sim.base_url}/v1/realtime?model=gpt-realtime-2",
            headers={"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"},
        ) as ws,
    ):
        connection = Realtime(ws)
        await connection.until("session.created")
        await connection.send({"type": "session.update", "session": GA_SESSION})
        await connection.until("session.updated")
        async with asyncio.timeout(5):
            while (await ws.receive()).type is aiohttp.WSMsgType.TEXT:
                pass
        return ws


async def test_realtime_drop_after_aborts_the_connection(sim: Simulator) -> None:
    """drop_after cuts the connection without a close frame: code 1006."""
    ws = await _dropped(sim, 0.5)
    assert ws.close_code == 1006


async def test_realtime_drop_after_is_used_once(sim: Simulator) -> None:
    """The knob resets after one connection, and the drop is recorded."""
    await _dropped(sim, 0.5)
    assert (sim.realtime.drop_after, sim.recorder.events_named("realtime_dropped")) == (
        None,
        [{"after": 0.5}],
    )


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"type": "transcription"}, "invalid_value", "session.type"),
        (
            {"type": "realtime", "model": "gpt-realtime-mini"},
            "invalid_value",
            "session.model",
        ),
        (
            {"type": "realtime", "output_modalities": ["audio", "text"]},
            "invalid_value",
            "session.output_modalities",
        ),
        (
            {"type": "realtime", "instructions": 5},
            "invalid_type",
            "session.instructions",
        ),
        (
            {"type": "realtime", "audio": {"input": {"format": "audio/pcmu"}}},
            "invalid_value",
            "session.audio.input.format.type",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "vad"}}},
            },
            "invalid_value",
            "session.audio.input.turn_detection.type",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"transcription": {"language": "en"}}},
            },
            "missing_required_parameter",
            "session.audio.input.transcription.model",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"noise_reduction": {"type": "loud"}}},
            },
            "invalid_value",
            "session.audio.input.noise_reduction.type",
        ),
        ({"type": "realtime", "tools": {}}, "invalid_type", "session.tools"),
        (
            {"type": "realtime", "tools": [{"type": "web_search"}]},
            "invalid_value",
            "session.tools[0].type",
        ),
        (
            {"type": "realtime", "tools": [{"type": "mcp", "name": "x"}]},
            "unknown_parameter",
            "session.tools[0].name",
        ),
        (
            {"type": "realtime", "tools": [{"type": "function"}]},
            "missing_required_parameter",
            "session.tools[0].name",
        ),
        (
            {"type": "realtime", "max_output_tokens": 0},
            "invalid_value",
            "session.max_output_tokens",
        ),
    ],
)
async def test_realtime_invalid_value_is_refused(
    realtime: Realtime, session: dict[str, Any], code: str, param: str
) -> None:
    """Values are checked as well as fields: each refusal names its code and field."""
    await realtime.send({"type": "session.update", "session": session})
    error = await realtime.until("error")
    assert (error["error"]["code"], error["error"]["param"]) == (code, param)


async def test_realtime_accepts_the_full_ga_shape(realtime: Realtime) -> None:
    """Every documented field, valid, is accepted."""
    await realtime.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "model": "gpt-realtime-2",
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "noise_reduction": {"type": "near_field"},
                        "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
                    },
                    "output": {"voice": {"id": "voice_1"}, "speed": 1.0},
                },
                "tools": [{"type": "mcp", "server_label": "ha", "server_url": "x"}],
                "tool_choice": "auto",
                "max_output_tokens": 512,
                "tracing": "auto",
                "truncation": {"type": "retention_ratio", "retention_ratio": 0.8},
                "include": ["item.input_audio_transcription.logprobs"],
            },
        }
    )
    updated = await realtime.until("session.updated")
    assert updated["session"]["max_output_tokens"] == 512


async def test_reasoning_model_without_room_writes_nothing(sim: Simulator) -> None:
    """A reply-sized budget is spent thinking: an empty reply, cut for length."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.openai_base_url}/chat/completions",
            json={
                "model": "gpt-5-mini",
                "messages": [{"role": "user", "content": "Good morning"}],
                "max_completion_tokens": 150,
            },
            headers={"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"},
        ) as response,
    ):
        body = await response.json()
    assert body["choices"][0]["message"]["content"] == ""
    assert body["choices"][0]["finish_reason"] == "length"


async def test_reasoning_effort_only_for_reasoning_models(sim: Simulator) -> None:
    """Other chat models refuse a reasoning effort."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sim.openai_base_url}/chat/completions",
            json={
                "model": "gpt-4.1-mini",
                "messages": [{"role": "user", "content": "Good morning"}],
                "reasoning_effort": "low",
            },
            headers={"Authorization": f"Bearer {DEFAULT_OPENAI_KEY}"},
        ) as response,
    ):
        assert response.status == 400
        assert (await response.json())["error"]["param"] == "reasoning_effort"
