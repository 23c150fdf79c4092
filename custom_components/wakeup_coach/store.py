"""Persist each sleeper's settings in Home Assistant's storage.

A Store (not entity restore state) so that settings survive a crash within a
second of a change, and still apply when the user disables an entity.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .models import SleeperSettings

STORAGE_VERSION = 1
SAVE_DELAY = 1.0


class SettingsStore:
    """Settings of every sleeper of one config entry, keyed by subentry id."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Prepare the store file for one config entry."""
        self._store: Store[dict[str, dict[str, Any]]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}"
        )
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

    def _data(self) -> dict[str, dict[str, Any]]:
        self._dirty = False
        return {key: value.as_dict() for key, value in self._settings.items()}

    async def async_remove(self) -> None:
        """Delete the file when the config entry is removed."""
        await self._store.async_remove()
