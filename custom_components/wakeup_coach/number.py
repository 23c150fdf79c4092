"""Realtime probability of each sleeper."""

from __future__ import annotations

from homeassistant.components.number import (
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import WakeupCoachConfigEntry
from .entity import WakeupCoachEntity
from .platform_setup import add_sleeper_entities

PARALLEL_UPDATES = 0

REALTIME_PROBABILITY = NumberEntityDescription(
    key="realtime_probability",
    translation_key="realtime_probability",
    entity_category=EntityCategory.CONFIG,
    native_min_value=0,
    native_max_value=100,
    native_step=1,
    native_unit_of_measurement=PERCENTAGE,
    mode=NumberMode.SLIDER,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a probability slider per sleeper."""
    add_sleeper_entities(
        entry, async_add_entities, [REALTIME_PROBABILITY], RealtimeProbabilityNumber
    )


class RealtimeProbabilityNumber(WakeupCoachEntity, NumberEntity):
    """Chance that an automatic call uses realtime mode, when realtime is allowed."""

    @property
    def native_value(self) -> float:
        """The probability in percent."""
        return self.sleeper.settings.realtime_probability

    async def async_set_native_value(self, value: float) -> None:
        """Set the probability."""
        self.sleeper.update_settings(realtime_probability=float(value))
