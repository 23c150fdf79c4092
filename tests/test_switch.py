"""The alarm and realtime-allowed switches."""

from __future__ import annotations

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    Platform,
)
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


@pytest.fixture
def platforms() -> list[Platform]:
    """Only this platform."""
    return [Platform.SWITCH]


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Both switches, their registry entries and default states."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.parametrize(
    ("entity_id", "setting"),
    [
        ("switch.alice_alarm", "alarm_enabled"),
        ("switch.alice_realtime_calls_allowed", "realtime_allowed"),
    ],
)
async def test_turn_off_and_on(
    hass: HomeAssistant, init_integration: MockConfigEntry, entity_id: str, setting: str
) -> None:
    """Each switch turns its own setting off and on."""
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    for service, expected in (
        (SERVICE_TURN_OFF, STATE_OFF),
        (SERVICE_TURN_ON, STATE_ON),
    ):
        await hass.services.async_call(
            SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.state == expected
        assert getattr(sleeper.settings, setting) is (expected == STATE_ON)
