"""Whole realtime calls through the simulator, over real sockets, for both engines.

The action places the call with Twilio's REST API; the simulated phone network
fetches the TwiML from Home Assistant's HTTP server, opens the Media Stream to
the integration's stream view, and streams the scripted sleeper's voice, paced
in simulated time; the integration bridges it to the simulated OpenAI (the
Realtime API or GPT-Live), which "transcribes" the exact bytes the phone sent,
so the audio is known to have passed through untouched. Nothing in the
integration is mocked.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.wakeup_coach import realtime, realtime_bridge, voice_engine
from custom_components.wakeup_coach.const import DOMAIN, EVENT_CALL, SERVICE_CALL
from simulator.phone_network import CallRecord
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS, Say, SleeperScript

from .conftest import SLEEPER_NUMBER, Live

ENGINES = ["realtime", "live"]
# Says "bye", which is no magic word: only the model's end_call can end the call.
BYE_SAYER = SleeperScript(
    name="bye_sayer",
    description="Says bye too early, gets up, says bye again.",
    lines=(
        Say("Okay, bye then."),
        Say("Fine. I'm walking to the bathroom.", proof=True),
        Say("Bye now!"),
    ),
)
# Talks on and on, never says goodbye: only the time limit ends the call.
CHATTERBOX = SleeperScript(
    name="chatterbox",
    description="Talks about everything but getting up.",
    lines=(Say("Let me tell you about my dream."),),
    then=Say("And then there was a dragon, and a castle."),
)


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Twilio and OpenAI, twenty times faster than real time.

    Slower than the turn-based tests: streams carry 50 frames a simulated second
    each way, and the simulated models must keep producing audio ahead of playback.
    """
    sim = Simulator(speed=20)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture(autouse=True)
def simulated_time(monkeypatch: pytest.MonkeyPatch, simulator: Simulator) -> None:
    """The bridge's own clocks, in simulated time like everything else."""
    speed = simulator.clock.speed
    monkeypatch.setattr(voice_engine, "TIME_SCALE", speed)
    monkeypatch.setattr(realtime, "STREAM_CONNECT_SECONDS", 8 / speed)


async def run_call(
    live: Live,
    script: str | SleeperScript,
    engine: str | None = "realtime",
    **data: Any,
) -> tuple[CallRecord, list[dict[str, Any]], dict[str, Any]]:
    """A call to Alice, who answers with `script`.

    Returns the simulated call, the events, and the response of the call action.
    """
    sleeper = SCRIPTS[script] if isinstance(script, str) else script
    live.simulator.network.scripts[SLEEPER_NUMBER] = sleeper
    events = async_capture_events(live.hass, EVENT_CALL)
    waiting = live.simulator.network.expect_call()
    if engine is not None:
        data = {"mode": "realtime", "engine": engine, **data}
    response = await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, data, blocking=True, return_response=True
    )
    record = await waiting
    await record.done.wait()
    await live.wait_idle()
    assert isinstance(response, dict)
    return record, [event.data for event in events], response


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def history(live: Live) -> dict[str, Any]:
    """The record of the last call."""
    record: dict[str, Any] = live.entry.runtime_data.calls.history[0]
    return record


def said(live: Live, who: str) -> list[str]:
    """What one side said, as the integration recorded it."""
    return [
        line["text"] for line in history(live)["transcript"] if line["speaker"] == who
    ]


# A cancel that crosses the response's own end on the wire: the server says so, and
# the client carries on (tests/test_realtime_client.py pins how). Not a malformed message.
RACES = {"response_cancel_not_active"}


def no_protocol_errors(simulator: Simulator) -> None:
    """Neither OpenAI nor Twilio saw a malformed or refused message from the bridge."""
    assert [
        error
        for error in simulator.recorder.events_named("realtime_error")
        if error["code"] not in RACES
    ] == []
    assert simulator.recorder.events_named("live_error") == []
    assert simulator.recorder.events_named("stream_protocol_error") == []


