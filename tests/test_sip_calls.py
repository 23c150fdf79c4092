"""Whole realtime calls over SIP through the simulator, for both engines.

The action places the call with Twilio's REST API; the simulated phone network
fetches the TwiML, which <Dial>s the simulated OpenAI project's SIP address with
the call's token in a custom SIP header. The simulated OpenAI announces the call
with a signed webhook to Home Assistant's webhook, takes the accept over REST,
and answers the sideband WebSocket that the integration opens; the sleeper's
voice and the model's run between the simulated phone and the model inside the
simulator, never through Home Assistant. Nothing in the integration is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import time
from typing import Any

from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.wakeup_coach import realtime, sip_call, voice_engine
from custom_components.wakeup_coach.const import (
    CONF_OPENAI_PROJECT_ID,
    CONF_REALTIME_TRANSPORT,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    DOMAIN,
    EVENT_CALL,
    SERVICE_CALL,
    SUBENTRY_SLEEPER,
)
from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_PROJECT,
    DEFAULT_WEBHOOK_SECRET,
)
from simulator.phone_network import CallRecord
from simulator.server import Simulator
from simulator.sip import SipCall
from simulator.sleepers import SCRIPTS, Say, SleeperScript

from .conftest import ENTRY_ID, SLEEPER_NUMBER, SLEEPER_SUBENTRY_ID, Live, until

ENGINES = ["realtime", "live"]
WEBHOOK_ID = "0123456789abcdef" * 4
SIP_OPTIONS = {
    CONF_REALTIME_TRANSPORT: "sip",
    CONF_OPENAI_PROJECT_ID: DEFAULT_OPENAI_PROJECT,
    CONF_WEBHOOK_SECRET: DEFAULT_WEBHOOK_SECRET,
    CONF_SIP_WEBHOOK_ID: WEBHOOK_ID,
}
ISSUE_ID = f"sip_not_connected_{ENTRY_ID}"
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


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncGenerator[Simulator]:
    """Twilio and OpenAI, twenty times faster than real time (as for Media Streams)."""
    sim = Simulator(speed=20)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """The entry's options: realtime calls over SIP, set up for the simulated project."""
    return dict(SIP_OPTIONS)


@pytest.fixture
def mock_config_entry(
    account_data: dict[str, Any],
    sleeper_data: dict[str, Any],
    entry_options: dict[str, Any],
) -> MockConfigEntry:
    """The usual entry with one sleeper, and SIP options."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Wake-up Coach +•••••••••00",
        unique_id=f"{DEFAULT_ACCOUNT_SID}_{DEFAULT_FROM_NUMBER}",
        entry_id=ENTRY_ID,
        data=account_data,
        options=entry_options,
        subentries_data=[
            {
                "data": sleeper_data,
                "subentry_id": SLEEPER_SUBENTRY_ID,
                "subentry_type": SUBENTRY_SLEEPER,
                "title": "Alice",
                "unique_id": SLEEPER_NUMBER,
            }
        ],
    )


@pytest.fixture(autouse=True)
def simulated_time(monkeypatch: pytest.MonkeyPatch, simulator: Simulator) -> None:
    """The integration's own clocks, in simulated time like everything else."""
    speed = simulator.clock.speed
    monkeypatch.setattr(voice_engine, "TIME_SCALE", speed)
    monkeypatch.setattr(realtime, "STREAM_CONNECT_SECONDS", 8 / speed)
    monkeypatch.setattr(sip_call, "SIP_ARRIVE_SECONDS", 8 / speed)


@pytest.fixture
def webhook_url(live: Live) -> str:
    """The project's webhook points at Home Assistant (what the user sets up at OpenAI)."""
    url = f"{live.base_url}/api/webhook/{WEBHOOK_ID}"
    live.simulator.sip.webhook_url = url
    return url


async def run_call(
    live: Live,
    script: str | SleeperScript,
    engine: str | None = "realtime",
    **data: Any,
) -> tuple[CallRecord, list[dict[str, Any]], dict[str, Any]]:
    """A call to Alice, who answers with `script`: the record, the events, the response."""
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


