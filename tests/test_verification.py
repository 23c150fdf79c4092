"""What counts as proof of being up."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.wakeup_coach.models import SleeperConfig
from custom_components.wakeup_coach.verification import ProofTracker, is_proof


@pytest.mark.parametrize(
    ("entity_id", "old", "new", "expected"),
    [
        ("binary_sensor.motion", "off", "on", True),
        ("binary_sensor.motion", "on", "on", False),
        ("binary_sensor.motion", "on", "off", False),
        # Appearing or coming back on is not getting up: a restart, a reconnect.
        ("binary_sensor.motion", None, "on", False),
        ("binary_sensor.motion", "unavailable", "on", False),
        ("binary_sensor.motion", "unknown", "on", False),
        ("binary_sensor.motion", "off", "unavailable", False),
        ("light.bathroom", "off", "on", True),
        ("input_boolean.up", "unavailable", "on", False),
        ("event.doorbell", "2026-11-26T06:00:00", "2026-11-26T06:31:00", True),
        ("event.doorbell", "unavailable", "2026-11-26T06:31:00", False),
        ("event.doorbell", None, "2026-11-26T06:31:00", False),
        ("event.doorbell", "unknown", "2026-11-26T06:31:00", True),
        ("input_button.tag", "unavailable", "2026-11-26T06:31:00", False),
        ("input_button.tag", "2026-11-26T06:00:00", "unknown", False),
    ],
)
def test_is_proof(
    entity_id: str, old: str | None, new: str | None, expected: bool
) -> None:
    """Turning on counts; for events and buttons, a new occurrence counts (not a restart)."""
    assert is_proof(entity_id, old, new) is expected


async def test_tracker_window(hass: HomeAssistant) -> None:
    """Proof shortly before the call counts; older proof does not."""
    sleeper = SleeperConfig(
        subentry_id="s1",
        name="Alice",
        phone_number="+1555",
        verification_entities=("binary_sensor.motion",),
    )
    tracker = ProofTracker(hass, sleeper)
    stop = tracker.async_start()
    hass.states.async_set("binary_sensor.motion", "off", {"friendly_name": "Motion"})
    hass.states.async_set("binary_sensor.motion", "on", {"friendly_name": "Motion"})
    await hass.async_block_till_done()
    now = dt_util.utcnow()
    assert tracker.state(now).satisfied
    assert tracker.state(now).what == ("Motion",)
    assert not tracker.state(now + timedelta(minutes=6)).satisfied
    stop()
    hass.states.async_set("binary_sensor.motion", "off")
    hass.states.async_set("binary_sensor.motion", "on")
    await hass.async_block_till_done()
    assert tracker.last_proof is not None
    assert tracker.last_proof <= now + timedelta(seconds=1)


async def test_listeners_hear_every_proof(hass: HomeAssistant) -> None:
    """A live call is told at once when proof arrives, until it stops listening."""
    tracker = ProofTracker(
        hass, SleeperConfig(subentry_id="s1", name="Bo", phone_number="+1555")
    )
    heard: list[int] = []
    remove = tracker.add_listener(lambda: heard.append(1))
    tracker.confirm()
    remove()
    tracker.confirm()
    assert heard == [1]


async def test_no_entities(hass: HomeAssistant) -> None:
    """Without verification entities nothing is watched and nothing is required."""
    tracker = ProofTracker(
        hass, SleeperConfig(subentry_id="s1", name="Bo", phone_number="+1555")
    )
    tracker.async_start()()
    state = tracker.state(dt_util.utcnow())
    assert not state.required
    assert state.allows_ending