@pytest.mark.parametrize("engine", ENGINES)
async def test_wakes_quickly(live: Live, engine: str) -> None:
    """The coach greets first, the sleeper proves being up and says goodbye: awake."""
    record, events, response = await run_call(live, "wakes_quickly", engine)

    assert types(events) == ["dialing", "answered", "awake"]
    assert events[0]["mode"] == "realtime"
    assert events[0]["engine"] == engine
    assert response == {
        "call_id": events[0]["call_id"],
        "mode": "realtime",
        "engine": engine,
        "transport": "media_stream",
    }
    # The model heard exactly the sleeper's lines: μ-law passed through untouched.
    assert said(live, "sleeper") == [
        line.text for line in SCRIPTS["wakes_quickly"].lines
    ]  # type: ignore[union-attr]
    assert said(live, "coach")[0].startswith("Good morning")
    record_of_call = history(live)
    assert record_of_call["result"] == "awake"
    assert record_of_call["engine"] == engine
    assert record_of_call["fallback_reason"] is None
    assert record_of_call["usage"]
    assert set(record_of_call["timings"]) >= {
        "twiml_served",
        "stream_connected",
        "stream_started",
        "openai_connected",
    }
    # One stream, no turn-based request after the first TwiML, and the coach's goodbye
    # was heard before the line closed.
    assert len(record.stream_sids) == 1
    assert [url.split("/")[-2] for url, _ in record.webhooks] == ["voice", "connect"]
    assert record.ended_by == "twiml"
    assert record.said("coach")[-1].startswith(
        ("Glad you're up", "Have a wonderful", "Well done")
    )
    no_protocol_errors(live.simulator)


@pytest.mark.parametrize("engine", ENGINES)
async def test_sleepy(live: Live, engine: str) -> None:
    """Silence, a mumble and a snooze plea do not end the call; proof then goodbye does."""
    _record, events, _ = await run_call(live, "sleepy", engine)
    assert types(events)[-1] == "awake"
    assert said(live, "sleeper")[-1] == "I'm up. Goodbye."
    assert "Five more minutes, please." in said(live, "sleeper")
    no_protocol_errors(live.simulator)


@pytest.mark.parametrize("engine", ENGINES)
async def test_silent_sleeper(live: Live, engine: str) -> None:
    """Nobody talks: the coach nudges, again and again, then lets go; not awake."""
    _record, events, _ = await run_call(live, "silent", engine)
    assert types(events) == ["dialing", "answered", "not_awake"]
    # The greeting, one nudge per silence, and the "I'll call back" goodbye.
    assert len(said(live, "coach")) == 1 + realtime_bridge.MAX_NUDGES + 1
    assert said(live, "sleeper") == []
    no_protocol_errors(live.simulator)


async def test_barge_in_realtime(live: Live) -> None:
    """The sleeper talks over the coach: Twilio's queue is cleared.

    The reply is cut where the sleeper stopped hearing it, never past the audio
    that exists.
    """
    record, events, _ = await run_call(live, "talks_over", "realtime")
    assert types(events)[-1] == "awake"
    clears = live.simulator.recorder.events_named("stream_clear")
    truncates = live.simulator.recorder.events_named("realtime_truncated")
    assert len(clears) >= 1
    assert len(truncates) == len(clears)
    # Never past the audio that exists. How much was heard depends on which of
    # Twilio's marks had come back when the sleeper spoke (0 if they barged into a
    # reply before its first mark returned): test_realtime_bridge checks the value.
    for truncate in truncates:
        assert 0 <= truncate["audio_end_ms"] <= truncate["audio_ms"]
    assert live.simulator.recorder.events_named("realtime_response_cancelled")
    assert len(live.entry.runtime_data.calls.history) == 1
    assert record.said("sleeper")[0] == "Yes yes, I hear you, I am awake!"
    no_protocol_errors(live.simulator)


