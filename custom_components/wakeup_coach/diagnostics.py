"""Diagnostics: configuration, connectivity and calls, without secrets or phone numbers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

from .const import (
    CONF_ACCOUNT_SID,
    CONF_AUTH_TOKEN,
    CONF_FROM_NUMBER,
    CONF_OPENAI_API_KEY,
    CONF_PHONE_NUMBER,
    CONF_SIP_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    DOMAIN,
)
from .data import WakeupCoachConfigEntry
from .public_url import PublicUrlProblem, async_public_url

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
    """Return what support needs to see; call transcripts are left out, only counted.

    The public URL shows as its scheme, host and port only; call ids (the secret
    part of a call's URLs) as their first characters, as in the log.
    """
    calls = entry.runtime_data.calls
    selftest = entry.runtime_data.selftest
    integration = await async_get_integration(hass, DOMAIN)
    public_url = async_public_url(hass, require_https=selftest.require_https)
    if not isinstance(public_url, PublicUrlProblem):
        parts = urlsplit(public_url)
        public_url = f"{parts.scheme}://{parts.netloc}"
    return {
        "versions": {
            "integration": str(integration.version),
            "home_assistant": ha_version,
        },
        "public_url": public_url,
        "connectivity": {
            "self_test_history": [result.as_dict() for result in selftest.history],
            "last_stream": (
                selftest.last_stream.as_dict() if selftest.last_stream else None
            ),
        },
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
            {
                **record,
                "call_id": f"{record['call_id'][:6]}…",
                "transcript": f"{len(record['transcript'])} lines (redacted)",
            }
            for record in calls.history
        ],
    }
