"""Sleeper configuration and settings: parsing and storage round trips."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from custom_components.wakeup_coach.models import (
    CallResult,
    SleeperConfig,
    SleeperSettings,
)


def test_config_from_minimal_subentry() -> None:
    """Defaults fill what older or minimal subentries lack; weekdays keep week order."""
    config = SleeperConfig.from_subentry(
        "id1",
        {"name": "Bo", "phone_number": "+15550100111", "weekdays": ["sun", "mon"]},
    )
    assert config.weekdays == ("mon", "sun")
    assert config.language == "en-US"
    assert config.verification_entities == ()


def test_settings_round_trip() -> None:
    """What is stored is read back equal."""
    settings = SleeperSettings(
        alarm_time=time(7, 5),
        alarm_enabled=False,
        realtime_allowed=False,
        realtime_probability=12.0,
        last_call_result=CallResult.NO_ANSWER,
    )
    assert SleeperSettings.from_dict(settings.as_dict()) == settings


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"alarm_time": "25:00", "alarm_enabled": "yes", "realtime_probability": 140},
        {
            "alarm_time": None,
            "last_call_result": "exploded",
            "realtime_probability": "x",
        },
    ],
)
def test_settings_from_damaged_storage(stored: dict[str, Any]) -> None:
    """Unreadable values fall back to defaults instead of failing the whole entry."""
    assert SleeperSettings.from_dict(stored) == SleeperSettings()