async def test_barge_in_live(live: Live) -> None:
    """GPT-Live handles interruptions itself: the bridge sends no clear and no mark."""
    _record, events, _ = await run_call(live, "talks_over", "live")
    assert types(events)[-1] == "awake"
    assert live.simulator.recorder.events_named("live_barge_in")
    assert live.simulator.recorder.events_named("stream_clear") == []
    no_protocol_errors(live.simulator)


@pytest.mark.parametrize("engine", ENGINES)
async def test_goodbye_before_proof(live: Live, engine: str) -> None:
    """A goodbye without proof does not end the call; after proof it does."""
    _record, events, _ = await run_call(live, "goodbye_before_proof", engine)
    assert types(events)[-1] == "awake"
    assert said(live, "sleeper") == [
        line.text for line in SCRIPTS["goodbye_before_proof"].lines
    ]  # type: ignore[union-attr]
    no_protocol_errors(live.simulator)


async def test_end_call_refused_then_honoured(live: Live) -> None:
    """The model's end_call is refused without proof, and honoured once proof exists."""
    _record, events, _ = await run_call(live, BYE_SAYER, "realtime")
    calls = live.simulator.recorder.events_named("realtime_tool_call")
    assert [call["name"] for call in calls] == ["end_call", "end_call"]
    outputs = [
        item["output"]
        for item in live.simulator.recorder.events_named("realtime_item_created")
        if item["type"] == "function_call_output"
    ]
    assert len(outputs) == 2
    assert '"ending":false' in outputs[0]
    assert "Bathroom motion" in outputs[0]
    assert outputs[1] == '{"ending": true}'
    assert types(events)[-1] == "awake"


@pytest.mark.parametrize("engine", ENGINES)
async def test_proof_reaches_the_model_mid_call(live: Live, engine: str) -> None:
    """When the motion sensor fires, the model is told at once, in the session."""
    await run_call(live, "wakes_quickly", engine)
    recorder = live.simulator.recorder
    if engine == "realtime":
        updates = [
            e["session"]["instructions"]
            for e in recorder.events_named("realtime_session_updated")
        ]
        assert "only counts as up once" in updates[0]
        assert any("Alice has proven being up" in text for text in updates[1:])
    else:
        appended = [e["content"] for e in recorder.events_named("live_append_placed")]
        assert any("confirms that Alice is up" in text for text in appended)


@pytest.mark.parametrize(
    ("engine", "fault", "reason"),
    [
        ("realtime", 401, "openai_auth_failed"),
        ("realtime", 404, "openai_model_not_found"),
        ("realtime", 429, "openai_rate_limited"),
        ("live", 429, "openai_rate_limited"),
        ("live", "model_not_found", "openai_refused"),
    ],
)
async def test_openai_refuses(
    live: Live, engine: str, fault: int | str, reason: str
) -> None:
    """OpenAI refuses the session: the same call continues turn-based and still wakes her."""
    if isinstance(fault, int):
        path = "/v1/realtime" if engine == "realtime" else "/v1/live/sessions"
        live.simulator.fail("openai", path, status=fault)
    else:
        live.simulator.live.refuse_next = fault
    record, events, _ = await run_call(live, "wakes_quickly", engine)
    # Twilio's machine detection takes longer than OpenAI's refusal.
    assert types(events) == ["dialing", "fallback", "answered", "awake"]
    assert events[1]["reason"] == reason
    assert history(live)["fallback_reason"] == reason
    # The stream opened and closed at once; Twilio then asked the <Connect action>,
    # and turn-based <Gather> turns carried the call.
    assert len(record.stream_sids) == 1
    kinds = [url.split("/")[-2] for url, _ in record.webhooks]
    assert kinds[:2] == ["voice", "connect"]
    assert set(kinds[2:]) == {"speech"}
    assert record.said("coach")[0].startswith("Good morning, Alice!")
    assert record.application_error is None


