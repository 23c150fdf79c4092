"""The call manager when a call is placed, hung up or followed and something gets in the way.

Whole calls through the simulator, as in tests/test_traditional_calls.py: here
the entry unloads while a dial waits, Twilio refuses a hang-up or cannot say how
a call ended, and two calls race for one sleeper.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging

from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.wakeup_coach import dialer, selftest
from custom_components.wakeup_coach.const import (
    DOMAIN,
    EVENT_CALL,
    SERVICE_CALL,
    SERVICE_HANG_UP,
)
from simulator.accounts import DEFAULT_ACCOUNT_SID
from simulator.sleepers import SCRIPTS, Answer, SleeperScript

from .conftest import CREATE_CALL, SLEEPER_NUMBER, Live, until

# The REST requests about one existing call (create and list go to Calls.json).
CALL_UPDATE = f"POST /2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/CA"
CALL_FETCH = f"GET /2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls/CA"
RINGING = SleeperScript(
    name="ringing", description="rings", answer=Answer.HUMAN, ring_seconds=10_000
)


def creates(live: Live) -> list[int]:
    """The status of each request Twilio got to place a call."""
    return [
        r.status
        for r in live.simulator.recorder.requests_to("twilio", "Calls.json")
        if r.method == "POST"
    ]


def hang_ups(live: Live) -> list[int]:
    """The status of each request Twilio got to end a call."""
    return [
        r.status
        for r in live.simulator.recorder.requests_to("twilio", "/Calls/CA")
        if r.method == "POST" and r.data.get("Status") == "completed"
    ]


def last_result(live: Live) -> str:
    state = live.hass.states.get("sensor.alice_last_call_result")
    assert state is not None
    return state.state


async def test_unloaded_while_waiting_to_retry(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio refused the call for load; the entry unloads before the retry: nothing rings."""
    monkeypatch.setattr(dialer, "RETRY_DELAYS", (60.0,))
    live.simulator.fail("twilio", CREATE_CALL, status=429)
    events = async_capture_events(live.hass, EVENT_CALL)
    task = live.hass.async_create_task(
        live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    )
    await until(lambda: creates(live))
    assert await live.hass.config_entries.async_unload(live.entry.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        async with asyncio.timeout(5):  # the 60 s wait is cut short
            await task
    assert err.value.translation_key == "call_canceled"
    assert creates(live) == [429]
    assert not live.simulator.network.calls
    assert [event.data["type"] for event in events] == ["dialing", "canceled"]


async def test_cancelled_action_then_unloaded(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """An action cancelled mid-dial, then the entry unloads: the call is hung up, quietly.

    Nobody awaits the dial any more; that it was cancelled is no error to log.
    """
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["silent"]
    live.simulator.fail("twilio", CREATE_CALL, delay=0.5, status=None)
    placed = live.simulator.network.expect_call()
    task = live.hass.async_create_task(
        live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    )
    await live.wait_dialing()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await live.hass.config_entries.async_unload(live.entry.entry_id)
    record = await placed
    async with asyncio.timeout(10):
        await record.done.wait()
    await live.hass.async_block_till_done()
    assert record.ended_by == "rest"
    assert "could not be placed" not in caplog.text
    assert last_result(live) == "unavailable"  # the entry is unloaded


async def test_hang_up_refused_by_twilio(live: Live) -> None:
    """Twilio refuses the hang-up: the action says so; a second try ends the call."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = RINGING
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    record = await placed
    live.simulator.fail("twilio", CALL_UPDATE, status=500)
    with pytest.raises(HomeAssistantError) as err:
        await live.hass.services.async_call(DOMAIN, SERVICE_HANG_UP, {}, blocking=True)
    assert err.value.translation_key == "call_failed"
    assert live.sleeper.call_in_progress
    await live.hass.services.async_call(DOMAIN, SERVICE_HANG_UP, {}, blocking=True)
    async with asyncio.timeout(10):
        await record.done.wait()
    await live.wait_idle()
    assert hang_ups(live) == [500, 200]
    assert record.ended_by == "rest"


async def test_lost_end_and_twilio_cannot_say(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """No final status, and Twilio cannot be asked either: the call is hung up to be sure."""
    live.simulator.lost_status_events.add("completed")
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    record = await placed
    await record.done.wait()
    await live.hass.async_block_till_done()
    assert live.sleeper.call_in_progress  # HA never heard the end
    live.simulator.fail("twilio", CALL_FETCH, status=500)
    async_fire_time_changed(live.hass, dt_util.utcnow() + timedelta(minutes=20))
    await live.wait_idle()
    assert any(
        r.levelno == logging.WARNING
        and r.getMessage().startswith("Could not ask Twilio about the call")
        for r in caplog.records
    )
    assert len(hang_ups(live)) == 1
    assert last_result(live) == "awake"


async def test_another_call_placed_while_the_self_test_ran(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live call waits for the self-test; a call placed meanwhile wins, the live one is refused."""
    echo_reached, release = asyncio.Event(), asyncio.Event()
    echo = selftest._Run.echo

    async def held_echo(run: selftest._Run) -> str:
        echo_reached.set()
        await release.wait()
        return await echo(run)

    monkeypatch.setattr(selftest._Run, "echo", held_echo)
    # The last result is stale: the live call runs the self-test again first.
    last = live.entry.runtime_data.selftest.last
    assert last is not None
    last.tested_at -= timedelta(days=2)
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    live_call = live.hass.async_create_task(
        live.hass.services.async_call(
            DOMAIN, SERVICE_CALL, {"mode": "realtime"}, blocking=True
        )
    )
    async with asyncio.timeout(10):
        await echo_reached.wait()
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"mode": "traditional"}, blocking=True
    )
    release.set()
    with pytest.raises(HomeAssistantError) as err:
        async with asyncio.timeout(10):
            await live_call
    assert err.value.translation_key == "call_in_progress"
    record = await placed
    await record.done.wait()
    await live.wait_idle()
    assert len(live.simulator.network.calls) == 1
    assert last_result(live) == "awake"
