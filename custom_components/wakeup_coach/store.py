"""Persist each sleeper's settings in Home Assistant's storage.

A Store (not entity restore state) so that settings survive a crash within a
second of a change, and still apply when the user disables an entity.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER
from .models import SleeperSettings

# 2: the alarm and realtime mode are off until the user turns them on.
STORAGE_VERSION = 2
SAVE_DELAY = 1.0
# What version 1 gave every sleeper. Those controls did nothing then, so a stored
# value equal to its old default was never a choice, and must not become one now
# that the alarm rings by itself and realtime calls cost more.
_V1_DEFAULTS: dict[str, Any] = {
    "alarm_enabled": True,
    "realtime_allowed": True,
}

type StoredSettings = dict[str, dict[str, Any]]


def migrate_v1(data: StoredSettings) -> StoredSettings:
    """Version 1 settings with untouched defaults switched to the safe defaults."""
    safe = SleeperSettings()
    migrated: StoredSettings = {}
    for subentry_id, settings in data.items():
        stored = dict(settings)
        for key, old_default in _V1_DEFAULTS.items():
            if stored.get(key) is old_default:
                stored[key] = getattr(safe, key)
                LOGGER.info(
                    "Sleeper %s: %s is off until you turn it on (it used to default to on)",
                    subentry_id[-6:],
                    key,
                )
        migrated[subentry_id] = stored
    return migrated


class _VersionedStore(Store[StoredSettings]):
    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: Any
    ) -> StoredSettings:
        data: StoredSettings = old_data if isinstance(old_data, dict) else {}
        if old_major_version < 2:  # noqa: PLR2004 - the version that changed the defaults
            data = migrate_v1(data)
        return data


class SettingsStore:
    """Settings of every sleeper of one config entry, keyed by subentry id."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Prepare the store file for one config entry."""
        self._store = _VersionedStore(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")
        self._settings: dict[str, SleeperSettings] = {}
        self._dirty = False

    async def async_load(self, subentry_ids: set[str]) -> dict[str, SleeperSettings]:
        """Load settings; sleepers removed since the last save are dropped."""
        stored = await self._store.async_load() or {}
        self._settings = {
            subentry_id: SleeperSettings.from_dict(stored.get(subentry_id) or {})
            for subentry_id in subentry_ids
        }
        return dict(self._settings)

    def async_schedule_save(self, subentry_id: str, settings: SleeperSettings) -> None:
        """Save soon; changes within the delay are written together."""
        self._settings[subentry_id] = settings
        self._dirty = True
        self._store.async_delay_save(self._data, SAVE_DELAY)

    async def async_flush(self) -> None:
        """Write pending changes now, before the entry unloads and a new store loads them."""
        if self._dirty:
            await self._store.async_save(self._data())

    def _data(self) -> StoredSettings:
        self._dirty = False
        return {key: value.as_dict() for key, value in self._settings.items()}

    async def async_remove(self) -> None:
        """Delete the file when the config entry is removed."""
        await self._store.async_remove()


class AlarmStore:
    """The alarm clocks' state of one config entry (skips, pending calls, ladders).

    Written at once on every change: a restart must never ring an alarm twice.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Prepare the store file for one config entry."""
        self._store: Store[StoredSettings] = Store(
            hass, 1, f"{DOMAIN}.{entry_id}.alarms"
        )
        self._states: dict[str, Any] = {}

    async def async_load(self) -> StoredSettings:
        """What was stored, per sleeper subentry id."""
        return await self._store.async_load() or {}

    def async_save(self, states: dict[str, Any]) -> None:
        """Save the states soon (within the same second)."""
        self._states = states
        self._store.async_delay_save(self._data, 0)

    def _data(self) -> StoredSettings:
        return {key: state.as_dict() for key, state in self._states.items()}

    async def async_flush(self) -> None:
        """Write now (unloading)."""
        if self._states:
            await self._store.async_save(self._data())

    async def async_remove(self) -> None:
        """Delete the file when the config entry is removed."""
        await self._store.async_remove()
