"""Whole traditional-mode calls, driven through the simulator over real sockets.

The service action places the call with Twilio's REST API; the simulated phone
network rings the scripted sleeper, fetches TwiML from Home Assistant's own HTTP
server, posts speech and status callbacks, and the chat completions come from
the simulated OpenAI. Nothing in the integration is mocked.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.wakeup_coach import dialer
from custom_components.wakeup_coach.call_session import CallState
from custom_components.wakeup_coach.const import (
    DOMAIN,
    EVENT_CALL,
    SERVICE_CALL,
    SERVICE_HANG_UP,
)
from simulator.phone_network import CallRecord
from simulator.sleepers import SCRIPTS

from .conftest import CREATE_CALL, SLEEPER_NUMBER, Live, until

PHRASES_EN_SLEEPING = "Are you sleeping? Say something so I know you're awake!"


async def run_call(live: Live, script: str) -> tuple[CallRecord, list[str]]:
    """Call Alice, who answers with `script`; the simulated call and the event types."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS[script]
    events = async_capture_events(live.hass, EVENT_CALL)
    waiting = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "traditional"}, blocking=True
    )
    record = await waiting
    assert live.sleeper.call_in_progress
    await record.done.wait()
    await live.wait_idle()
    return record, [event.data["type"] for event in events]


async def dial_slowly(
    live: Live, script: str
) -> tuple[asyncio.Task[None], asyncio.Future[CallRecord]]:
    """Start a call that Twilio takes half a second to accept; return once it is dialling.

    The action's task, and the call the simulated network will place.
    """
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS[script]
    live.simulator.fail("twilio", CREATE_CALL, delay=0.5, status=None)
    placed = live.simulator.network.expect_call()
    task = live.hass.async_create_task(
        live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    )
    await live.wait_dialing()
    return task, placed


def last_result(hass: HomeAssistant) -> str:
    state = hass.states.get("sensor.alice_last_call_result")
    assert state is not None
    return state.state


async def test_wakes_quickly(live: Live) -> None:
    """Greeting, three turns with model replies, proof, goodbye: awake."""
    record, events = await run_call(live, "wakes_quickly")

    assert events == ["dialing", "answered", "awake"]
    assert last_result(live.hass) == "awake"
    assert record.status == "completed"
    assert record.application_error is None
    assert record.said("sleeper") == [
        line.text for line in SCRIPTS["wakes_quickly"].lines
    ]  # type: ignore[union-attr]
    assert record.said("coach")[0].startswith("Good morning, Alice!")
    assert record.said("coach")[-1].startswith("Well done, Alice, you're up!")
    # The model saw the whole call so far, with the persona and the proof rule,
    # which changes once the motion sensor has fired.
    first_chat = live.simulator.chat_requests[0]["messages"]
    assert first_chat[0]["role"] == "system"
    assert (
        "only counts as up once Home Assistant notices it: Bathroom motion"
        in first_chat[0]["content"]
    )
    assert "Loves coffee." in first_chat[0]["content"]
    last_chat = live.simulator.chat_requests[-1]["messages"]
    assert "Alice has proven being up" in last_chat[0]["content"]
    assert [m["content"] for m in last_chat[1:]] == [
        text for _, text in record.transcript[: len(last_chat) - 1]
    ]
    binary = live.hass.states.get("binary_sensor.alice_call_in_progress")
    assert binary is not None
    assert binary.state == "off"
    history = live.entry.runtime_data.calls.history[0]
    assert history["result"] == "awake"
    assert [line["speaker"] for line in history["transcript"]][:2] == [
        "coach",
        "sleeper",
    ]


async def test_sleepy_then_wakes(live: Live) -> None:
    """Silence, a mumble and a snooze plea do not end the call; proof then goodbye does."""
    record, events = await run_call(live, "sleepy")

    assert events[-1] == "awake"
    assert PHRASES_EN_SLEEPING in record.said("coach")
    assert "Five more minutes, please." in record.said("sleeper")
    assert record.said("sleeper")[-1] == "I'm up. Goodbye."


async def test_silence_twice(live: Live) -> None:
    """Silent twice: asked once whether they sleep, then the call ends as not awake."""
    record, events = await run_call(live, "silent")

    assert events[-1] == "not_awake"
    assert last_result(live.hass) == "not_awake"
    assert record.said("coach").count(PHRASES_EN_SLEEPING) == 1
    assert record.said("coach")[-1] == "I'll let you go for now. Goodbye."
    assert not live.simulator.chat_requests  # silence needs no model