def no_protocol_errors(simulator: Simulator) -> None:
    """OpenAI saw no malformed or refused message from the integration."""
    assert simulator.recorder.events_named("realtime_error") == []
    assert simulator.recorder.events_named("live_error") == []
    assert simulator.recorder.events_named("sip_sideband_refused") == []


def accepts(simulator: Simulator) -> list[str]:
    """The paths of every accept the integration sent."""
    return [
        r.path for r in simulator.recorder.requests_to("openai") if "/accept" in r.path
    ]


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize("engine", ENGINES)
async def test_wakes_quickly(live: Live, engine: str) -> None:
    """Twilio dials OpenAI, HA accepts and steers: the coach greets, proof, goodbye, awake."""
    record, events, response = await run_call(live, "wakes_quickly", engine)

    assert types(events) == ["dialing", "answered", "awake"]
    assert {event["transport"] for event in events} == {"sip"}
    assert response["transport"] == "sip"
    # The model heard exactly the sleeper's lines, and no audio passed through HA.
    assert said(live, "sleeper") == [
        line.text for line in SCRIPTS["wakes_quickly"].lines
    ]  # type: ignore[union-attr]
    assert said(live, "coach")[0].startswith("Good morning")
    record_of_call = history(live)
    assert record_of_call["result"] == "awake"
    assert record_of_call["transport"] == "sip"
    assert record_of_call["engine"] == engine
    assert record_of_call["fallback_reason"] is None
    assert record_of_call["usage"]
    assert set(record_of_call["timings"]) >= {
        "twiml_served",
        "sip_incoming",
        "sip_accepted",
        "openai_connected",
    }
    assert record.stream_sids == []
    assert len(accepts(live.simulator)) == 1
    # Twilio asked for the first TwiML and the <Dial action> only; the leg ended when
    # the integration ended the call at OpenAI, after the goodbye had been heard.
    assert [url.split("/")[-2] for url, _ in record.webhooks] == ["voice", "dial"]
    assert record.dials[0]["DialCallStatus"] == "completed"
    ended = live.simulator.recorder.events_named("sip_ended")
    assert [event["reason"] for event in ended] == ["close_requested"]
    assert live.simulator.recorder.events_named("sip_leg_cut_speech") == []
    assert record.said("coach")[-1].startswith(
        ("Glad you're up", "Have a wonderful", "Well done")
    )
    no_protocol_errors(live.simulator)


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize("engine", ENGINES)
async def test_sleepy(live: Live, engine: str) -> None:
    """Silence, a mumble and a snooze plea do not end the call; proof then goodbye does."""
    _record, events, _ = await run_call(live, "sleepy", engine)
    assert types(events) == ["dialing", "answered", "awake"]
    assert said(live, "sleeper")[-1] == "I'm up. Goodbye."
    assert "Five more minutes, please." in said(live, "sleeper")
    assert history(live)["fallback_reason"] is None
    no_protocol_errors(live.simulator)


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize("engine", ENGINES)
async def test_goodbye_before_proof(live: Live, engine: str) -> None:
    """A goodbye without proof does not end the call; after proof it does."""
    _record, events, _ = await run_call(live, "goodbye_before_proof", engine)
    assert types(events) == ["dialing", "answered", "awake"]
    assert said(live, "sleeper") == [
        line.text for line in SCRIPTS["goodbye_before_proof"].lines
    ]  # type: ignore[union-attr]
    no_protocol_errors(live.simulator)


@pytest.mark.usefixtures("webhook_url")
async def test_end_call_refused_then_honoured(live: Live) -> None:
    """Over the sideband too, end_call is refused without proof and honoured with it."""
    _record, events, _ = await run_call(live, BYE_SAYER, "realtime")
    calls = live.simulator.recorder.events_named("realtime_tool_call")
    assert [call["name"] for call in calls] == ["end_call", "end_call"]
    outputs = [
        item["output"]
        for item in live.simulator.recorder.events_named("realtime_item_created")
        if item["type"] == "function_call_output"
    ]
    assert '"ending":false' in outputs[0]
    assert "Bathroom motion" in outputs[0]
    assert outputs[1] == '{"ending": true}'
    assert types(events)[-1] == "awake"


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize("engine", ENGINES)
async def test_proof_reaches_the_model_mid_call(live: Live, engine: str) -> None:
    """The session is accepted with the coach's instructions; proof is told at once."""
    await run_call(live, "wakes_quickly", engine)
    recorder = live.simulator.recorder
    accepted = recorder.events_named("sip_accepted")[0]
    assert accepted["engine"] == engine
    assert "only counts as up once" in accepted["session"]["instructions"]
    if engine == "realtime":
        assert accepted["session"]["tools"][0]["name"] == "end_call"
        updates = [
            e["session"]["instructions"]
            for e in recorder.events_named("realtime_session_updated")
        ]
        assert any("Alice has proven being up" in text for text in updates)
    else:
        appended = [e["content"] for e in recorder.events_named("live_append_placed")]
        assert any("confirms that Alice is up" in text for text in appended)


