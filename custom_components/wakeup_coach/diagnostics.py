"""Diagnostics: configuration and sleeper state, without secrets or phone numbers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import (
    CONF_ACCOUNT_SID,
    CONF_AUTH_TOKEN,
    CONF_FROM_NUMBER,
    CONF_OPENAI_API_KEY,
    CONF_PHONE_NUMBER,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
)
from .data import WakeupCoachConfigEntry

TO_REDACT = {
    CONF_ACCOUNT_SID,
    CONF_AUTH_TOKEN,
    CONF_FROM_NUMBER,
    CONF_OPENAI_API_KEY,
    CONF_PHONE_NUMBER,
    # Whoever knows the webhook's id (its URL) or secret could post to it.
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: WakeupCoachConfigEntry
) -> dict[str, Any]:
    """Return what support needs to see; call transcripts are left out, only counted."""
    calls = entry.runtime_data.calls
    return {
        "data": async_redact_data(dict(entry.data), TO_REDACT),
        "options": async_redact_data(dict(entry.options), TO_REDACT),
        "sleepers": [
            {
                "config": async_redact_data(asdict(sleeper.config), TO_REDACT),
                "settings": sleeper.settings.as_dict(),
                "call_in_progress": sleeper.call_in_progress,
                "next_alarm": sleeper.next_alarm(),
            }
            for sleeper in entry.runtime_data.sleepers.values()
        ],
        "active_calls": len(calls.calls_of()),
        "call_history": [
            {**record, "transcript": f"{len(record['transcript'])} lines (redacted)"}
            for record in calls.history
        ],
    }
