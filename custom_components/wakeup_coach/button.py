"""Call-now button of each sleeper."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .calls import async_start_call
from .data import WakeupCoachConfigEntry
from .entity import WakeupCoachEntity
from .models import CallMode
from .platform_setup import add_sleeper_entities

PARALLEL_UPDATES = 1

CALL_NOW = ButtonEntityDescription(key="call_now", translation_key="call_now")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a call-now button per sleeper."""
    add_sleeper_entities(entry, async_add_entities, [CALL_NOW], CallNowButton)


class CallNowButton(WakeupCoachEntity, ButtonEntity):
    """Place a wake-up call right away, mode chosen as for an alarm."""

    async def async_press(self) -> None:
        """Dial."""
        await async_start_call(self.hass, self.sleeper, CallMode.AUTO)
