"""The automation blueprints, set up in Home Assistant as a user would import them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "wakeup_coach"
SLEEPER = "device-of-alice"


@pytest.fixture
async def use_blueprint(hass: HomeAssistant, tmp_path: Path) -> Any:
    """Set up one automation from one of our blueprints, as an imported blueprint."""
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "wakeup_coach"
    shutil.copytree(BLUEPRINTS, target)

    async def setup(name: str, inputs: dict[str, Any]) -> None:
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "use_blueprint": {
                        "path": f"wakeup_coach/{name}.yaml",
                        "input": inputs,
                    }
                }
            },
        )
        await hass.async_block_till_done()
        assert hass.states.async_entity_ids("automation"), "blueprint rejected"

    return setup


def wakeup_event(
    hass: HomeAssistant, event_type: str, device_id: str = SLEEPER
) -> None:
    hass.bus.async_fire(
        "wakeup_coach_event",
        {"type": event_type, "device_id": device_id, "sleeper": "Alice"},
    )


def test_every_blueprint_is_tested() -> None:
    """Each file in the blueprints folder has a test here."""
    assert sorted(p.stem for p in BLUEPRINTS.glob("*.yaml")) == [
        "call_when_phone_alarm_not_dismissed",
        "escalate_when_missed",
        "lights_on_when_answered",
    ]


async def test_lights_on_when_answered(hass: HomeAssistant, use_blueprint: Any) -> None:
    """A person answered Alice's call: her lights go on; voicemail or another sleeper: no."""
    turn_on = async_mock_service(hass, "light", "turn_on")
    await use_blueprint(
        "lights_on_when_answered",
        {
            "sleeper": SLEEPER,
            "lights": {"entity_id": "light.bedroom"},
            "brightness": 60,
        },
    )
    wakeup_event(hass, "voicemail")
    wakeup_event(hass, "answered", device_id="device-of-bob")
    await hass.async_block_till_done()
    assert turn_on == []
    wakeup_event(hass, "answered")
    await hass.async_block_till_done()
    assert [call.data for call in turn_on] == [
        {"entity_id": ["light.bedroom"], "brightness_pct": 60}
    ]


async def test_escalate_when_missed_default(
    hass: HomeAssistant, use_blueprint: Any
) -> None:
    """By default a missed alarm becomes a notification naming the sleeper."""
    notify = async_mock_service(hass, "persistent_notification", "create")
    await use_blueprint("escalate_when_missed", {"sleeper": SLEEPER})
    wakeup_event(hass, "not_awake")
    await hass.async_block_till_done()
    assert notify == []
    wakeup_event(hass, "missed")
    await hass.async_block_till_done()
    assert [call.data for call in notify] == [
        {"title": "Wake-up Coach", "message": "Alice missed the wake-up alarm."}
    ]


async def test_escalate_when_missed_announces(
    hass: HomeAssistant, use_blueprint: Any
) -> None:
    """The escalation can be any action, e.g. an announcement on a speaker."""
    speak = async_mock_service(hass, "tts", "speak")
    await use_blueprint(
        "escalate_when_missed",
        {
            "sleeper": SLEEPER,
            "escalation": [
                {
                    "action": "tts.speak",
                    "target": {"entity_id": "tts.piper"},
                    "data": {
                        "media_player_entity_id": "media_player.kitchen",
                        "message": "{{ sleeper }} is not up!",
                    },
                }
            ],
        },
    )
    wakeup_event(hass, "missed")
    await hass.async_block_till_done()
    assert [call.data for call in speak] == [
        {
            "entity_id": ["tts.piper"],
            "media_player_entity_id": "media_player.kitchen",
            "message": "Alice is not up!",
        }
    ]


@pytest.mark.parametrize(("dismissed", "calls"), [(False, 1), (True, 0)])
async def test_call_when_phone_alarm_not_dismissed(
    hass: HomeAssistant,
    use_blueprint: Any,
    freezer: FrozenDateTimeFactory,
    dismissed: bool,
    calls: int,
) -> None:
    """The phone's alarm rings; not dismissed within 5 minutes, the coach calls."""
    call = async_mock_service(hass, "wakeup_coach", "call")
    alarm = "event.phone_alarm"
    hass.states.async_set(
        alarm, "2026-11-30T06:00:00+00:00", {"event_type": "alert_dismiss"}
    )
    await use_blueprint(
        "call_when_phone_alarm_not_dismissed",
        {"alarm_event": alarm, "sleeper": SLEEPER, "minutes": 5},
    )
    now = dt_util.utcnow()
    hass.states.async_set(alarm, now.isoformat(), {"event_type": "alert_start"})
    # The automation now waits (not done: waiting for it would hang the test).
    automation = hass.states.async_entity_ids("automation")[0]
    # Frozen time stops asyncio's timers in older test harnesses: let the loop run.
    for _ in range(1000):
        if hass.states.get(automation).attributes.get("current") == 1:
            break
        await asyncio.sleep(0)
    assert hass.states.get(automation).attributes.get("current") == 1
    freezer.tick(timedelta(minutes=2))
    if dismissed:
        hass.states.async_set(
            alarm, dt_util.utcnow().isoformat(), {"event_type": "alert_dismiss"}
        )
    freezer.tick(timedelta(minutes=4))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [c.data for c in call] == [{"sleeper": SLEEPER}] * calls
