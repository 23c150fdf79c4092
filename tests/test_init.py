"""Setting up, unloading and removing the config entry."""

from __future__ import annotations

from datetime import time
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.wakeup_coach.const import (
    CONF_MAX_CALL_MINUTES,
    CONF_OPENAI_API_KEY,
    CONF_OPENAI_BASE_URL,
    CONF_TWILIO_BASE_URL,
    DOMAIN,
    SERVICE_CALL,
)
from simulator.server import Simulator
from simulator.sleepers import SCRIPTS

from .conftest import CLOSED_PORT_URL, SLEEPER_NUMBER, SLEEPER_SUBENTRY_ID, Live, until


async def test_setup_and_unload_leave_nothing_behind(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Unloading removes every listener the entry added to the bus and to its sleepers.

    The first setup also loads HA's own components (http, the entity platforms), which
    listen for good; a second setup and unload must then leave the bus exactly as it was.
    """
    mock_config_entry.add_to_hass(hass)
    listeners: list[dict[str, int]] = []
    for _ in range(2):
        assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        assert mock_config_entry.state is ConfigEntryState.LOADED
        sleeper = mock_config_entry.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
        assert sleeper._listeners  # the entities follow the sleeper

        assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
        await hass.async_block_till_done()
        assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
        assert sleeper._listeners == []
        assert mock_config_entry.update_listeners == []
        listeners.append(hass.bus.async_listeners())
    assert listeners[0] == listeners[1]


async def test_twilio_auth_failure_starts_reauth(
    hass: HomeAssistant, simulator: Simulator, mock_config_entry: MockConfigEntry
) -> None:
    """A refused Twilio token is an auth failure, which starts reauth."""
    simulator.world.twilio_accounts[0].auth_token = "rotated"
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert mock_config_entry.reason == (
        "Twilio refused the stored credentials. Re-authenticate the integration"
    )
    assert any(
        flow["context"]["source"] == "reauth"
        for flow in hass.config_entries.flow.async_progress()
    )


async def test_openai_auth_failure_starts_reauth(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A refused OpenAI key is an auth failure too."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        data={**mock_config_entry.data, CONF_OPENAI_API_KEY: "sk-revoked-000"},
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert mock_config_entry.reason == (
        "OpenAI refused the stored API key. Re-authenticate the integration"
    )


async def test_twilio_unreachable_retries(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Twilio out of reach: setup is retried later."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        data={**mock_config_entry.data, CONF_TWILIO_BASE_URL: CLOSED_PORT_URL},
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_openai_outage_does_not_block_alarms(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, caplog: object
) -> None:
    """OpenAI out of reach: the entry loads anyway, since calls have spoken fallbacks."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        data={**mock_config_entry.data, CONF_OPENAI_BASE_URL: CLOSED_PORT_URL},
    )
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert "OpenAI is not reachable" in caplog.text  # type: ignore[attr-defined]


async def test_settings_survive_reload_and_removal_deletes_them(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_storage: dict[str, dict[str, object]],
) -> None:
    """A changed alarm time is written to storage and read back after a reload."""
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    sleeper.update_settings(alarm_time=time(5, 45), realtime_probability=20.0)
    # Unloading flushes the pending write at once, before the delay elapses.
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    key = f"{DOMAIN}.{init_integration.entry_id}"
    assert hass_storage[key]["data"][SLEEPER_SUBENTRY_ID]["alarm_time"] == "05:45:00"
    reloaded = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    assert reloaded is not sleeper
    assert reloaded.settings.alarm_time == time(5, 45)
    assert reloaded.settings.realtime_probability == 20.0

    assert await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_settings_saved_after_delay(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_storage: dict[str, dict[str, object]],
) -> None:
    """Without a reload, the change is written about a second later."""
    sleeper = init_integration.runtime_data.sleepers[SLEEPER_SUBENTRY_ID]
    sleeper.update_settings(alarm_enabled=True)
    key = f"{DOMAIN}.{init_integration.entry_id}"
    assert key not in hass_storage
    async_fire_time_changed(hass, dt_util.utcnow() + dt_util.dt.timedelta(seconds=2))
    await hass.async_block_till_done()
    assert hass_storage[key]["data"][SLEEPER_SUBENTRY_ID]["alarm_enabled"] is True


@pytest.mark.parametrize("change", ["options", "openai_key"])
async def test_changes_during_a_call_apply_once_it_has_ended(
    live: Live, change: str
) -> None:
    """New options or a new OpenAI key do not hang up someone being woken: the reload waits."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    live.simulator.world.openai_keys.append("sk-rotated")
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    record = await placed
    calls = live.entry.runtime_data.calls
    if change == "options":
        live.hass.config_entries.async_update_entry(
            live.entry, options={**live.entry.options, CONF_MAX_CALL_MINUTES: 7}
        )
    else:
        live.hass.config_entries.async_update_entry(
            live.entry, data={**live.entry.data, CONF_OPENAI_API_KEY: "sk-rotated"}
        )
    await live.hass.async_block_till_done()
    assert live.entry.runtime_data.calls is calls
    assert calls.busy

    await record.done.wait()
    assert record.ended_by != "rest"
    await until(
        lambda: (
            live.entry.state is ConfigEntryState.LOADED
            and live.entry.runtime_data.calls is not calls
        )
    )
    assert calls.history[0]["result"] == "awake"
    reloaded = live.entry.runtime_data.calls
    if change == "options":
        assert reloaded.options[CONF_MAX_CALL_MINUTES] == 7
    else:
        assert reloaded.openai.api_key == "sk-rotated"


async def test_new_twilio_credentials_during_a_call_reload_at_once(
    live: Live,
) -> None:
    """Twilio signs the call's requests with the new credentials: no waiting for the call."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["silent"]
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    record = await placed
    calls = live.entry.runtime_data.calls
    live.hass.config_entries.async_update_entry(
        live.entry,
        data={
            **live.entry.data,
            CONF_TWILIO_BASE_URL: live.simulator.twilio_base_url + "/",
        },
    )
    await live.hass.async_block_till_done()
    assert live.entry.state is ConfigEntryState.LOADED
    assert live.entry.runtime_data.calls is not calls
    assert not calls.busy
    await record.done.wait()
    assert record.ended_by == "rest"
    assert calls.history[0]["result"] == "canceled"


async def test_deferred_reload_skipped_once_unloaded(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload waiting for the call is dropped when the call ends while the entry unloads."""
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["silent"]
    placed = live.simulator.network.expect_call()
    await live.hass.services.async_call(DOMAIN, SERVICE_CALL, {}, blocking=True)
    record = await placed
    live.hass.config_entries.async_update_entry(
        live.entry, options={**live.entry.options, CONF_MAX_CALL_MINUTES: 7}
    )
    await live.hass.async_block_till_done()
    unload_platforms = live.hass.config_entries.async_unload_platforms

    async def call_ends_while_unloading(*args: Any) -> bool:
        # The call's final status arrives while the platforms unload.
        await live.entry.runtime_data.calls.async_hang_up(live.sleeper)
        await record.done.wait()
        await live.wait_idle()
        return await unload_platforms(*args)

    monkeypatch.setattr(
        live.hass.config_entries, "async_unload_platforms", call_ends_while_unloading
    )
    assert await live.hass.config_entries.async_unload(live.entry.entry_id)
    await live.hass.async_block_till_done()
    assert live.entry.state is ConfigEntryState.NOT_LOADED
