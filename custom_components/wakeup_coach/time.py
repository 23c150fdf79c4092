"""Alarm time of each sleeper."""

from __future__ import annotations

from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import WakeupCoachConfigEntry
from .entity import WakeupCoachEntity
from .platform_setup import add_sleeper_entities

PARALLEL_UPDATES = 0

ALARM_TIME = TimeEntityDescription(key="alarm_time", translation_key="alarm_time")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add an alarm time per sleeper."""
    add_sleeper_entities(entry, async_add_entities, [ALARM_TIME], AlarmTimeEntity)


class AlarmTimeEntity(WakeupCoachEntity, TimeEntity):
    """When the sleeper wants to be called (HA's time zone)."""

    @property
    def native_value(self) -> time:
        """The alarm time."""
        return self.sleeper.settings.alarm_time

    async def async_set_value(self, value: time) -> None:
        """Move the alarm."""
        self.sleeper.update_settings(alarm_time=value.replace(microsecond=0))
