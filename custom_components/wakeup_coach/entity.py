"""Base entity: one device per sleeper, refreshed when the sleeper changes."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import area_registry as ar, device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .sleeper import Sleeper


def sleeper_device_info(sleeper: Sleeper) -> DeviceInfo:
    """The sleeper's device: a person's, so HA counts it as a device, not a service."""
    return DeviceInfo(
        identifiers={(DOMAIN, sleeper.subentry_id)},
        name=sleeper.config.name,
        manufacturer="Wake-up Coach",
        model="Sleeper",
        # Devices made before 0.1 were "services"; None turns those into devices too.
        entry_type=None,
    )


@callback
def async_sleeper_device(
    hass: HomeAssistant, entry_id: str, subentry_id: str
) -> dr.DeviceEntry | None:
    """The sleeper's device, if it exists (a lookup that works on every HA version)."""
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(
                dr.async_get(hass), entry_id
            )
            if (DOMAIN, subentry_id) in device.identifiers
        ),
        None,
    )


@callback
def async_create_sleeper_device(
    hass: HomeAssistant, entry_id: str, sleeper: Sleeper, area_id: str | None
) -> None:
    """Create a new sleeper's device in the area the sleeper form chose.

    Only a device that does not exist yet is placed: afterwards the device page (or
    the sleeper form's reconfigure step) decides where it is. An area deleted in the
    meantime is ignored.
    """
    if area_id is None or async_sleeper_device(hass, entry_id, sleeper.subentry_id):
        return
    if ar.async_get(hass).async_get_area(area_id) is None:
        return
    devices = dr.async_get(hass)
    device = devices.async_get_or_create(
        config_entry_id=entry_id,
        config_subentry_id=sleeper.subentry_id,
        **sleeper_device_info(sleeper),
    )
    devices.async_update_device(device.id, area_id=area_id)


class WakeupCoachEntity(Entity):
    """An entity of one sleeper."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, sleeper: Sleeper, description: EntityDescription) -> None:
        """Attach the entity to the sleeper's device."""
        self.sleeper = sleeper
        self.entity_description = description
        self._attr_unique_id = f"{sleeper.subentry_id}_{description.key}"
        self._attr_device_info = sleeper_device_info(sleeper)

    async def async_added_to_hass(self) -> None:
        """Follow the sleeper's changes."""
        await super().async_added_to_hass()
        self.async_on_remove(self.sleeper.add_listener(self.async_write_ha_state))
