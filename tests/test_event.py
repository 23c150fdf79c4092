"""The wake-up event entity."""

from __future__ import annotations

from homeassistant.const import Platform
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

ENTITY_ID = "event.alice_wake_up"


@pytest.fixture
def platforms() -> list[Platform]:
    """Only this platform."""
    return [Platform.EVENT]


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """One event entity per sleeper, with every wake-up event type."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_fires(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """A sleeper's event becomes the entity's event, with the call id and mode only."""
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    sleeper.emit(
        "answered", {"call_id": "abc", "mode": "traditional", "sleeper": "Alice"}
    )
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.attributes["event_type"] == "answered"
    assert state.attributes["call_id"] == "abc"
    assert "sleeper" not in state.attributes