async def test_goodbye_before_proof(live: Live) -> None:
    """A goodbye without proof is refused; after proof the next goodbye ends the call."""
    record, events = await run_call(live, "goodbye_before_proof")

    assert events[-1] == "awake"
    sleeper_lines = record.said("sleeper")
    assert sleeper_lines == [
        line.text for line in SCRIPTS["goodbye_before_proof"].lines
    ]  # type: ignore[union-attr]
    refused = record.said("coach")[1]
    assert "Not so fast" in refused
    # The model was told why it must refuse.
    first_chat = live.simulator.chat_requests[0]["messages"][0]["content"]
    assert "has not proven being up" in first_chat


async def test_no_proof_configured_goodbye_ends(
    live: Live, sleeper_data: dict[str, object]
) -> None:
    """Without verification entities, the sleeper's goodbye is enough."""
    hass, entry = live.hass, live.entry
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**sleeper_data, "verification_entities": []}
    )
    await hass.async_block_till_done()
    record, events = await run_call(live, "goodbye_before_proof")
    assert events[-1] == "awake"
    assert record.said("sleeper") == ["I'm awake, goodbye."]


async def test_openai_error_mid_call(live: Live) -> None:
    """A failed completion speaks a fallback line; the call goes on and ends awake."""
    live.simulator.fail("openai", "chat/completions", status=500)
    record, events = await run_call(live, "wakes_quickly")

    assert events[-1] == "awake"
    assert "Sorry, I didn't quite get that. Are you sitting up yet?" in record.said(
        "coach"
    )
    assert live.entry.runtime_data.calls.history[0]["fallbacks"] == 1


async def test_openai_rate_limited_mid_call(live: Live) -> None:
    """429 is handled the same way."""
    live.simulator.fail("openai", "chat/completions", status=429)
    _record, events = await run_call(live, "wakes_quickly")
    assert events[-1] == "awake"
    assert live.entry.runtime_data.calls.history[0]["fallbacks"] == 1


async def test_twilio_500_on_create_then_success(live: Live) -> None:
    """Transient Twilio failures are retried; the third attempt dials."""
    live.simulator.fail("twilio", CREATE_CALL, status=500, times=2)
    _record, events = await run_call(live, "wakes_quickly")

    creates = live.simulator.recorder.requests_to("twilio", "Calls.json")
    assert [r.status for r in creates if r.method == "POST"] == [500, 500, 201]
    # After each ambiguous 500, Twilio was asked whether the call existed after all.
    assert [r.status for r in creates if r.method == "GET"] == [200, 200]
    assert events[-1] == "awake"


async def test_twilio_keeps_failing(live: Live) -> None:
    """When every attempt fails: a translated error, a failed event, nothing left running."""
    live.simulator.fail("twilio", CREATE_CALL, status=503, times=10)
    events = async_capture_events(live.hass, EVENT_CALL)
    with pytest.raises(HomeAssistantError) as err:
        await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    assert err.value.translation_key == "call_failed"
    assert [e.data["type"] for e in events] == ["dialing", "failed"]
    requests = live.simulator.recorder.requests_to("twilio", "Calls.json")
    assert [r.method for r in requests] == ["POST", "GET"] * 4
    assert last_result(live.hass) == "failed"
    assert not live.sleeper.call_in_progress
    assert not live.entry.runtime_data.calls.calls_of()


async def test_twilio_refuses_the_number(live: Live) -> None:
    """A permanent Twilio error is not retried and says what Twilio said."""
    live.simulator.world.twilio_accounts[0].incoming_numbers.clear()
    with pytest.raises(HomeAssistantError) as err:
        await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    assert err.value.translation_key == "call_failed"
    message = str(err.value.translation_placeholders)
    assert "not yet verified" in message
    assert "+15550100100" not in message  # Twilio quotes the number; we mask it
    assert "+•••••••••00" in message
    assert len(live.simulator.recorder.requests_to("twilio", "Calls.json")) == 1


async def test_voicemail(live: Live) -> None:
    """Answering-machine detection finds voicemail: hung up, counted as not awake."""
    record, events = await run_call(live, "voicemail")

    # A voicemail box is not a person: no `answered` (the lights stay off).
    assert events == ["dialing", "voicemail"]
    assert last_result(live.hass) == "voicemail"
    assert record.ended_by == "rest"
    assert ("amd", 204) in record.status_callbacks


async def test_no_answer(live: Live) -> None:
    """Nobody answers within the ring time."""
    record, events = await run_call(live, "never_answers")

    assert events == ["dialing", "no_answer"]
    assert last_result(live.hass) == "no_answer"
    assert record.timeout == 30
    # Twilio's limit is a minute beyond the coach's (10 min), so the coach's goodbye is heard.
    assert record.time_limit == 660
    assert not [url for url, _ in record.webhooks]


