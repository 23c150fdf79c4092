"""Diagnostics: useful, and free of secrets and phone numbers."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.wakeup_coach.const import DOMAIN
from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_KEY,
)
from simulator.sleepers import SCRIPTS

from .conftest import SLEEPER_NUMBER, Live


@pytest.fixture
async def diagnostics_component(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Loaded before the live HTTP server starts: routes cannot be added afterwards."""
    assert await async_setup_component(hass, "diagnostics", {})


async def test_diagnostics_after_a_call(
    diagnostics_component: None,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    live: Live,
) -> None:
    """A finished call is listed with its timings, its transcript only counted."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    placed = live.simulator.network.expect_call()
    await hass.services.async_call(DOMAIN, "call", {}, blocking=True)
    await (await placed).done.wait()
    await live.wait_idle()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, live.entry)
    history = diagnostics["call_history"]
    assert history[0]["result"] == "awake"
    assert history[0]["transcript"] == "7 lines (redacted)"
    assert "out of bed" not in str(diagnostics)
    assert SLEEPER_NUMBER not in str(diagnostics)


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """The snapshot shows the shape; no secret or number appears anywhere in it."""
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    assert diagnostics == snapshot(
        exclude=lambda prop, path: prop in ("openai_base_url", "twilio_base_url")
    )
    text = str(diagnostics)
    for secret in (
        DEFAULT_ACCOUNT_SID,
        DEFAULT_AUTH_TOKEN,
        DEFAULT_FROM_NUMBER,
        DEFAULT_OPENAI_KEY,
        SLEEPER_NUMBER,
    ):
        assert secret not in text
