"""Base entity: one device per sleeper, refreshed when the sleeper changes."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .sleeper import Sleeper


class WakeupCoachEntity(Entity):
    """An entity of one sleeper."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, sleeper: Sleeper, description: EntityDescription) -> None:
        """Attach the entity to the sleeper's device."""
        self.sleeper = sleeper
        self.entity_description = description
        self._attr_unique_id = f"{sleeper.subentry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, sleeper.subentry_id)},
            name=sleeper.config.name,
            manufacturer="Wake-up Coach",
            model="Sleeper",
            entry_type=DeviceEntryType.SERVICE,
        )

    async def async_added_to_hass(self) -> None:
        """Follow the sleeper's changes."""
        await super().async_added_to_hass()
        self.async_on_remove(self.sleeper.add_listener(self.async_write_ha_state))