@pytest.mark.usefixtures("webhook_url")
async def test_silent_sleeper(live: Live) -> None:
    """Nobody talks: the coach nudges over the sideband, then lets go; not awake."""
    _record, events, _ = await run_call(live, "silent", "realtime")
    assert types(events) == ["dialing", "answered", "not_awake"]
    assert len(said(live, "coach")) == 1 + 3 + 1  # greeting, nudges, goodbye
    assert said(live, "sleeper") == []


@pytest.mark.usefixtures("webhook_url")
async def test_time_limit(live: Live) -> None:
    """The longest call applies over SIP too: the coach ends it, before Twilio's limit."""
    live.hass.config_entries.async_update_entry(
        live.entry, options={**SIP_OPTIONS, "max_call_minutes": 1}
    )
    await live.hass.async_block_till_done()
    chatterbox = SleeperScript(
        name="chatterbox",
        description="Talks about everything but getting up.",
        lines=(Say("Let me tell you about my dream."),),
        then=Say("And then there was a dragon, and a castle."),
    )
    record, events, _ = await run_call(live, chatterbox, "realtime")
    assert types(events)[-1] == "not_awake"
    assert record.ended_by == "twiml"  # the coach ended it, not a time limit
    assert 55 <= record.duration <= 90


@pytest.mark.usefixtures("webhook_url")
async def test_sleeper_hangs_up(live: Live) -> None:
    """The sleeper hangs up during the SIP leg: not awake, and no fallback."""
    _record, events, _ = await run_call(live, "hangs_up", "live")
    assert types(events) == ["dialing", "answered", "not_awake"]
    assert live.simulator.sip.calls
    assert all(call.ended.is_set() for call in live.simulator.sip.calls.values())


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize("engine", ENGINES)
async def test_sideband_drops_mid_call(live: Live, engine: str) -> None:
    """The sideband breaks: HA ends the SIP leg and the same call goes on turn-based."""
    live.simulator.sip.drop_sideband_after = 6.0
    record, events, _ = await run_call(live, "sleepy", engine)
    assert types(events) == ["dialing", "answered", "fallback", "awake"]
    assert events[2]["reason"] == "openai_dropped"
    assert events[2]["transport"] == "sip"
    kinds = [url.split("/")[-2] for url, _ in record.webhooks]
    assert kinds[:2] == ["voice", "dial"]
    assert set(kinds[2:]) == {"speech"}
    # The chat model saw what was said over SIP.
    first_chat = live.simulator.chat_requests[0]["messages"]
    assert first_chat[1]["role"] == "assistant"
    assert first_chat[1]["content"].startswith("Good morning")
    assert record.application_error is None


