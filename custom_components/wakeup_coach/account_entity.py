"""Entities of the account itself (not of a sleeper): its connectivity to Twilio."""

from __future__ import annotations

from homeassistant.const import EntityCategory
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .data import WakeupCoachConfigEntry


class AccountEntity(Entity):
    """A diagnostic entity on the account's device, following the self-test."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(
        self, entry: WakeupCoachConfigEntry, description: EntityDescription
    ) -> None:
        """Attach the entity to the account's device."""
        self.entry = entry
        self.selftest = entry.runtime_data.selftest
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="Wake-up Coach",
            model="Account",
            entry_type=DeviceEntryType.SERVICE,
        )

    async def async_added_to_hass(self) -> None:
        """Follow the self-test's results."""
        await super().async_added_to_hass()
        self.async_on_remove(self.selftest.add_listener(self.async_write_ha_state))
