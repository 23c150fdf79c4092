"""The realtime probability slider."""

from __future__ import annotations

from homeassistant.components.number import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from .conftest import SLEEPER_SUBENTRY_ID

pytestmark = pytest.mark.usefixtures("init_integration")

ENTITY_ID = "number.alice_realtime_probability"


@pytest.fixture
def platforms() -> list[Platform]:
    """Only this platform."""
    return [Platform.NUMBER]


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """The slider defaults to the old service's 50 %."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_set_probability(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Setting the slider changes the sleeper's probability; out of range is refused."""
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: ENTITY_ID, ATTR_VALUE: 80},
        blocking=True,
    )
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.state == "80.0"
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    assert sleeper.settings.realtime_probability == 80.0

    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            NUMBER_DOMAIN,
            SERVICE_SET_VALUE,
            {ATTR_ENTITY_ID: ENTITY_ID, ATTR_VALUE: 101},
            blocking=True,
        )
    assert sleeper.settings.realtime_probability == 80.0