async def test_webhook_never_arrives(live: Live) -> None:
    """No webhook at OpenAI: the same call goes on turn-based, with a repair issue.

    The issue names the likely causes; the next SIP call that connects clears it.
    """
    live.simulator.sip.webhook_url = None
    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "answered", "fallback", "awake"]
    assert events[2]["reason"] == "sip_no_webhook"
    redirects = [
        r.data
        for r in live.simulator.recorder.requests_to("twilio", record.sid)
        if r.method == "POST"
    ]
    assert len(redirects) == 1
    assert "/resume/" in redirects[0]["Url"]
    assert accepts(live.simulator) == []
    assert record.said("coach")[0].startswith("Good morning, Alice!")
    issue = ir.async_get(live.hass).async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == "sip_no_webhook"

    live.simulator.sip.webhook_url = f"{live.base_url}/api/webhook/{WEBHOOK_ID}"
    _record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "answered", "awake"]
    assert ir.async_get(live.hass).async_get_issue(DOMAIN, ISSUE_ID) is None


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize(
    ("knob", "value", "cause"),
    [
        (
            "signing_secret",
            "whsec_" + "d3Jvbmctc2VjcmV0LWtleS0xMjM0NTY3ODkwYWI=",
            "sip_wrong_secret",
        ),
        ("timestamp_skew", -600.0, "sip_clock_skew"),
    ],
)
async def test_refused_webhook_names_the_cause(
    live: Live, knob: str, value: object, cause: str
) -> None:
    """OpenAI's webhooks are refused (another secret, a stale clock).

    Nothing is accepted, the call goes on turn-based, and the repair issue names
    the cause.
    """
    setattr(live.simulator.sip, knob, value)
    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "answered", "fallback", "awake"]
    assert events[2]["reason"] == cause
    statuses = [
        e["status"] for e in live.simulator.recorder.events_named("sip_webhook")
    ]
    assert statuses == [401, 401] if knob == "signing_secret" else [400, 400]
    assert accepts(live.simulator) == []
    issue = ir.async_get(live.hass).async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == cause
    assert record.said("sleeper")[-1] == "Thanks, goodbye!"


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize(
    ("engine", "code", "status"),
    [("realtime", 403, "failed"), ("live", 404, "failed"), ("realtime", 603, "busy")],
)
async def test_openai_refuses_the_sip_call(
    live: Live, engine: str, code: int, status: str
) -> None:
    """OpenAI's SIP address refuses the INVITE: <Dial action> goes on turn-based."""
    live.simulator.sip.refuse_next = code
    record, events, _ = await run_call(live, "wakes_quickly", engine)
    assert types(events)[-1] == "awake"
    assert "fallback" in types(events)
    fallback = next(e for e in events if e["type"] == "fallback")
    assert fallback["reason"] == f"sip_{status}_{code}"
    assert record.dials == [
        {
            "DialCallStatus": status,
            "DialCallSid": record.dials[0]["DialCallSid"],
            "DialCallDuration": "0",
            "DialSipResponseCode": str(code),
        }
    ]
    kinds = [url.split("/")[-2] for url, _ in record.webhooks]
    assert kinds[:2] == ["voice", "dial"]
    assert accepts(live.simulator) == []
    issue = ir.async_get(live.hass).async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == "sip_refused"
    assert issue.translation_placeholders == {"detail": str(code)}


@pytest.mark.usefixtures("webhook_url")
async def test_accept_refused(live: Live) -> None:
    """OpenAI refuses the accept: HA rejects the call, which goes on turn-based."""
    live.simulator.fail("openai", "/accept", status=400)
    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events)[-1] == "awake"
    fallback = next(e for e in events if e["type"] == "fallback")
    assert fallback["reason"] == "openai_refused"
    assert [
        e["status_code"] for e in live.simulator.recorder.events_named("sip_rejected")
    ] == [603]
    assert record.dials[0]["DialCallStatus"] == "busy"
    issue = ir.async_get(live.hass).async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == "sip_accept_failed"


@pytest.mark.usefixtures("webhook_url")
async def test_live_sip_not_enabled(live: Live) -> None:
    """Only the Realtime announcement comes for a GPT-Live call: turn-based, and the issue says why."""
    live.simulator.sip.live_enabled = False
    _record, events, _ = await run_call(live, "wakes_quickly", "live")
    assert types(events) == ["dialing", "answered", "fallback", "awake"]
    assert events[2]["reason"] == "sip_live_not_enabled"
    assert accepts(live.simulator) == []
    # The Realtime announcement of the GPT-Live call is left alone, not rejected.
    assert live.simulator.recorder.events_named("sip_rejected") == []


AUTO = {**SIP_OPTIONS, CONF_REALTIME_TRANSPORT: "auto"}


