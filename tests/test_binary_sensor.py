"""The call-in-progress sensor."""

from __future__ import annotations

from homeassistant.const import STATE_OFF, STATE_ON, Platform
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

ENTITY_ID = "binary_sensor.alice_call_in_progress"


@pytest.fixture
def platforms() -> list[Platform]:
    """Only this platform."""
    return [Platform.BINARY_SENSOR]


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Off while no call runs."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_follows_call(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """On while the sleeper's call runs."""
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    sleeper.set_call_in_progress(in_progress=True)
    assert (state := hass.states.get(ENTITY_ID)) is not None
    assert state.state == STATE_ON
    sleeper.set_call_in_progress(in_progress=False)
    assert (state := hass.states.get(ENTITY_ID)) is not None
    assert state.state == STATE_OFF
