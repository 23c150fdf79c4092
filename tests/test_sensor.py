"""Next alarm and last call result sensors."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.wakeup_coach.models import CallResult

from .conftest import SLEEPER_SUBENTRY_ID

pytestmark = pytest.mark.usefixtures("init_integration")


@pytest.fixture(autouse=True)
def frozen_time(freezer: FrozenDateTimeFactory) -> None:
    """One fixed instant: the self-test's time is among its sensor's attributes."""
    freezer.move_to("2026-11-02T05:30:00+00:00")


@pytest.fixture
def platforms() -> list[Platform]:
    """Only this platform."""
    return [Platform.SENSOR]


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Both sensors start unknown: no call yet, and no scheduler to promise a time."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)
    state = hass.states.get("sensor.alice_next_alarm")
    assert state is not None
    assert state.state == STATE_UNKNOWN


async def test_last_call_result_follows_sleeper(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A recorded result shows at once."""
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    sleeper.record_result(CallResult.VOICEMAIL)
    state = hass.states.get("sensor.alice_last_call_result")
    assert state is not None
    assert state.state == "voicemail"