@pytest.mark.parametrize("engine", ENGINES)
async def test_openai_drops_mid_call(live: Live, engine: str) -> None:
    """OpenAI drops the session: the call goes on turn-based with the conversation so far."""
    service = live.simulator.realtime if engine == "realtime" else live.simulator.live
    service.drop_after = 12.0
    record, events, _ = await run_call(live, "sleepy", engine)
    assert types(events) == ["dialing", "answered", "fallback", "awake"]
    assert events[2]["reason"] == "openai_dropped"
    kinds = [url.split("/")[-2] for url, _ in record.webhooks]
    assert kinds[:2] == ["voice", "connect"]
    # The chat model saw what was said on the live part of the call.
    first_chat = live.simulator.chat_requests[0]["messages"]
    assert first_chat[1]["role"] == "assistant"
    assert first_chat[1]["content"].startswith("Good morning")
    assert record.application_error is None


async def test_stream_never_connects(live: Live) -> None:
    """Twilio's stream gets nowhere (a proxy swallows it).

    After a few seconds the live call is redirected to turn-based, and a repair
    issue explains why.
    """
    live.simulator.media_streams.unreachable_for = 60.0
    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "answered", "fallback", "awake"]
    assert events[2]["reason"] == "stream_never_connected"
    redirects = [
        r.data
        for r in live.simulator.recorder.requests_to("twilio", record.sid)
        if r.method == "POST"
    ]
    assert len(redirects) == 1
    assert "/resume/" in redirects[0]["Url"]
    assert record.stream_sids == []
    assert record.said("coach")[0].startswith("Good morning, Alice!")
    issue = ir.async_get(live.hass).async_get_issue(
        DOMAIN, f"stream_not_connected_{live.entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders == {"reason": "stream_never_connected"}
    # Nothing of OpenAI is left open.
    assert live.simulator.realtime.sessions == []

    # The next live call whose stream connects clears the issue.
    await run_call(live, "wakes_quickly", "realtime")
    assert (
        ir.async_get(live.hass).async_get_issue(
            DOMAIN, f"stream_not_connected_{live.entry.entry_id}"
        )
        is None
    )


async def test_stream_refused_by_twilio(live: Live) -> None:
    """Twilio cannot open the stream at all (here: it insists on wss): the call goes on."""
    live.simulator.allow_insecure_streams = False
    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "fallback", "answered", "awake"]
    assert events[1]["reason"] == "stream_failed"
    assert live.simulator.recorder.events_named("stream_error")[0]["code"] == 31922
    assert record.application_error is None
    assert ir.async_get(live.hass).async_get_issue(
        DOMAIN, f"stream_not_connected_{live.entry.entry_id}"
    )


async def test_time_limit(live: Live) -> None:
    """The longest call applies: the coach says its time-up goodbye, heard before Twilio's limit."""
    live.hass.config_entries.async_update_entry(
        live.entry, options={"max_call_minutes": 1}
    )
    await live.hass.async_block_till_done()
    record, events, _ = await run_call(live, CHATTERBOX, "realtime")
    assert types(events)[-1] == "not_awake"
    assert record.ended_by == "twiml"  # the coach ended it, not Twilio's TimeLimit
    assert record.time_limit == 120
    assert 55 <= record.duration <= 90


@pytest.mark.parametrize(
    ("allowed", "probability", "mode"),
    [
        (True, 100.0, "realtime"),
        (True, 0.0, "traditional"),
        (False, 100.0, "traditional"),
    ],
)
async def test_auto_mode(
    live: Live, allowed: bool, probability: float, mode: str
) -> None:
    """Automatic calls are live with the sleeper's probability, only when allowed."""
    live.sleeper.update_settings(
        realtime_allowed=allowed, realtime_probability=probability
    )
    record, events, response = await run_call(live, "wakes_quickly", engine=None)
    assert events[0]["mode"] == mode
    assert response["mode"] == mode
    assert history(live)["mode"] == mode
    assert len(record.stream_sids) == (1 if mode == "realtime" else 0)
    assert types(events)[-1] == "awake"
