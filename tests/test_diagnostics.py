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


async def test_diagnostics_of_a_live_call(
    diagnostics_component: None,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    live: Live,
) -> None:
    """Connectivity and the last call, for support: versions, host, self-tests, timings.

    No token or call id of a URL appears (only their first characters).
    """
    live.simulator.network.scripts[SLEEPER_NUMBER] = SCRIPTS["wakes_quickly"]
    live.simulator.allow_insecure_streams = False  # the stream fails: a fallback
    placed = live.simulator.network.expect_call()
    await hass.services.async_call(DOMAIN, "call", {"mode": "realtime"}, blocking=True)
    record = await placed
    await record.done.wait()
    await live.wait_idle()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, live.entry)
    assert diagnostics["versions"]["integration"] == "0.1.0"
    assert diagnostics["versions"]["home_assistant"]
    assert diagnostics["public_url"] == live.base_url
    connectivity = diagnostics["connectivity"]
    # On setup (no external URL yet), then before the live call.
    assert [run["result"] for run in connectivity["self_test_history"]] == [
        "passed",
        "failed",
    ]
    assert connectivity["last_stream"]["connected"] is False
    assert connectivity["last_stream"]["reason"] == "stream_failed"
    call = diagnostics["call_history"][0]
    assert (call["mode"], call["result"], call["fallback_reason"]) == (
        "realtime",
        "awake",
        "stream_failed",
    )
    assert "twiml_served" in call["timings"]
    assert call["answered_at"] is not None
    text = str(diagnostics)
    session_id = live.entry.runtime_data.calls.history[0]["call_id"]
    assert session_id not in text
    assert call["call_id"] == f"{session_id[:6]}…"
    assert record.url is not None
    assert record.url.rsplit("/", 1)[1] not in text  # the voice URL's token


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
        exclude=lambda prop, path: (
            prop in ("openai_base_url", "twilio_base_url", "tested_at")
        )
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
