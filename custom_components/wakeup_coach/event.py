"""Wake-up events of each sleeper: dialing, answered, awake, not awake, voicemail, ..."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import EVENT_TYPES
from .data import WakeupCoachConfigEntry
from .entity import WakeupCoachEntity
from .platform_setup import add_sleeper_entities

PARALLEL_UPDATES = 0

WAKE_UP = EventEntityDescription(
    key="wake_up", translation_key="wake_up", event_types=list(EVENT_TYPES)
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a wake-up event entity per sleeper."""
    add_sleeper_entities(entry, async_add_entities, [WAKE_UP], WakeUpEvent)


class WakeUpEvent(WakeupCoachEntity, EventEntity):
    """Fires on every step of the sleeper's wake-up calls; automations trigger on it."""

    async def async_added_to_hass(self) -> None:
        """Follow the sleeper's call events."""
        await super().async_added_to_hass()
        self.async_on_remove(self.sleeper.add_event_listener(self._on_event))

    @callback
    def _on_event(self, event_type: str, data: dict[str, Any]) -> None:
        # The bus event names the sleeper and the device; the entity is both already.
        self._trigger_event(
            event_type,
            {
                k: v
                for k, v in data.items()
                if k not in ("type", "sleeper", "device_id")
            },
        )
        self.async_write_ha_state()
