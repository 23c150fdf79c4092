"""Logbook lines of wake-up events read as sentences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import Event, HomeAssistant
import pytest

from custom_components.wakeup_coach.const import DOMAIN, EVENT_CALL, EVENT_TYPES
from custom_components.wakeup_coach.logbook import async_describe_events, describe


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"type": "answered", "attempt": 1}, "Alice's wake-up call: answered"),
        (
            {"type": "awake", "attempt": 2},
            "Alice's wake-up call: up and awake (call 2)",
        ),
        ({"type": "alarm", "attempt": 1}, "Alice's alarm rang"),
        (
            {"type": "missed", "attempt": 3, "reason": "no_answer"},
            "Alice missed the alarm after 3 calls",
        ),
        (
            {"type": "missed", "attempt": 0, "reason": "home_assistant_down"},
            "Alice missed the alarm: Home Assistant was not running",
        ),
        ({"type": "snoozed", "minutes": 9}, "Alice snoozed for 9 minutes"),
        (
            {"type": "skipped", "alarm_date": "2026-12-02", "reason": "only_when"},
            "Alice's alarm of 2026-12-02 is skipped (the only-when entity was off)",
        ),
        (
            {"type": "redial_scheduled", "attempt": 2},
            "Alice is not up yet: calling again (call 2)",
        ),
        (
            {"type": "missed_catch_up", "attempt": 1},
            "Alice's alarm rang late: Home Assistant was not running at alarm time",
        ),
    ],
)
def test_lines(data: dict[str, Any], line: str) -> None:
    """Each kind of event has its own sentence."""
    assert describe({"sleeper": "Alice", **data}) == line


def test_every_event_type_has_a_sentence() -> None:
    """No event type falls through to the generic line."""
    for event_type in EVENT_TYPES:
        assert not describe({"sleeper": "Alice", "type": event_type}).startswith(
            "Alice: "
        )


async def test_registered_for_the_bus_event(hass: HomeAssistant) -> None:
    """The logbook platform describes wakeup_coach_event under the integration's name."""
    described: list[tuple[str, str, Callable[[Event], dict[str, str]]]] = []
    async_describe_events(hass, lambda *args: described.append(args))
    assert [(domain, event) for domain, event, _ in described] == [(DOMAIN, EVENT_CALL)]
    entry = described[0][2](Event(EVENT_CALL, {"type": "busy", "sleeper": "Bo"}))
    assert entry == {"name": "Wake-up Coach", "message": "Bo's wake-up call: line busy"}
