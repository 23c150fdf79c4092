"""Diagnostics: useful, and free of secrets and phone numbers."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from simulator.accounts import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM_NUMBER,
    DEFAULT_OPENAI_KEY,
)

from .conftest import SLEEPER_NUMBER


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
