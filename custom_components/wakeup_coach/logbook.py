"""Logbook lines for wake-up events that read well ("Alice's wake-up call: answered")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN, EVENT_CALL

# What each event says, after "<name>'s wake-up call: " or as a sentence of its own.
CALL_STEPS = {
    "dialing": "dialing",
    "answered": "answered",
    "awake": "up and awake",
    "not_awake": "ended, not proven awake",
    "voicemail": "voicemail answered",
    "no_answer": "no answer",
    "busy": "line busy",
    "failed": "could not be placed",
    "canceled": "canceled",
    "fallback": "live voice failed, continued turn-based",
}


def describe(data: dict[str, Any]) -> str:
    """The logbook message of one wake-up event."""
    name = data.get("sleeper", "?")
    kind = data.get("type", "")
    attempt = data.get("attempt")
    if kind in CALL_STEPS:
        suffix = (
            f" (call {attempt})" if isinstance(attempt, int) and attempt > 1 else ""
        )
        return f"{name}'s wake-up call: {CALL_STEPS[kind]}{suffix}"
    if kind == "alarm":
        return f"{name}'s alarm rang"
    if kind == "missed_catch_up":
        return f"{name}'s alarm rang late: Home Assistant was not running at alarm time"
    if kind == "snoozed":
        return f"{name} snoozed for {data.get('minutes')} minutes"
    if kind == "skipped":
        why = (
            "the only-when entity was off"
            if data.get("reason") == "only_when"
            else "skipped"
        )
        return f"{name}'s alarm of {data.get('alarm_date')} is skipped ({why})"
    if kind == "redial_scheduled":
        return f"{name} is not up yet: calling again (call {attempt})"
    if kind == "missed":
        if data.get("reason") == "home_assistant_down":
            return f"{name} missed the alarm: Home Assistant was not running"
        return f"{name} missed the alarm after {attempt} calls"
    return f"{name}: {kind}"


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe wake-up events for the logbook."""

    @callback
    def _describe(event: Event) -> dict[str, str]:
        return {
            LOGBOOK_ENTRY_NAME: "Wake-up Coach",
            LOGBOOK_ENTRY_MESSAGE: describe(dict(event.data)),
        }

    async_describe_event(DOMAIN, EVENT_CALL, _describe)
