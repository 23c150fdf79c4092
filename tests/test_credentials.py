"""Credentials refused, at setup or during a call: a repair issue and reauthentication."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wakeup_coach.const import DOMAIN, SERVICE_CALL
from simulator.accounts import DEFAULT_AUTH_TOKEN
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

from .conftest import ENTRY_ID, SLEEPER_NUMBER, Live


def issue(hass: HomeAssistant, service: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"credentials_refused_{service}_{ENTRY_ID}"
    )


def reauthenticating(hass: HomeAssistant) -> bool:
    return any(
        flow["context"]["source"] == SOURCE_REAUTH
        for flow in hass.config_entries.flow.async_progress()
    )


async def test_refused_at_setup_and_cleared_by_the_next_good_setup(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """Twilio refuses the token: the issue names Twilio; once it accepts, the issue goes."""
    simulator.world.twilio_accounts[0].auth_token = "rotated"
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    found = issue(hass, "twilio")
    assert found is not None
    assert found.translation_key == "credentials_refused"
    assert found.translation_placeholders == {"service": "Twilio"}
    assert reauthenticating(hass)

    simulator.world.twilio_accounts[0].auth_token = DEFAULT_AUTH_TOKEN
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert issue(hass, "twilio") is None


async def test_openai_key_revoked_during_a_call(live: Live) -> None:
    """The coach's replies are refused: the call goes on with fixed lines, and reauth starts."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    live.simulator.world.openai_keys.clear()
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    await (await placed).done.wait()
    await live.wait_idle()
    assert live.sleeper.settings.last_call_result == "awake"  # woken all the same
    found = issue(live.hass, "openai")
    assert found is not None
    assert found.translation_placeholders == {"service": "OpenAI"}
    assert reauthenticating(live.hass)
    assert issue(live.hass, "twilio") is None


async def test_twilio_token_rotated_before_a_call(live: Live) -> None:
    """Twilio refuses to place the call: the action fails and the issue names Twilio."""
    live.simulator.world.twilio_accounts[0].auth_token = "rotated"
    with pytest.raises(HomeAssistantError, match="Twilio refused"):
        await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    assert issue(live.hass, "twilio") is not None
