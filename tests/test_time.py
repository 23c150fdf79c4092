"""The alarm time entity."""

from __future__ import annotations

from datetime import time

from homeassistant.components.time import (
    ATTR_TIME,
    DOMAIN as TIME_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from .conftest import SLEEPER_SUBENTRY_ID

pytestmark = pytest.mark.usefixtures("init_integration")

ENTITY_ID = "time.alice_alarm_time"


@pytest.fixture
def platforms() -> list[Platform]:
    """Only this platform."""
    return [Platform.TIME]


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """The alarm time entity, its registry entry and its default state."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_set_alarm_time(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """time.set_value moves the alarm; the sleeper's settings follow."""
    await hass.services.async_call(
        TIME_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: ENTITY_ID, ATTR_TIME: "05:15:30"},
        blocking=True,
    )
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.state == "05:15:30"
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    assert sleeper.settings.alarm_time == time(5, 15, 30)