def self_test(
    live: Live, monkeypatch: pytest.MonkeyPatch, *, passed: bool
) -> list[int]:
    """The connectivity self-test before a Media Stream call: its verdict; how often it ran."""
    runs: list[int] = []

    async def preflight() -> dict[str, str] | None:
        runs.append(1)
        if passed:
            return None
        return {"mode_reason": "selftest_failed", "selftest_step": "websocket"}

    calls = live.entry.runtime_data.calls
    monkeypatch.setattr(calls, "preflight", preflight, raising=False)
    return runs


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize("entry_options", [AUTO])
async def test_automatic_takes_sip_once_the_stream_cannot_connect(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Automatic: a Media Stream first; once a stream never connected, SIP."""
    self_test(live, monkeypatch, passed=True)
    live.simulator.media_streams.unreachable_for = 60.0
    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert events[0]["transport"] == "media_stream"
    assert "fallback" in types(events)
    assert record.stream_sids == []

    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "answered", "awake"]
    assert {event["transport"] for event in events} == {"sip"}
    assert record.dials[0]["DialCallStatus"] == "completed"


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize("entry_options", [AUTO])
async def test_automatic_takes_sip_after_a_failed_self_test(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Automatic: the stream self-test fails before the call, so it goes over SIP."""
    runs = self_test(live, monkeypatch, passed=False)
    record, events, response = await run_call(live, "wakes_quickly", "realtime")
    assert runs == [1]
    assert response["transport"] == "sip"
    assert types(events) == ["dialing", "answered", "awake"]
    assert events[0]["transport_reason"] == "selftest_failed"
    assert record.stream_sids == []
    assert record.dials[0]["DialCallStatus"] == "completed"


@pytest.mark.usefixtures("webhook_url")
async def test_forced_transports_and_the_self_test(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forced SIP call skips the stream self-test; a forced Media Stream one, failing it, goes turn-based."""
    runs = self_test(live, monkeypatch, passed=False)
    _record, events, response = await run_call(live, "wakes_quickly", "realtime")
    assert (response["transport"], runs) == ("sip", [])
    assert types(events) == ["dialing", "answered", "awake"]
    record, events, response = await run_call(
        live, "wakes_quickly", "realtime", transport="media_stream"
    )
    assert runs == [1]
    assert response["mode"] == "traditional"
    assert response["transport"] is None
    assert record.stream_sids == []
    assert record.dials == []


# --- the webhook endpoint ------------------------------------------------------------


def incoming_event(token: str | None, call_id: str = "rtc_unknown") -> dict[str, Any]:
    """A realtime.call.incoming event as OpenAI sends it."""
    headers = [{"name": "From", "value": "sip:+15550100100@twilio.example"}]
    if token is not None:
        headers.append({"name": "X-Wake-Token", "value": token})
    return {
        "object": "event",
        "id": "evt_test",
        "type": "realtime.call.incoming",
        "created_at": int(time.time()),
        "data": {"call_id": call_id, "sip_headers": headers},
    }


def call_control(simulator: Simulator) -> list[str]:
    """Every accept, reject or hangup the integration sent OpenAI."""
    return [
        r.path
        for r in simulator.recorder.requests_to("openai")
        if r.path.endswith(("/accept", "/reject", "/hangup"))
    ]


WRONG_SECRET = "whsec_d3Jvbmctc2VjcmV0LWtleS0xMjM0NTY3ODkwYWI="


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize(
    ("forgery", "status"),
    [
        ({"secret": WRONG_SECRET}, 401),
        ({"signature": "v1,bm90IGEgc2lnbmF0dXJl"}, 401),
        ({"signature": "v1, v2,abc"}, 401),
        ({"timestamp": -400}, 400),  # seconds from now, when the test runs
        ({"timestamp": 400}, 400),
    ],
)
async def test_webhook_refuses_forgeries(
    live: Live, forgery: dict[str, Any], status: int
) -> None:
    """A webhook that is not OpenAI's, or not fresh, is refused before any work.

    Its call would be rejected if it were authentic (its token is unknown): a
    refused one makes no request to OpenAI at all.
    """
    sip = live.simulator.sip
    if "timestamp" in forgery:
        forgery = {"timestamp": int(time.time()) + forgery["timestamp"]}
    assert await sip.deliver(incoming_event("not-a-token"), **forgery) == status
    assert call_control(live.simulator) == []
    # The same event, signed properly, is rejected through OpenAI's API.
    assert await sip.deliver(incoming_event("not-a-token")) == 200
    await until(lambda: call_control(live.simulator))
    assert call_control(live.simulator) == ["/v1/realtime/calls/rtc_unknown/reject"]


@pytest.mark.usefixtures("webhook_url")
async def test_webhook_refuses_a_body_it_cannot_trust(live: Live) -> None:
    """Missing headers, a body too big, a signed body that is not JSON: refused, no OpenAI request."""
    url = live.simulator.sip.webhook_url
    assert url is not None
    session = live.simulator.session
    async with session.post(url, data=b"{}") as response:
        assert response.status == 401  # no Standard Webhooks headers at all
    async with session.post(url, data=b"x" * (65 * 1024)) as response:
        assert response.status == 413
    assert await live.simulator.sip.deliver(b"not json") == 400
    async with session.get(url) as response:
        assert response.status == 405
    assert call_control(live.simulator) == []


@pytest.mark.usefixtures("webhook_url")
async def test_webhook_ignores_other_events(live: Live) -> None:
    """A signed event of another kind (the project's other webhooks) changes nothing."""
    event = {"object": "event", "id": "evt_1", "type": "response.completed", "data": {}}
    assert await live.simulator.sip.deliver(event) == 200
    assert call_control(live.simulator) == []


@pytest.mark.usefixtures("webhook_url")
async def test_webhook_rejects_strangers(live: Live) -> None:
    """Someone else dials the project's SIP address: rejected, never accepted."""
    sip = live.simulator.sip
    stranger = await sip.stranger_calls()
    assert await asyncio.wait_for(stranger.decision, 5) == 603
    impostor = await sip.stranger_calls(
        [{"name": "x-wake-token", "value": "guessed-token-0123456789"}]
    )
    assert await asyncio.wait_for(impostor.decision, 5) == 603
    assert accepts(live.simulator) == []


@pytest.mark.usefixtures("webhook_url")
async def test_webhook_with_another_token_for_our_call(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed announcement of the ringing call, but with a token HA never gave out.

    It is rejected, never accepted (the call goes on turn-based); the genuine
    announcements, signed with another secret here, are refused as well.
    """
    sip = live.simulator.sip
    sip.signing_secret = WRONG_SECRET
    genuine = sip.announce

    async def announce(call: SipCall) -> None:
        forged = incoming_event("a-token-that-was-never-issued", call.call_id)
        await sip.deliver(forged, secret=DEFAULT_WEBHOOK_SECRET)
        await genuine(call)

    monkeypatch.setattr(sip, "announce", announce)
    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert accepts(live.simulator) == []
    assert [
        e["status_code"] for e in live.simulator.recorder.events_named("sip_rejected")
    ] == [603]
    assert record.dials[0]["DialCallStatus"] == "busy"
    assert types(events)[-1] == "awake"
    assert "fallback" in types(events)


@pytest.mark.usefixtures("webhook_url")
async def test_webhook_replay_changes_nothing(live: Live) -> None:
    """A captured webhook posted again is answered, but nothing is done with it."""
    await run_call(live, "wakes_quickly", "realtime")
    before = call_control(live.simulator)
    assert (
        before.count(
            "/v1/realtime/calls/" + next(iter(live.simulator.sip.calls)) + "/accept"
        )
        == 1
    )
    assert await live.simulator.sip.replay(0) == 200
    # Its token is spent: a fresh delivery of it would be rejected; a replay is not.
    await live.hass.async_block_till_done()
    assert call_control(live.simulator) == before


@pytest.mark.parametrize(
    "entry_options",
    [
        {CONF_REALTIME_TRANSPORT: "media_stream", CONF_SIP_WEBHOOK_ID: WEBHOOK_ID},
        {**SIP_OPTIONS, CONF_WEBHOOK_SECRET: "not a whsec secret"},
    ],
)
@pytest.mark.usefixtures("webhook_url")
async def test_no_webhook_without_sip(live: Live) -> None:
    """Without SIP set up, nothing listens: Home Assistant's webhook answers and forgets."""
    assert await live.simulator.sip.deliver(incoming_event("whatever")) == 200
    await live.hass.async_block_till_done()
    assert call_control(live.simulator) == []


@pytest.mark.usefixtures("webhook_url")
async def test_forced_sip_needs_sip_set_up(live: Live) -> None:
    """A call asked for over SIP when SIP is not set up is refused before dialling."""
    live.hass.config_entries.async_update_entry(live.entry, options={})
    await live.hass.async_block_till_done()
    with pytest.raises(HomeAssistantError) as raised:
        await live.hass.services.async_call(
            DOMAIN,
            SERVICE_CALL,
            {"mode": "realtime", "transport": "sip"},
            blocking=True,
            return_response=True,
        )
    assert raised.value.translation_key == "sip_not_configured"
    assert live.simulator.network.calls == {}


# --- trouble on the way -----------------------------------------------------------


@pytest.mark.usefixtures("webhook_url")
@pytest.mark.parametrize(
    ("engine", "match"),
    [("realtime", "GET /v1/realtime"), ("live", "/attach")],
)
async def test_sideband_refused(live: Live, engine: str, match: str) -> None:
    """OpenAI refuses the sideband after the accept: the leg ends, turn-based goes on."""
    live.simulator.fail("openai", match, status=500)
    record, events, _ = await run_call(live, "wakes_quickly", engine)
    # (Twilio's machine detection may come after the refusal.)
    assert sorted(types(events)) == ["answered", "awake", "dialing", "fallback"]
    fallback = next(e for e in events if e["type"] == "fallback")
    assert fallback["reason"] == "openai_http_500"
    assert len(accepts(live.simulator)) == 1
    kinds = [url.split("/")[-2] for url, _ in record.webhooks]
    assert kinds[:2] == ["voice", "dial"]
    assert record.said("coach")[0].startswith("Good morning, Alice!")


@pytest.mark.usefixtures("webhook_url")
async def test_hangup_refused_at_the_end(live: Live) -> None:
    """OpenAI will not hang up after the goodbye: Twilio's REST API ends the call."""
    live.simulator.fail("openai", "/hangup", status=500)
    record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "answered", "awake"]
    assert record.ended_by == "rest"


@pytest.mark.usefixtures("webhook_url")
async def test_hangup_refused_after_the_sideband_broke(live: Live) -> None:
    """The sideband breaks and OpenAI will not hang up: Twilio moves the call on."""
    live.simulator.sip.drop_sideband_after = 6.0
    live.simulator.fail("openai", "/hangup", status=500)
    record, events, _ = await run_call(live, "sleepy", "realtime")
    assert types(events) == ["dialing", "answered", "fallback", "awake"]
    assert events[2]["reason"] == "openai_dropped"
    redirects = [
        r.data
        for r in live.simulator.recorder.requests_to("twilio", record.sid)
        if r.method == "POST"
    ]
    assert "/resume/" in redirects[0]["Url"]


@pytest.mark.usefixtures("webhook_url")
async def test_announced_twice(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenAI announces the call again (new webhook ids): nothing more happens."""
    sip = live.simulator.sip
    genuine = sip.announce

    async def twice(call: SipCall) -> None:
        await genuine(call)
        await genuine(call)

    monkeypatch.setattr(sip, "announce", twice)
    _record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "answered", "awake"]
    # Accepted once; never rejected (which could have won against the accept).
    assert [path.rsplit("/", 1)[1] for path in call_control(live.simulator)] == [
        "accept",
        "hangup",
    ]


@pytest.mark.usefixtures("webhook_url")
async def test_second_call_with_a_used_token(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another call to the project carries the token of one already taken: rejected."""
    sip = live.simulator.sip
    genuine = sip.announce
    strangers: list[SipCall] = []

    async def and_an_impostor(call: SipCall) -> None:
        await genuine(call)
        await call.decision
        stranger = SipCall(live.simulator, call.headers)
        sip.calls[stranger.call_id] = stranger
        strangers.append(stranger)
        await genuine(stranger)

    monkeypatch.setattr(sip, "announce", and_an_impostor)
    _record, events, _ = await run_call(live, "wakes_quickly", "realtime")
    assert types(events) == ["dialing", "answered", "awake"]
    assert len(accepts(live.simulator)) == 1
    assert await asyncio.wait_for(strangers[0].decision, 5) == 603
