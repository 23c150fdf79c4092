"""Stored sleeper settings: safe defaults, and the upgrade from version 1."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wakeup_coach.const import DOMAIN
from custom_components.wakeup_coach.models import SleeperSettings

from .conftest import ENTRY_ID, SLEEPER_SUBENTRY_ID

KEY = f"{DOMAIN}.{ENTRY_ID}"


def test_new_sleepers_ring_nobody_and_spend_nothing() -> None:
    """A new sleeper's alarm is off and realtime calls are not allowed until the user says so."""
    settings = SleeperSettings()
    assert (settings.alarm_enabled, settings.realtime_allowed) == (False, False)
    assert settings.realtime_probability == 50.0


async def _load(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    *,
    version: int,
    stored: dict[str, Any],
) -> SleeperSettings:
    hass_storage[KEY] = {
        "version": version,
        "minor_version": 1,
        "key": KEY,
        "data": {SLEEPER_SUBENTRY_ID: stored},
    }
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    settings: SleeperSettings = entry.runtime_data.sleepers[
        SLEEPER_SUBENTRY_ID
    ].settings
    return settings


@pytest.mark.parametrize(
    "stored",
    [
        # Version 1's defaults, never changed: both become off.
        {"alarm_enabled": True, "realtime_allowed": True},
        # Turned off by the user: stays off.
        {"alarm_enabled": False, "realtime_allowed": False},
    ],
)
async def test_version_1_defaults_are_migrated(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    stored: dict[str, Any],
) -> None:
    """Controls that did nothing in version 1 do not start ringing or spending on upgrade."""
    settings = await _load(
        hass,
        mock_config_entry,
        hass_storage,
        version=1,
        stored={
            "alarm_time": "07:15:00",
            "realtime_probability": 80.0,
            "last_call_result": "awake",
            **stored,
        },
    )
    assert (settings.alarm_enabled, settings.realtime_allowed) == (False, False)
    # What the user did set is kept.
    assert str(settings.alarm_time) == "07:15:00"
    assert settings.realtime_probability == 80.0
    assert settings.last_call_result == "awake"


async def test_version_2_choices_are_kept(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Once stored by this version, "on" is the user's choice and stays on."""
    settings = await _load(
        hass,
        mock_config_entry,
        hass_storage,
        version=2,
        stored={"alarm_enabled": True, "realtime_allowed": True},
    )
    assert (settings.alarm_enabled, settings.realtime_allowed) == (True, True)
