"""Alarm on/off and realtime-mode permission of each sleeper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import WakeupCoachConfigEntry
from .entity import WakeupCoachEntity
from .platform_setup import add_sleeper_entities

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class WakeupCoachSwitchDescription(SwitchEntityDescription):
    """A switch bound to one boolean sleeper setting of the same name as its key."""


SWITCHES = (
    WakeupCoachSwitchDescription(key="alarm_enabled", translation_key="alarm_enabled"),
    WakeupCoachSwitchDescription(
        key="realtime_allowed",
        translation_key="realtime_allowed",
        entity_category=EntityCategory.CONFIG,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WakeupCoachConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches of every sleeper."""
    add_sleeper_entities(entry, async_add_entities, SWITCHES, SettingSwitch)


class SettingSwitch(WakeupCoachEntity, SwitchEntity):
    """A persisted on/off setting."""

    entity_description: WakeupCoachSwitchDescription

    @property
    def is_on(self) -> bool:
        """The setting's value."""
        return bool(getattr(self.sleeper.settings, self.entity_description.key))

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn the setting on."""
        self.sleeper.update_settings(**{self.entity_description.key: True})

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the setting off."""
        self.sleeper.update_settings(**{self.entity_description.key: False})
