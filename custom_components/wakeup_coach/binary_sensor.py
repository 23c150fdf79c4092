"""Call-in-progress of each sleeper."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import WakeupCoachConfigEntry
from .entity import WakeupCoachEntity
from .platform_setup import add_sleeper_entities

PARALLEL_UPDATES = 0

CALL_IN_PROGRESS = BinarySensorEntityDescription(
    key="call_in_progress",
    translation_key="call_in_progress",
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a call-in-progress sensor per sleeper."""
    add_sleeper_entities(
        entry, async_add_entities, [CALL_IN_PROGRESS], CallInProgressSensor
    )


class CallInProgressSensor(WakeupCoachEntity, BinarySensorEntity):
    """On from dialling until the call has ended."""

    @property
    def is_on(self) -> bool:
        """Whether a call is running."""
        return self.sleeper.call_in_progress