async def test_hang_up_action(live: Live) -> None:
    """wakeup_coach.hang_up ends an answered call through Twilio's REST API: not awake."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["silent"]
    waiting = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    record = await waiting
    with pytest.raises(HomeAssistantError) as err:
        await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    assert err.value.translation_key == "call_in_progress"
    call = live.entry.runtime_data.calls.calls_of()[0]
    await until(lambda: call.session.state is CallState.IN_PROGRESS)
    await live.hass.services.async_call(DOMAIN, "hang_up", {}, blocking=True)
    await record.done.wait()
    await live.wait_idle()
    assert record.ended_by == "rest"
    assert last_result(live.hass) == "not_awake"
    with pytest.raises(HomeAssistantError) as err:
        await live.hass.services.async_call(DOMAIN, "hang_up", {}, blocking=True)
    assert err.value.translation_key == "no_call_in_progress"


async def test_confirm_awake_counts_as_proof(live: Live) -> None:
    """confirm_awake before the goodbye lets the first goodbye end the call."""
    await live.hass.services.async_call(DOMAIN, "confirm_awake", {}, blocking=True)
    record, events = await run_call(live, "goodbye_before_proof")
    assert events[-1] == "awake"
    assert record.said("sleeper") == ["I'm awake, goodbye."]


async def test_call_now_button(live: Live) -> None:
    """The button places a call like the action does."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    waiting = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        "button", "press", {"entity_id": "button.alice_call_now"}, blocking=True
    )
    record = await waiting
    await record.done.wait()
    await live.wait_idle()
    assert last_result(live.hass) == "awake"


async def test_no_public_url(live: Live, hass: HomeAssistant) -> None:
    """Without an external URL the call fails clearly and a repair issue explains why."""
    from homeassistant.helpers import issue_registry as ir  # noqa: PLC0415

    await hass.config.async_update(external_url=None)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    assert err.value.translation_key == "no_public_url"
    issue_id = f"no_public_url_{live.entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await hass.config.async_update(external_url=live.base_url)
    record, _ = await run_call(live, "wakes_quickly")
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert record.status == "completed"


async def test_twilio_500_after_placing_the_call(live: Live) -> None:
    """Twilio placed the call but answered 500: its callbacks show it, no second call rings."""
    live.simulator.fail("twilio", CREATE_CALL, status=500, after_handler=True)
    record, events = await run_call(live, "wakes_quickly")
    assert events[-1] == "awake"
    assert len(live.simulator.network.calls) == 1
    assert record.application_error is None


