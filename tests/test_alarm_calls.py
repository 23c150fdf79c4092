"""The alarm clock placing real calls through the simulator: the redial ladder, end to end.

The alarm is set a couple of seconds ahead and Home Assistant's own timer rings
it; the simulated phone network answers (or not) as scripted; redials follow
the entry's options. Nothing in the integration is mocked.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.wakeup_coach.const import (
    CONF_WEEKDAYS,
    DOMAIN,
    EVENT_CALL,
    SERVICE_CALL,
    SERVICE_HANG_UP,
    WEEKDAYS,
)
from simulator.sleepers import SCRIPTS

from .conftest import CREATE_CALL, SLEEPER_NUMBER, Live, until


@pytest.fixture
async def alarm_live(live: Live, sleeper_data: dict[str, Any]) -> Live:
    """Alice, alarm on every day, redialled once, one second after a call that failed."""
    hass, entry = live.hass, live.entry
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**sleeper_data, CONF_WEEKDAYS: list(WEEKDAYS)}
    )
    hass.config_entries.async_update_entry(
        entry, options={"redial_delay": 1, "redial_attempts": 1, "ring_timeout": 10}
    )
    await hass.async_block_till_done()
    await until(lambda: entry.runtime_data.sleepers)
    return live


def ring_soon(live: Live, seconds: int = 2) -> None:
    """Set Alice's alarm a few seconds from now, and turn it on."""
    at = dt_util.now() + timedelta(seconds=seconds)
    live.sleeper.update_settings(
        alarm_enabled=True, alarm_time=at.time().replace(microsecond=0)
    )


def creates(live: Live) -> int:
    """How many calls Twilio was asked to place."""
    return len(
        [
            r
            for r in live.simulator.recorder.requests_to("twilio", "Calls.json")
            if r.method == "POST"
        ]
    )


def types(events: list[Event]) -> list[str]:
    return [event.data["type"] for event in events]


async def test_no_answer_then_redial_then_awake(alarm_live: Live) -> None:
    """The alarm rings, nobody answers; a redial follows, is answered, and she gets up."""
    live = alarm_live
    hass = live.hass
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["never_answers"]
    events = async_capture_events(hass, EVENT_CALL)

    @callback
    def answer_next_time(event: Event) -> None:
        if event.data["type"] == "redial_scheduled":
            live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]

    hass.bus.async_listen(EVENT_CALL, answer_next_time)
    ring_soon(live)
    await until(lambda: "awake" in types(events), timeout=30)
    await live.wait_idle()
    assert types(events) == [
        "alarm",
        "dialing",
        "no_answer",
        "redial_scheduled",
        "dialing",
        "answered",
        "awake",
    ]
    assert [event.data["attempt"] for event in events] == [1, 1, 1, 2, 2, 2, 2]
    assert events[1].data["trigger"] == "alarm"
    assert events[4].data["trigger"] == "redial"
    assert creates(live) == 2
    # The alarm is done: tomorrow's is next.
    assert live.sleeper.next_alarm_kind == "alarm"
    assert live.sleeper.next_alarm() is not None
    assert live.sleeper.next_alarm() > dt_util.utcnow() + timedelta(hours=20)


async def test_no_answer_until_missed(alarm_live: Live) -> None:
    """Never answered: the alarm call and its one redial, then `missed`, and no more calls."""
    live = alarm_live
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["never_answers"]
    events = async_capture_events(live.hass, EVENT_CALL)
    ring_soon(live)
    await until(lambda: "missed" in types(events), timeout=30)
    assert types(events) == [
        "alarm",
        "dialing",
        "no_answer",
        "redial_scheduled",
        "dialing",
        "no_answer",
        "missed",
    ]
    assert events[-1].data["attempt"] == 2
    assert creates(live) == 2
    assert live.entry.runtime_data.alarms[live.sleeper.subentry_id].state.pending == []


@pytest.mark.parametrize("stop", ["manual call", "hang up"])
async def test_pending_redial_stopped_by_hand(alarm_live: Live, stop: str) -> None:
    """A redial is waiting; a call placed or hung up by hand replaces it."""
    live = alarm_live
    hass = live.hass
    live.hass.config_entries.async_update_entry(
        live.entry,
        options={"redial_delay": 60, "redial_attempts": 3, "ring_timeout": 10},
    )
    await hass.async_block_till_done()
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["never_answers"]
    events = async_capture_events(hass, EVENT_CALL)
    ring_soon(live)
    await until(lambda: "redial_scheduled" in types(events), timeout=30)
    if stop == "manual call":
        live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
        await hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
        await until(lambda: types(events)[-1] == "awake")
        assert creates(live) == 2
    else:
        live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["silent"]
        await hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
        await until(lambda: "answered" in types(events))
        await hass.services.async_call(DOMAIN, SERVICE_HANG_UP, {}, blocking=True)
        await live.wait_idle()
    alarm = live.entry.runtime_data.alarms[live.sleeper.subentry_id]
    assert alarm.state.pending == []
    assert alarm.state.ladder is None
    assert live.sleeper.next_alarm_kind == "alarm"
    assert "missed" not in types(events)


async def test_alarm_and_button_in_the_same_second(alarm_live: Live) -> None:
    """The alarm and Call now at the same second: one call rings, never two."""
    live = alarm_live
    hass = live.hass
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    live.simulator.fail("twilio", CREATE_CALL, delay=0.3, status=None)
    events = async_capture_events(hass, EVENT_CALL)
    ring_soon(live)
    fires_at = live.sleeper.next_alarm()
    assert fires_at is not None
    await until(lambda: dt_util.utcnow() >= fires_at, timeout=10)
    # Whichever of the two comes second finds the call of the first: the button is
    # refused (call_in_progress), or the alarm adopts the button's call.
    with contextlib.suppress(HomeAssistantError):
        await hass.services.async_call(
            "button", "press", {"entity_id": "button.alice_call_now"}, blocking=True
        )
    await until(lambda: "awake" in types(events), timeout=30)
    await live.wait_idle()
    assert creates(live) == 1
    assert types(events).count("dialing") == 1


async def test_one_off_call_in_minutes(alarm_live: Live, hass: HomeAssistant) -> None:
    """'Call me in N minutes' answers with the time, shows as the next alarm, and rings then."""
    live = alarm_live
    response = await hass.services.async_call(
        DOMAIN, SERVICE_CALL, {"in_minutes": 1}, blocking=True, return_response=True
    )
    assert response is not None
    at = dt_util.parse_datetime(str(response["scheduled_at"]))
    assert at is not None
    assert live.sleeper.next_alarm() == at
    assert live.sleeper.next_alarm_kind == "one_off"
    state = hass.states.get("sensor.alice_next_alarm")
    assert state is not None
    assert dt_util.parse_datetime(state.state) == at
    assert state.attributes["kind"] == "one_off"
