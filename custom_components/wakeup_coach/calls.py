"""Placing and controlling wake-up calls (the call engine lands with traditional mode)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN
from .models import CallMode
from .sleeper import Sleeper


async def async_start_call(
    hass: HomeAssistant, sleeper: Sleeper, mode: CallMode
) -> None:
    """Dial the sleeper."""
    raise HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="not_available_yet",
        translation_placeholders={"feature": "call"},
    )