async def test_late_sign_of_life_ends_the_retries(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio answered 500 but placed the call, and said so only after we stopped waiting."""
    monkeypatch.setattr(dialer, "CREATE_CONFIRM_SECONDS", 0)
    monkeypatch.setattr(dialer, "RETRY_DELAYS", (60.0,))
    # The first callback to name the call is "answered", after the ringing.
    live.simulator.lost_status_events.update({"initiated", "ringing"})
    live.simulator.fail("twilio", CREATE_CALL, status=500, after_handler=True)
    async with asyncio.timeout(20):  # the 60 s wait is cut short
        record, events = await run_call(live, "wakes_quickly")
    assert events[-1] == "awake"
    assert len(live.simulator.network.calls) == 1
    assert record.application_error is None


async def test_rate_limited_create_is_retried_at_once(live: Live) -> None:
    """A 429 was refused outright, so it is retried without waiting for callbacks."""
    live.simulator.fail("twilio", CREATE_CALL, status=429)
    _record, events = await run_call(live, "wakes_quickly")
    creates = live.simulator.recorder.requests_to("twilio", "Calls.json")
    assert [r.status for r in creates if r.method == "POST"] == [429, 201]
    assert events[-1] == "awake"


async def test_cancelled_while_dialing_still_calls(live: Live) -> None:
    """An action cancelled mid-dial (automation restarted or timed out) does not cancel the call.

    Twilio may already hold the request: cancelling it would leave the phone
    ringing into a call that nobody follows.
    """
    events = async_capture_events(live.hass, EVENT_CALL)
    task, placed = await dial_slowly(live, "wakes_quickly")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert live.sleeper.call_in_progress
    record = await placed
    await record.done.wait()
    await live.wait_idle()
    assert record.application_error is None
    assert [event.data["type"] for event in events] == ["dialing", "answered", "awake"]
    assert last_result(live.hass) == "awake"


async def test_hang_up_while_dialing(live: Live) -> None:
    """Hang up before Twilio has named the call: it is hung up once it has."""
    task, placed = await dial_slowly(live, "never_answers")
    await live.hass.services.async_call(DOMAIN, SERVICE_HANG_UP, {}, blocking=True)
    await task
    record = await placed
    await record.done.wait()
    await live.wait_idle()
    assert record.ended_by == "rest"
    assert record.answered_at is None
    assert not record.webhooks  # it never rang through to a TwiML request
    assert last_result(live.hass) == "canceled"


async def test_hang_up_while_waiting_to_retry(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hang-up between two attempts to place the call: no further attempt rings anyone."""
    monkeypatch.setattr(dialer, "RETRY_DELAYS", (60.0,))
    live.simulator.fail("twilio", CREATE_CALL, status=429)
    creates = live.simulator.recorder.requests_to
    task = live.hass.async_create_task(
        live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    )
    await until(lambda: creates("twilio", "Calls.json"))
    await live.hass.services.async_call(DOMAIN, SERVICE_HANG_UP, {}, blocking=True)
    async with asyncio.timeout(5):  # the 60 s wait is cut short
        await task
    assert [r.status for r in creates("twilio", "Calls.json")] == [429]
    assert not live.simulator.network.calls
    assert last_result(live.hass) == "canceled"


async def test_failure_after_the_action_was_cancelled_is_logged(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody awaits a dial whose action was cancelled: its final failure is logged."""
    live.simulator.fail("twilio", CREATE_CALL, status=503, times=10, delay=0.2)
    events = async_capture_events(live.hass, EVENT_CALL)
    task = live.hass.async_create_task(
        live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    )
    await live.wait_dialing()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await live.wait_idle()
    await live.hass.async_block_till_done()
    assert "The wake-up call could not be placed" in caplog.text
    assert [event.data["type"] for event in events] == ["dialing", "failed"]
    assert last_result(live.hass) == "failed"


async def test_unload_while_dialing_hangs_up(live: Live) -> None:
    """If the entry unloads while Twilio takes the call, the call is hung up, not orphaned."""
    task, placed = await dial_slowly(live, "silent")
    assert await live.hass.config_entries.async_unload(live.entry.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert err.value.translation_key == "call_canceled"
    record = await placed
    await asyncio.wait_for(record.done.wait(), 10)
    assert record.ended_by == "rest"


async def test_lost_completed_callback(live: Live) -> None:
    """Twilio does not resend a lost status callback: the watchdog asks Twilio instead."""
    live.simulator.lost_status_events.add("completed")
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    record = await placed
    # The simulated call awaited each callback it sent before ending: all have landed.
    await record.done.wait()
    await live.hass.async_block_till_done()
    assert live.sleeper.call_in_progress  # HA never heard the end
    async_fire_time_changed(live.hass, dt_util.utcnow() + timedelta(minutes=20))
    await live.wait_idle()
    assert last_result(live.hass) == "awake"
    gets = [
        r
        for r in live.simulator.recorder.requests_to("twilio", record.sid)
        if r.method == "GET"
    ]
    assert gets


async def test_hangs_up_mid_call(live: Live) -> None:
    """The sleeper hangs up: the call ends as not awake."""
    record, events = await run_call(live, "hangs_up")
    assert events[-1] == "not_awake"
    assert record.ended_by == "sleeper"


async def test_reasoning_model_answers(live: Live) -> None:
    """A reasoning chat model gets room to think and little effort: it writes every reply."""
    live.hass.config_entries.async_update_entry(
        live.entry, options={"chat_model": "gpt-5-mini"}
    )
    await live.hass.async_block_till_done()
    record, events = await run_call(live, "wakes_quickly")
    assert events[-1] == "awake"
    assert live.entry.runtime_data.calls.history[0]["fallbacks"] == 0
    requests = live.simulator.chat_requests
    assert requests
    assert {(r["reasoning_effort"], r["max_completion_tokens"]) for r in requests} == {
        ("low", 1500)
    }
    assert "Sorry, I didn't quite get that" not in " ".join(record.said("coach"))


async def test_ambiguous_failure_finds_the_call_in_twilios_list(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio answered 500 after placing the call, and no callback came in time.

    Before trying again, the dialer asks Twilio for the calls to the sleeper: the
    first attempt is there, so it is the call, and nothing rings twice.
    """
    monkeypatch.setattr(dialer, "CREATE_CONFIRM_SECONDS", 0)
    live.simulator.lost_status_events.update({"initiated", "ringing"})
    live.simulator.fail("twilio", CREATE_CALL, status=500, after_handler=True)
    record, events = await run_call(live, "wakes_quickly")
    assert events[-1] == "awake"
    assert len(live.simulator.network.calls) == 1
    requests = live.simulator.recorder.requests_to("twilio", "Calls.json")
    assert [(r.method, r.status) for r in requests] == [("POST", 500), ("GET", 200)]
    assert record.application_error is None
